"""Variational autoencoder estimator."""

from ..._docstrings import fill_doc
from ...losses import BetaVAELoss
from ._base import VAEBase


@fill_doc
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
    encoder : torch.nn.Module
        Backbone mapping a batch of inputs to ``(batch_size, encoder_out_dim)``.
    decoder : torch.nn.Module
        Maps a batch of codes (``latent_dim`` values per sample, followed by
        the categorical ones for a Joint VAE) to a tensor or a distribution
        shaped like the input.
    encoder_out_dim : int
        Number of features the encoder returns per sample.
    latent_dim : int
        Number of (continuous) latent dimensions.
    beta : float or callable, default=1.0
        Weight of the KL divergence (beta-VAE), or a schedule ``step ->
        weight`` such as :class:`nidl.losses.LinearWarmup`, evaluated at the
        optimiser step.
    default_dist : {"normal", "laplace", "bernoulli"}, default="normal"
        Decoder likelihood when the decoder returns a tensor: squared error
        for ``"normal"``, absolute error for ``"laplace"``, binary
        cross-entropy for ``"bernoulli"`` (data in [0, 1]).
    observation_scale : {"fixed", "shared", "feature"}, default="fixed"
        Scale of a Normal or Laplace likelihood: ``"fixed"`` keeps the scale
        ``default_dist`` implies (the squared or absolute error); ``"shared"``
        learns one scale for all features and ``"feature"`` one per feature
        (``observation_scale_``), both trained on the exact negative
        log-likelihood. A learned scale lets the likelihood match the noise of
        the data, so that the KL term does not dominate on data of small
        variance, as intensities of brain images are.
    stochastic_transform : bool, default=True
        If True, ``transform`` returns samples of ``q(z|x)``; if False, the
        posterior means.
    lr : float, default=1e-4
        Learning rate of the AdamW optimiser.
    weight_decay : float, default=1e-2
        Weight decay of the AdamW optimiser, decoupled from the gradient: every
        weight shrinks by ``lr * weight_decay`` at each step. Much larger
        values can pay off on small cohorts of large images (the user guide on
        brains compares them).
    %(random_state)s
    %(batch_size)s
    %(trainer_kwargs)s

    Attributes
    ----------
    encoder : torch.nn.Module
        The encoder backbone.
    decoder : torch.nn.Module
        The decoder.
    fc_mu : torch.nn.Linear
        Head mapping encoder features to the posterior mean, built at
        construction and again by every ``fit``.
    fc_logvar : torch.nn.Linear
        Head mapping encoder features to the posterior log-variance.
    observation_scale_ : numpy.ndarray
        The learned scale of the likelihood, of shape () or the samples'
        shape; only with a learned ``observation_scale``.
    n_features_in_ : int
        Size of the second axis of the training data.
    sample_shape_ : tuple of int
        Shape of one training sample.
    n_epochs_ : int
        Number of epochs trained.
    n_steps_ : int
        Number of optimiser steps taken.
    history_ : dict of str to list of float
        Epoch means of the logged values: ``"train/loss"``,
        ``"train/rec_loss"``, ... one value per epoch, and ``"val/..."`` per
        epoch validated.
    callbacks_ : list of pytorch_lightning.Callback
        Copies of ``callbacks`` as the last fit left them.
    criterion : object
        The loss minimised (the one named under See Also), built from the
        parameters at construction and again by every ``fit``.

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
        self.stochastic_transform = stochastic_transform
        super().__init__(
            encoder, decoder, encoder_out_dim, latent_dim, default_dist=default_dist,
            observation_scale=observation_scale, lr=lr, weight_decay=weight_decay,
            random_state=random_state, batch_size=batch_size, **kwargs,
        )

    def _make_criterion(self, facts):
        return BetaVAELoss(**self._loss_arguments())
