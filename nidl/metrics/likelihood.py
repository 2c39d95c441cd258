"""Likelihood of data under a fitted variational autoencoder."""

import math
import numbers

import torch
from sklearn.utils import check_scalar
from sklearn.utils.validation import check_is_fitted

from ..utils import check_input, returns_numpy

#: Decoded samples per chunk of importance samples, to bound memory.
_CHUNK = 4096


def elbo(estimator, X):
    """Mean evidence lower bound (ELBO) per sample of a fitted VAE.

    The ELBO ``E_q[log p(x|z)] - KL(q(z|x) || p(z))`` is a lower bound of
    ``log p(x)``, estimated with one posterior sample per data sample; the
    likelihood includes its constants, so that values of models with
    different likelihoods compare. This is the estimator's own ``score``.

    Parameters
    ----------
    estimator : nidl.estimators.autoencoders.VAE
        A fitted VAE.
    X : DataLoader, Dataset, torch.Tensor or array-like
        Data shaped like the training data.

    Returns
    -------
    elbo : float
        Mean ELBO per sample, in nats; higher is better.

    See Also
    --------
    log_likelihood : A tighter bound from importance sampling.

    Examples
    --------
    With its constants, the ELBO tells which likelihood suits the data: on
    Laplace-distributed data, a VAE with a Laplace likelihood scores higher
    than the same VAE with a Normal one.

    >>> import numpy as np
    >>> from torch import nn
    >>> from nidl.estimators.autoencoders import VAE
    >>> from nidl.metrics import elbo
    >>> X = np.random.default_rng(0).laplace(size=(64, 4)).astype("float32")
    >>> def fitted(dist):
    ...     return VAE(nn.Linear(4, 8), nn.Linear(2, 4), encoder_out_dim=8,
    ...                latent_dim=2, default_dist=dist, random_state=0,
    ...                max_epochs=1, enable_progress_bar=False).fit(X)
    >>> bool(elbo(fitted("laplace"), X) > elbo(fitted("normal"), X))
    True
    """
    return estimator.score(X)


def log_likelihood(estimator, X, n_samples=100, per_sample=False):
    r"""Importance-weighted estimate of the mean log-likelihood ``log p(x)``.

    The importance-weighted bound of Burda et al. [1]_ draws ``K =
    n_samples`` latent vectors from the posterior ``q(z|x)`` and averages
    their importance weights:

    .. math::

        \log p(x) \geq \mathcal{L}_K(x) = \mathbb{E}\left[\log \frac{1}{K}
            \sum_{k=1}^K \frac{p(x|z_k)\, p(z_k)}{q(z_k|x)}\right].

    ``K = 1`` is the ELBO; the bound tightens as ``K`` grows and reaches
    ``log p(x)`` in the limit. The likelihood ``p(x|z)`` is the one the VAE
    is trained with, constants included: a Normal of variance 1/2 for
    ``"normal"``, a Laplace of scale 1 for ``"laplace"``, a Bernoulli for
    ``"bernoulli"``. As in the loss, the scale of a Normal or Laplace that
    the decoder returns is used only if the loss has
    ``exact_likelihood=True``. Posterior draws are seeded with the
    estimator's ``random_state``.

    Parameters
    ----------
    estimator : estimator of the VAE family
        A fitted ``VAE``, ``CapacityBetaVAE``, ``BetaTCVAE`` or ``JointVAE``
        (whose categories are drawn exactly, with a uniform prior).
    X : DataLoader, Dataset, torch.Tensor or array-like
        Data shaped like the training data.
    n_samples : int, default=100
        Number of importance samples ``K`` per data sample.
    per_sample : bool, default=False
        Return the bound of each sample rather than their mean.

    Returns
    -------
    log_likelihood : float, or numpy.ndarray or torch.Tensor of shape (n_samples_X,)
        Mean over the data of the bound, in nats; higher is better. With
        ``per_sample=True``, the bound of each sample: a NumPy array for
        array-like input, a CPU tensor otherwise.

    See Also
    --------
    elbo : The evidence lower bound, ``n_samples=1``.

    References
    ----------
    .. [1] Y. Burda, R. Grosse and R. Salakhutdinov, "Importance Weighted
       Autoencoders", ICLR 2016, arXiv:1509.00519 (2015).

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> from nidl.estimators.autoencoders import VAE
    >>> from nidl.metrics import elbo, log_likelihood
    >>> X = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    >>> vae = VAE(nn.Linear(4, 8), nn.Linear(2, 4), encoder_out_dim=8,
    ...           latent_dim=2, random_state=0, max_epochs=1,
    ...           enable_progress_bar=False).fit(X)
    >>> bool(log_likelihood(vae, X, n_samples=50) > elbo(vae, X))
    True
    >>> log_likelihood(vae, X, n_samples=10, per_sample=True).shape
    (64,)
    """
    check_is_fitted(estimator)
    check_scalar(n_samples, "n_samples", numbers.Integral, min_val=1)
    data = check_input(estimator, X, reset=False)

    def bound(batch, batch_idx):
        x = estimator._batch_input(batch)
        q = estimator.encode(x)
        n_data = x.shape[0]
        chunk = max(1, _CHUNK // n_data)
        log_weights = []
        for start in range(0, n_samples, chunk):
            k = min(chunk, n_samples - start)
            codes, log_ratio = estimator._importance_codes(q, k)
            p = estimator.decoder(codes.reshape(k * n_data, -1))
            repeated = (
                x.unsqueeze(0).expand(k, *x.shape).reshape(k * n_data, *x.shape[1:])
            )
            log_px = -estimator._negative_log_likelihood(p, repeated).view(k, n_data)
            log_weights.append(log_px + log_ratio)
        log_weights = torch.cat(log_weights)
        return torch.logsumexp(log_weights, dim=0) - math.log(n_samples)

    bounds = estimator._predict(data, bound)
    if per_sample:
        return bounds.numpy() if returns_numpy(X) else bounds
    return float(bounds.double().mean())
