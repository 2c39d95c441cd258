"""The Joint VAE loss: continuous and discrete latents with capacities.

The loss of Dupont (2018).
"""

import math
import numbers

import torch
from sklearn.utils import check_scalar
from torch.distributions import (
    Categorical,
    Normal,
    RelaxedOneHotCategorical,
    kl_divergence,
)

from .beta_vae import BetaVAELoss
from .capacity_beta_vae import check_capacity
from .schedules import linear_ramp, require_step

#: The parameters of each KL term, stored as ``{kind}_{name}`` for the
#: continuous and the discrete kind: its weight, then its rising capacity's.
_CAPACITY = ("capacity_min", "capacity_max", "capacity_steps")
_TERM_PARAMETERS = ("gamma", *_CAPACITY)


class JointPosterior:
    """Posterior of a Joint VAE: a diagonal Normal and independent categoricals.

    The categoricals are relaxed with the Gumbel-softmax (concrete)
    distribution at a temperature, so that samples are differentiable
    (Jang et al., 2017; Maddison et al., 2017). A sample of the joint latent
    is the Normal sample followed by the relaxed one-hot sample of each
    categorical.

    Parameters
    ----------
    continuous : torch.distributions.Normal, shape (batch_size, latent_dim)
        Posterior of the continuous latents.
    categoricals : list of torch.distributions.RelaxedOneHotCategorical
        Posterior of each categorical latent, of shape (batch_size, K).

    Attributes
    ----------
    mean : torch.Tensor, shape (batch_size, latent_dim + sum of K)
        The continuous means followed by each categorical's class
        probabilities.

    Examples
    --------
    >>> import torch
    >>> from torch.distributions import Normal, RelaxedOneHotCategorical
    >>> from nidl.losses import JointPosterior
    >>> q = JointPosterior(
    ...     Normal(torch.zeros(4, 2), torch.ones(4, 2)),
    ...     [RelaxedOneHotCategorical(torch.tensor(0.5), logits=torch.zeros(4, 3))],
    ... )
    >>> q.rsample().shape, q.mean[0]
    (torch.Size([4, 5]), tensor([0.0000, 0.0000, 0.3333, 0.3333, 0.3333]))
    """

    def __init__(self, continuous, categoricals):
        if not isinstance(continuous, Normal):
            raise TypeError(
                "the continuous posterior must be a torch.distributions.Normal, "
                f"got {type(continuous).__name__}."
            )
        categoricals = list(categoricals)
        for categorical in categoricals:
            if not isinstance(categorical, RelaxedOneHotCategorical):
                raise TypeError(
                    "each categorical posterior must be a "
                    "torch.distributions.RelaxedOneHotCategorical, got "
                    f"{type(categorical).__name__}."
                )
        self.continuous = continuous
        self.categoricals = categoricals

    def rsample(self):
        """Draw one differentiable sample of the joint latent.

        Returns
        -------
        z : torch.Tensor, shape (batch_size, latent_dim + sum of K)
        """
        parts = [self.continuous.rsample()]
        parts += [categorical.rsample() for categorical in self.categoricals]
        return torch.cat(parts, dim=1)

    @property
    def mean(self):
        """The continuous means followed by each categorical's class probabilities."""
        parts = [self.continuous.loc]
        parts += [categorical.probs for categorical in self.categoricals]
        return torch.cat(parts, dim=1)


def kl_categorical(q):
    """KL divergence of each sample's categoricals from uniform priors.

    Parameters
    ----------
    q : JointPosterior
        The posterior; its categoricals' class probabilities are used.

    Returns
    -------
    kl : torch.Tensor, shape (batch_size,)
        Summed over the categorical latents.

    Examples
    --------
    >>> import torch
    >>> from torch.distributions import Normal, RelaxedOneHotCategorical
    >>> from nidl.losses import JointPosterior
    >>> from nidl.losses.joint_vae import kl_categorical
    >>> q = JointPosterior(
    ...     Normal(torch.zeros(2, 1), torch.ones(2, 1)),
    ...     [RelaxedOneHotCategorical(torch.tensor(0.5), probs=torch.tensor(
    ...         [[1.0, 0.0], [0.5, 0.5]]))],
    ... )
    >>> kl_categorical(q)  # log 2, then 0
    tensor([0.6931, 0.0000])
    """
    total = 0
    for categorical in q.categoricals:
        posterior = Categorical(logits=categorical.logits, validate_args=False)
        prior = Categorical(
            logits=torch.zeros_like(categorical.logits), validate_args=False
        )
        total = total + kl_divergence(posterior, prior)
    return total


