"""The capacity-controlled beta-VAE loss (Burgess et al., 2018)."""

import numbers

from sklearn.utils import check_scalar

from .beta_vae import BetaVAELoss
from .schedules import linear_ramp, require_step


def check_capacity(capacity_min, capacity_max, capacity_steps, prefix=""):
    """Check the parameters of a linearly rising capacity.

    Parameters
    ----------
    capacity_min, capacity_max : float
        Capacity at step 0 and from ``capacity_steps`` on, in nats;
        ``0 <= capacity_min <= capacity_max``.
    capacity_steps : int
        Number of steps of the rise, >= 0.
    prefix : str, default=""
        Prefix of the parameter names in error messages.

    Raises
    ------
    ValueError
        If a value is out of its range.
    TypeError
        If a value is not a number.

    Examples
    --------
    >>> from nidl.losses.capacity_beta_vae import check_capacity
    >>> check_capacity(0.0, 25.0, 1000)
    >>> check_capacity(5.0, 1.0, 1000)
    Traceback (most recent call last):
    ...
    ValueError: capacity_max == 1.0, must be >= 5.0.
    """
    check_scalar(capacity_min, f"{prefix}capacity_min", numbers.Real, min_val=0)
    check_scalar(
        capacity_max, f"{prefix}capacity_max", numbers.Real, min_val=capacity_min
    )
    check_scalar(capacity_steps, f"{prefix}capacity_steps", numbers.Integral, min_val=0)


class CapacityBetaVAELoss(BetaVAELoss):
    r"""Beta-VAE loss with a controlled capacity (Burgess et al., 2018).

    Instead of weighting the KL divergence, the loss pulls it towards a
    target capacity ``C`` (in nats) that rises during training:

    .. math::

        \mathcal{L}(x) = -\mathbb{E}_{q(z|x)}[\log p(x|z)]
            + \gamma \, \big| D_{KL}(q(z|x) \,\|\, \mathcal{N}(0, I)) - C(t) \big|,

    with ``C(t)`` rising linearly from ``capacity_min`` at step 0 to
    ``capacity_max`` at ``capacity_steps``, then constant. Letting the
    information in the code grow slowly encourages the latent dimensions to
    pick up factors of variation one at a time. The terms are those of
    :class:`BetaVAELoss` (summed over features or latent dimensions,
    averaged over the batch).

    Parameters
    ----------
    gamma : float, default=1000.0
        Weight of the distance between the KL divergence and the capacity.
    capacity_min : float, default=0.0
        Capacity at step 0, in nats.
    capacity_max : float, default=25.0
        Capacity from ``capacity_steps`` on, in nats.
    capacity_steps : int, default=100000
        Number of optimiser steps over which the capacity rises.
    default_dist : {"normal", "laplace", "bernoulli"}, default="normal"
        Decoder likelihood when the decoder returns a tensor (see
        :class:`BetaVAELoss`).
    exact_likelihood : bool, default=False
        Use the exact negative log-likelihood (see :class:`BetaVAELoss`).

    Raises
    ------
    ValueError
        If a parameter is out of its range.
    TypeError
        If a parameter is not a number.

    See Also
    --------
    BetaVAELoss : The loss with a fixed or scheduled KL weight.
    nidl.estimators.autoencoders.CapacityBetaVAE : The estimator.

    References
    ----------
    .. [1] C. P. Burgess et al., "Understanding disentangling in
       beta-VAE", arXiv:1804.03599, 2018.

    Examples
    --------
    >>> import torch
    >>> from torch.distributions import Normal
    >>> from nidl.losses import CapacityBetaVAELoss
    >>> loss = CapacityBetaVAELoss(gamma=10.0, capacity_max=4.0, capacity_steps=100)
    >>> x = torch.tensor([[1.0, 2.0]])
    >>> q = Normal(torch.ones(1, 2), torch.ones(1, 2))  # KL of 1 nat
    >>> terms = loss(x, torch.zeros(1, 2), q, step=50)  # capacity 2 nats
    >>> float(terms["capacity"]), float(terms["loss"])  # 5 + 10 * |1 - 2|
    (2.0, 15.0)
    """

    def __init__(
        self,
        gamma=1000.0,
        capacity_min=0.0,
        capacity_max=25.0,
        capacity_steps=100000,
        default_dist="normal",
        exact_likelihood=False,
    ):
        check_scalar(gamma, "gamma", numbers.Real, min_val=0)
        check_capacity(capacity_min, capacity_max, capacity_steps)
        self.gamma = gamma
        self.capacity_min = capacity_min
        self.capacity_max = capacity_max
        self.capacity_steps = capacity_steps
        self._set_likelihood(default_dist, exact_likelihood)

    def capacity(self, step):
        """Target capacity at ``step``, in nats.

        Parameters
        ----------
        step : int
            Training step, >= 0.

        Returns
        -------
        value : float

        Examples
        --------
        >>> from nidl.losses import CapacityBetaVAELoss
        >>> CapacityBetaVAELoss(capacity_max=25.0, capacity_steps=100).capacity(20)
        5.0
        """
        return linear_ramp(
            step, self.capacity_min, self.capacity_max, self.capacity_steps
        )

    def __call__(self, x, p, q, step=None):
        """Compute the loss and its terms for one batch.

        Parameters
        ----------
        x : torch.Tensor, shape (batch_size, ...)
            The input data.
        p : torch.distributions.Distribution or torch.Tensor
            The decoder's likelihood: a ``Normal``, ``Laplace`` or ``Bernoulli``
            distribution, or a tensor holding the mean (the probability of
            success for ``"bernoulli"``) of ``default_dist``.
        q : torch.distributions.Normal
            The encoder's posterior ``q(z|x)`` with diagonal covariance.
        step : int
            Training step (number of optimiser steps taken); required.

        Returns
        -------
        losses : dict of str to torch.Tensor
            Scalar tensors ``"loss"``, ``"rec_loss"``, ``"kl_loss"`` and
            ``"capacity"`` (the target capacity in force).

        Raises
        ------
        ValueError
            If ``step`` is None.
        """
        require_step(step, self)
        rec_loss = self.reconstruction_loss(p, x)
        kl_loss = self.kl_normal_loss(q)
        capacity = kl_loss.new_tensor(self.capacity(step))
        return {
            "loss": rec_loss + self.gamma * (kl_loss - capacity).abs(),
            "rec_loss": rec_loss,
            "kl_loss": kl_loss,
            "capacity": capacity,
        }
