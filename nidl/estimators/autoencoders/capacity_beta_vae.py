"""Beta-VAE with a controlled capacity (Burgess et al., 2018)."""

from ..._docstrings import fill_doc
from ...losses import CapacityBetaVAELoss
from ._base import VAEBase


@fill_doc
class CapacityBetaVAE(VAEBase):
    r"""Beta-VAE whose KL divergence is pulled towards a rising capacity.

    The model of :class:`VAE` trained with :class:`~nidl.losses.CapacityBetaVAELoss`
    (Burgess et al., 2018):

    .. math::

        \mathcal{L}(x) = -\mathbb{E}_{q(z|x)}[\log p(x|z)]
            + \gamma \, \big| D_{KL}(q(z|x) \,\|\, \mathcal{N}(0, I)) - C(t) \big|,

    where the capacity ``C(t)`` rises linearly from ``capacity_min`` to
    ``capacity_max`` over the first ``capacity_steps`` optimiser steps. The
    step counter advances with training steps only; the capacity in force
    is logged at every training step as ``train/capacity``, next to the
    loss terms ``train/loss``, ``train/rec_loss`` and ``train/kl_loss``.

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
    gamma : float, default=1000.0
        Weight of the distance between the KL divergence and the capacity.
    capacity_min : float, default=0.0
        Capacity at the first step, in nats.
    capacity_max : float, default=25.0
        Capacity from ``capacity_steps`` on, in nats.
    capacity_steps : int, default=100000
        Number of optimiser steps over which the capacity rises.
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
    nidl.estimators.autoencoders.VAE : The same model, with a fixed or scheduled
        KL weight.
    nidl.losses.CapacityBetaVAELoss : The loss this estimator minimises.

    References
    ----------
    .. [1] C. P. Burgess et al., "Understanding disentangling in
       beta-VAE", arXiv:1804.03599, 2018.

    Examples
    --------
    Binary images, the dSprites shapes, with a Bernoulli likelihood (the
    decoder gives the probability of each pixel); the images go in and come
    back decoded with their shape:

    >>> from torch import nn
    >>> from nidl.datasets import make_dsprites
    >>> from nidl.estimators.autoencoders import CapacityBetaVAE
    >>> images, factors = make_dsprites(n_samples=64, random_state=0)
    >>> X = images.astype("float32")  # (64, 64, 64): 64 images of 64 x 64 pixels
    >>> vae = CapacityBetaVAE(
    ...     nn.Sequential(nn.Flatten(), nn.Linear(64 * 64, 32), nn.ReLU()),
    ...     nn.Sequential(nn.Linear(4, 64 * 64), nn.Sigmoid(),
    ...                   nn.Unflatten(1, (64, 64))),
    ...     encoder_out_dim=32, latent_dim=4, default_dist="bernoulli",
    ...     gamma=10.0, capacity_max=5.0, capacity_steps=100, lr=1e-3,
    ...     batch_size=32, random_state=0, max_epochs=2, enable_progress_bar=False)
    >>> vae.fit(X).inverse_transform(vae.transform(X)).shape
    (64, 64, 64)
    >>> vae.criterion.capacity(vae.n_steps_)  # two steps per epoch, two epochs
    0.2
    """

    _loss_parameters = ("gamma", "capacity_min", "capacity_max", "capacity_steps")

    def __init__(
        self, encoder, decoder, encoder_out_dim, latent_dim, gamma=1000.0,
        capacity_min=0.0, capacity_max=25.0, capacity_steps=100000,
        default_dist="normal", observation_scale="fixed",
        stochastic_transform=True, lr=1e-4, weight_decay=1e-2,
        random_state=None, batch_size=128, **kwargs,
    ):
        self.gamma = gamma
        self.capacity_min = capacity_min
        self.capacity_max = capacity_max
        self.capacity_steps = capacity_steps
        self.stochastic_transform = stochastic_transform
        super().__init__(
            encoder, decoder, encoder_out_dim, latent_dim, default_dist=default_dist,
            observation_scale=observation_scale, lr=lr, weight_decay=weight_decay,
            random_state=random_state, batch_size=batch_size, **kwargs,
        )

    def _weights_change(self):
        return True  # the capacities rise with the step

    def _make_criterion(self, facts):
        return CapacityBetaVAELoss(**self._loss_arguments())
