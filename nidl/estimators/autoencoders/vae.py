"""Variational autoencoder estimator."""

from ...losses import BetaVAELoss
from ._base import VAEBase
from ._docs import fill_shared_docs


@fill_shared_docs
class VAE(VAEBase):
    r"""Variational autoencoder, a scikit-learn transformer trained by Lightning.

    A VAE [1]_ learns a probabilistic encoder ``q(z|x)``, a diagonal Normal
    over ``latent_dim`` latent variables, and a decoder ``p(x|z)``. Training
    minimises the negative evidence lower bound with the KL term weighted by
    ``beta`` (``beta > 1`` gives the beta-VAE [2]_):

    .. math::

        \mathcal{L}(x) = -\mathbb{E}_{q(z|x)}[\log p(x|z)]
            + \beta \, D_{KL}(q(z|x) \,\|\, \mathcal{N}(0, I)).

    The user gives the encoder backbone, which maps a batch to
    ``encoder_out_dim`` features, and the decoder, which maps a batch of
    latent vectors to the data space (a tensor read as the mean of
    ``default_dist``, or a ``torch.distributions`` object). The VAE adds two
    linear heads for the posterior mean and log-variance. Samples are drawn
    with the reparameterisation trick ``z = mu + sigma * eps``.

    ``fit`` accepts a ``DataLoader`` (used as it is), a ``Dataset``, a tensor
    or an array of shape (n_samples, ...); ``transform`` returns latent
    samples, or the posterior means with ``stochastic_transform=False``.
    Every fit starts from the weights the modules had when first fitted.

    Parameters
    ----------
    %(modules)s
    beta : float or callable, default=1.0
        Weight of the KL divergence (beta-VAE), or a schedule ``step ->
        weight`` such as :class:`nidl.losses.LinearWarmup`, evaluated at the
        optimiser step.
    %(shared_options)s

    %(attributes)s

    See Also
    --------
    nidl.losses.BetaVAELoss : The loss this estimator minimises.

    References
    ----------
    .. [1] D. P. Kingma and M. Welling, "Auto-Encoding Variational Bayes",
       ICLR 2014.
    .. [2] I. Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a
       Constrained Variational Framework", ICLR 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> from nidl.estimators.autoencoders import VAE
    >>> X = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    >>> vae = VAE(nn.Sequential(nn.Linear(8, 16), nn.ReLU()), nn.Linear(2, 8),
    ...           encoder_out_dim=16, latent_dim=2, lr=1e-2, random_state=0,
    ...           max_epochs=2, enable_progress_bar=False)
    >>> vae.fit(X).transform(X).shape
    (64, 2)
    """

    _loss_parameters = ("beta",)

    def __init__(
        self, encoder, decoder, encoder_out_dim, latent_dim, beta=1.0,
        default_dist="normal", observation_scale="fixed",
        stochastic_transform=True, lr=1e-4, weight_decay=1e-2,
        random_state=None, batch_size=128, **kwargs,
    ):
        self.beta = beta
        super().__init__(
            encoder, decoder, encoder_out_dim, latent_dim, default_dist=default_dist,
            observation_scale=observation_scale,
            stochastic_transform=stochastic_transform, lr=lr, weight_decay=weight_decay,
            random_state=random_state, batch_size=batch_size, **kwargs,
        )

    def _make_criterion(self, facts):
        return BetaVAELoss(**self._loss_arguments())