class JointVAELoss(BetaVAELoss):
    r"""Joint VAE loss: reconstruction plus capacity-controlled KL terms (Dupont, 2018).

    The Joint VAE has continuous latents with a unit Normal prior and
    categorical latents with uniform priors. Each KL divergence is pulled
    towards its own capacity, which rises linearly during training:

    .. math::

        \mathcal{L} = -\mathbb{E}[\log p(x|z, c)]
            + \gamma_z \, | KL(q(z|x) \,\|\, p(z)) - C_z(t) |
            + \gamma_c \, | KL(q(c|x) \,\|\, p(c)) - C_c(t) |,

    where the discrete KL is summed over the categorical latents and its
    capacity ``C_c`` is capped at the most the categoricals can hold, the sum
    of ``log(K)`` over their numbers of categories ``K``. The continuous
    capacity rises from ``continuous_capacity_min`` to
    ``continuous_capacity_max`` over ``continuous_capacity_steps`` steps,
    the discrete one likewise. The reconstruction term is that of
    :class:`BetaVAELoss` (summed over features, averaged over the batch).

    Parameters
    ----------
    continuous_gamma : float, default=30.0
        Weight of the continuous capacity term.
    continuous_capacity_min : float, default=0.0
        Continuous capacity at step 0, in nats.
    continuous_capacity_max : float, default=25.0
        Continuous capacity from ``continuous_capacity_steps`` on, in nats.
    continuous_capacity_steps : int, default=25000
        Number of steps over which the continuous capacity rises.
    discrete_gamma : float, default=30.0
        Weight of the discrete capacity term.
    discrete_capacity_min : float, default=0.0
        Discrete capacity at step 0, in nats.
    discrete_capacity_max : float, default=25.0
        Discrete capacity from ``discrete_capacity_steps`` on, in nats,
        before the cap at the sum of ``log(K)``.
    discrete_capacity_steps : int, default=25000
        Number of steps over which the discrete capacity rises.
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
    JointPosterior : The posterior this loss takes.
    nidl.estimators.autoencoders.JointVAE : The estimator.

    References
    ----------
    .. [1] E. Dupont, "Learning Disentangled Joint Continuous and Discrete
       Representations", NeurIPS 2018.

    Examples
    --------
    >>> import torch
    >>> from torch.distributions import Normal, RelaxedOneHotCategorical
    >>> from nidl.losses import JointPosterior, JointVAELoss
    >>> q = JointPosterior(
    ...     Normal(torch.ones(1, 2), torch.ones(1, 2)),  # KL of 1 nat
    ...     [RelaxedOneHotCategorical(torch.tensor(0.5), logits=torch.zeros(1, 4))],
    ... )
    >>> loss = JointVAELoss(continuous_gamma=1.0, discrete_gamma=1.0,
    ...                     continuous_capacity_steps=100, discrete_capacity_steps=100)
    >>> terms = loss(torch.ones(1, 3), torch.zeros(1, 3), q, step=10)
    >>> float(terms["continuous_capacity"]), float(terms["discrete_capacity"])
    (2.5, 1.3862943649291992)
    >>> float(terms["loss"])  # 3 + |1 - 2.5| + |0 - log 4|
    5.886294364929199
    """

    def __init__(
        self,
        continuous_gamma=30.0,
        continuous_capacity_min=0.0,
        continuous_capacity_max=25.0,
        continuous_capacity_steps=25000,
        discrete_gamma=30.0,
        discrete_capacity_min=0.0,
        discrete_capacity_max=25.0,
        discrete_capacity_steps=25000,
        default_dist="normal",
        exact_likelihood=False,
    ):
        terms = {
            "continuous": (continuous_gamma, continuous_capacity_min,
                           continuous_capacity_max, continuous_capacity_steps),
            "discrete": (discrete_gamma, discrete_capacity_min,
                         discrete_capacity_max, discrete_capacity_steps),
        }
        # The two terms take the same parameters, named after their kind:
        # checked (in the order of the signature) and stored alike.
        for kind, (gamma, *capacity) in terms.items():
            check_scalar(gamma, f"{kind}_gamma", numbers.Real, min_val=0)
            check_capacity(*capacity, prefix=f"{kind}_")
            for name, value in zip(_TERM_PARAMETERS, (gamma, *capacity)):
                setattr(self, f"{kind}_{name}", value)
        self._set_likelihood(default_dist, exact_likelihood)

    def capacities(self, step, categorical_dims):
        """Continuous and discrete capacities at ``step``, in nats.

        Parameters
        ----------
        step : int
            Training step, >= 0.
        categorical_dims : sequence of int
            Number of categories of each categorical latent; the discrete
            capacity is capped at the sum of their logarithms.

        Returns
        -------
        continuous, discrete : float

        Examples
        --------
        >>> from nidl.losses import JointVAELoss
        >>> loss = JointVAELoss(continuous_capacity_steps=100,
        ...                     discrete_capacity_steps=100)
        >>> continuous, discrete = loss.capacities(50, [10])
        >>> continuous, round(discrete, 4)  # 12.5 nats, capped at log(10)
        (12.5, 2.3026)
        """
        # Each capacity rises from its own parameters, read by name.
        continuous, discrete = (
            linear_ramp(step, *(getattr(self, f"{kind}_{name}") for name in _CAPACITY))
            for kind in ("continuous", "discrete")
        )
        cap = sum(math.log(k) for k in categorical_dims)
        return continuous, min(discrete, cap)

    def kl_categorical_loss(self, q):
        """KL divergence from the categorical posteriors to uniform priors.

        The batch mean of :func:`kl_categorical`, for a :class:`JointPosterior`
        ``q``: summed over the categorical latents, averaged over the batch.

        Examples
        --------
        >>> import torch
        >>> from torch.distributions import Normal, RelaxedOneHotCategorical
        >>> from nidl.losses import JointPosterior, JointVAELoss
        >>> one_hot = torch.tensor([[1.0, 0.0]])
        >>> q = JointPosterior(
        ...     Normal(torch.zeros(1, 1), torch.ones(1, 1)),
        ...     [RelaxedOneHotCategorical(torch.tensor(0.5), probs=one_hot)],
        ... )
        >>> round(float(JointVAELoss().kl_categorical_loss(q)), 4)  # log 2
        0.6931
        """
        return kl_categorical(q).mean()

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
        q : JointPosterior
            The encoder's posterior.
        step : int
            Training step (number of optimiser steps taken); required.

        Returns
        -------
        losses : dict of str to torch.Tensor
            Scalar tensors ``"loss"``, ``"rec_loss"``, ``"kl_loss"`` (the
            sum of the two KL terms), ``"continuous_kl_loss"``,
            ``"discrete_kl_loss"``, ``"continuous_capacity"`` and
            ``"discrete_capacity"`` (the capacities in force).

        Raises
        ------
        ValueError
            If ``step`` is None.
        TypeError
            If ``q`` is not a :class:`JointPosterior`.
        """
        require_step(step, self)
        if not isinstance(q, JointPosterior):
            raise TypeError(
                f"the posterior q must be a JointPosterior, got {type(q).__name__}."
            )
        rec_loss = self.reconstruction_loss(p, x)
        continuous_kl = self.kl_normal_loss(q.continuous)
        discrete_kl = self.kl_categorical_loss(q)
        dims = [categorical.logits.shape[-1] for categorical in q.categoricals]
        continuous_capacity, discrete_capacity = self.capacities(step, dims)
        continuous_capacity = rec_loss.new_tensor(continuous_capacity)
        discrete_capacity = rec_loss.new_tensor(discrete_capacity)
        loss = (
            rec_loss
            + self.continuous_gamma * (continuous_kl - continuous_capacity).abs()
            + self.discrete_gamma * (discrete_kl - discrete_capacity).abs()
        )
        return {
            "loss": loss,
            "rec_loss": rec_loss,
            "kl_loss": continuous_kl + discrete_kl,
            "continuous_kl_loss": continuous_kl,
            "discrete_kl_loss": discrete_kl,
            "continuous_capacity": continuous_capacity,
            "discrete_capacity": discrete_capacity,
        }
