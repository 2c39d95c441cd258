"""Beta-VAE with a controlled capacity (Burgess et al., 2018)."""

from ...losses import CapacityBetaVAELoss
from ._base import VAEBase
from ._docs import fill_shared_docs


@fill_shared_docs
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
    %(modules)s
    gamma : float, default=1000.0
        Weight of the distance between the KL divergence and the capacity.
    capacity_min : float, default=0.0
        Capacity at the first step, in nats.
    capacity_max : float, default=25.0
        Capacity from ``capacity_steps`` on, in nats.
    capacity_steps : int, default=100000
        Number of optimiser steps over which the capacity rises.
    %(shared_options)s

    %(attributes)s

    See Also
    --------
    nidl.estimators.autoencoders.VAE : The same model with a fixed or scheduled KL weight.
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
    ...     nn.Sequential(nn.Linear(4, 64 * 64), nn.Sigmoid(), nn.Unflatten(1, (64, 64))),
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
        super().__init__(
            encoder, decoder, encoder_out_dim, latent_dim, default_dist=default_dist,
            observation_scale=observation_scale,
            stochastic_transform=stochastic_transform, lr=lr, weight_decay=weight_decay,
            random_state=random_state, batch_size=batch_size, **kwargs,
        )

    def _make_criterion(self, facts):
        return CapacityBetaVAELoss(**self._loss_arguments())
