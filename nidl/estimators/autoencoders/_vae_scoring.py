"""Scores of the VAE family: the evidence lower bound of each sample."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..._docstrings import fill_doc
from ...losses._likelihood import negative_log_likelihood
from ...utils import check_input, returns_numpy


class VAEScoringMixin:
    """``score_samples`` and ``score`` of the VAE family.

    Built on the hooks of :class:`VAEBase`: ``encode``, ``_decode``,
    ``_likelihood`` (the decoder's output with its learned scale) and
    ``_kl_per_sample``.
    """

    def _elbo_terms(self, x, context):
        """Negative log-likelihood and KL divergence of each sample of a batch.

        One posterior draw per sample; the likelihood is exact, constants
        included, so that scores of models with different likelihoods
        compare (the decoder's scale is used where the loss uses it).
        """
        q = self._encode(x, context)
        nll = self._negative_log_likelihood(self._decode(q.rsample(), context), x)
        return nll, self._kl_per_sample(q)

    def _negative_log_likelihood(self, output, x):
        """Per-sample ``-log p(x|z)`` of the likelihood trained, constants included.

        ``output`` is what the decoder returned; a learned scale is applied
        here.
        """
        return negative_log_likelihood(
            self._likelihood(output), x, self.default_dist,
            use_scale=self.criterion.exact_likelihood,
        )

    @fill_doc
    def score_samples(self, X, return_terms=False):
        """Evidence lower bound (ELBO) of each sample; higher is better.

        For each sample, one posterior draw ``z ~ q(z|x)`` (seeded with
        ``random_state``) estimates ``log p(x|z) - KL(q(z|x) || p(z))``,
        with a KL weight of 1 whatever the training weights. The
        log-likelihood includes its constants (a Normal of variance 1/2
        for the squared error, a Laplace of scale 1 for the absolute
        error, a Bernoulli for the cross-entropy), so that models with
        different likelihoods compare. Per-sample values are what
        deviation scores and model comparison are built from. Each is a
        one-draw estimate: the draws are seeded, but which draw a sample
        gets depends on its place in the data (its batch and position), so
        a sample's value changes with the batching while its expectation,
        and the mean over many samples, do not.

        Parameters
        ----------
        %(X)s
        return_terms : bool, default=False
            Also return the two terms of each sample.

        Returns
        -------
        elbo : numpy.ndarray or torch.Tensor, shape (n_samples,)
            In nats; a NumPy array for array-like input, a CPU tensor otherwise.
        terms : dict
            Only with ``return_terms=True``: ``"rec_loss"``, the negative
            log-likelihood of each sample, and ``"kl_loss"``, its KL divergence
            (``elbo = -(rec_loss + kl_loss)``).

        Examples
        --------
        A sample far from the training data gets the lowest ELBO; tensors
        in, tensors out:

        >>> import torch
        >>> from nidl.estimators.autoencoders import VAE
        >>> X = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
        >>> vae = VAE(torch.nn.Linear(4, 8), torch.nn.Linear(2, 4), encoder_out_dim=8,
        ...           latent_dim=2, random_state=0, max_epochs=1,
        ...           enable_progress_bar=False).fit(X)
        >>> X_new = torch.cat([X[:4], 10 * X[:1]])  # the last sample is an outlier
        >>> elbo, terms = vae.score_samples(X_new, return_terms=True)
        >>> total = -(terms["rec_loss"] + terms["kl_loss"])
        >>> int(elbo.argmin()), torch.allclose(elbo, total)
        (4, True)
        """
        return self._score_samples(X, return_terms, None)

    def _score_samples(self, X, return_terms, covariates):
        """``score_samples``, samples paired with ``covariates`` rows if given."""
        check_is_fitted(self)
        data = check_input(self, X, reset=False)

        def terms_of(batch, batch_idx):
            nll, kl = self._elbo_terms(*self._split_batch(batch))
            return {"rec_loss": nll, "kl_loss": kl}

        terms = self._predict(data, terms_of, y=covariates)
        elbo = -(terms["rec_loss"] + terms["kl_loss"])
        if returns_numpy(X):
            elbo, terms = elbo.numpy(), {name: v.numpy() for name, v in terms.items()}
        return (elbo, terms) if return_terms else elbo

    @fill_doc
    def score(self, X, y=None, sample_weight=None):
        """Mean evidence lower bound (ELBO) per sample; higher is better.

        The mean of :meth:`score_samples`.

        Parameters
        ----------
        %(X)s
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the mean.

        Returns
        -------
        score : float
            Mean ELBO per sample, in nats.
        """
        return self._mean_score(self.score_samples(X), sample_weight)

    @staticmethod
    def _mean_score(elbo, sample_weight):
        """The (weighted) mean of per-sample ELBOs, as a float."""
        values = np.asarray(elbo, dtype=np.float64)
        return float(np.average(values, weights=sample_weight))
