"""Exponential moving averages of networks: the teachers of DINO and I-JEPA."""

import math
import numbers

import torch
from sklearn.utils import check_scalar

__all__ = ["MomentumUpdater", "initialize_momentum_params"]


def _check_same_structure(online, momentum):
    """Return the two networks' parameters, checked to match one to one."""
    params = list(online.parameters())
    momentum_params = list(momentum.parameters())
    # Cheap enough to run at every step; the message is only built on failure.
    if len(params) == len(momentum_params) and all(
        p.shape == m.shape for p, m in zip(params, momentum_params)
    ):
        return params, momentum_params
    shapes = [tuple(p.shape) for p in params]
    momentum_shapes = [tuple(p.shape) for p in momentum_params]
    raise ValueError(
        f"momentum has {len(momentum_shapes)} parameters of shapes "
        f"{momentum_shapes} but online has {len(shapes)} of shapes {shapes}; "
        "the momentum network must be a copy of the online one "
        "(copy.deepcopy(online))."
    )


def initialize_momentum_params(online, momentum):
    """Copy a network into its momentum twin and freeze the twin.

    The parameters and buffers of ``online`` are copied into ``momentum``,
    whose parameters then stop requiring gradients: the twin is only ever
    updated by :meth:`MomentumUpdater.update`.

    Parameters
    ----------
    online : torch.nn.Module
        The network trained by gradient descent (DINO's student).
    momentum : torch.nn.Module
        Its moving average (DINO's teacher), of the same architecture.

    Raises
    ------
    ValueError
        If the two networks' parameters differ in number or shape.

    Examples
    --------
    >>> from torch import nn
    >>> from nidl.estimators.ssl.utils.momentum import initialize_momentum_params
    >>> student, teacher = nn.Linear(3, 2), nn.Linear(3, 2)
    >>> initialize_momentum_params(student, teacher)
    >>> bool((teacher.weight == student.weight).all()), teacher.weight.requires_grad
    (True, False)
    """
    _check_same_structure(online, momentum)
    with torch.no_grad():
        momentum.load_state_dict(online.state_dict())
    momentum.requires_grad_(False)


class MomentumUpdater:
    """Exponential moving average of a network, with a cosine-scheduled rate.

    The momentum network follows the online one as
    ``theta_m <- lambda * theta_m + (1 - lambda) * theta_o``, where the
    momentum ``lambda`` rises from ``base_lambda`` to ``final_lambda`` over
    training on a cosine: at step ``k`` of ``K``,
    ``lambda = final - (final - base) * (cos(pi * k / K) + 1) / 2``.

    Parameters
    ----------
    base_lambda : float, default=0.996
        Momentum at the start of training, in [0, 1].
    final_lambda : float, default=1.0
        Momentum at the end of training, in [base_lambda, 1].

    Attributes
    ----------
    cur_lambda : float
        The momentum the next :meth:`update` uses; ``base_lambda`` until
        :meth:`update_lambda` is called.

    References
    ----------
    .. [1] J.-B. Grill et al., "Bootstrap Your Own Latent: A New Approach to
       Self-Supervised Learning", NeurIPS 2020.
    .. [2] M. Caron et al., "Emerging Properties in Self-Supervised Vision
       Transformers", ICCV 2021.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from nidl.estimators.ssl.utils.momentum import MomentumUpdater
    >>> student, teacher = nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False)
    >>> _ = student.weight.data.fill_(1.0), teacher.weight.data.fill_(0.0)
    >>> updater = MomentumUpdater(base_lambda=0.9)
    >>> updater.update(student, teacher)
    >>> round(teacher.weight.item(), 4)
    0.1
    >>> updater.update_lambda(cur_step=50, max_steps=100)
    >>> round(updater.cur_lambda, 4)
    0.95
    """

    def __init__(self, base_lambda=0.996, final_lambda=1.0):
        check_scalar(base_lambda, "base_lambda", numbers.Real, min_val=0, max_val=1)
        check_scalar(final_lambda, "final_lambda", numbers.Real, min_val=0, max_val=1)
        if base_lambda > final_lambda:
            raise ValueError(
                f"base_lambda={base_lambda} is larger than final_lambda="
                f"{final_lambda}; the momentum must not decrease during "
                "training, set base_lambda <= final_lambda."
            )
        self.base_lambda = float(base_lambda)
        self.final_lambda = float(final_lambda)
        self.cur_lambda = self.base_lambda

    def __repr__(self):
        return (
            f"{type(self).__name__}(base_lambda={self.base_lambda}, "
            f"final_lambda={self.final_lambda})"
        )

    @torch.no_grad()
    def update(self, online, momentum):
        """Move the momentum network towards the online one.

        Every parameter becomes ``cur_lambda * theta_m + (1 - cur_lambda) *
        theta_o``; buffers (batch-norm statistics) are left alone.

        Parameters
        ----------
        online : torch.nn.Module
            The network trained by gradient descent.
        momentum : torch.nn.Module
            Its moving average, updated in place.
        """
        params, momentum_params = _check_same_structure(online, momentum)
        weight = 1.0 - self.cur_lambda
        for online_param, momentum_param in zip(params, momentum_params):
            momentum_param.lerp_(online_param, weight)

    def update_lambda(self, cur_step, max_steps):
        """Set ``cur_lambda`` for a step of the cosine schedule.

        Parameters
        ----------
        cur_step : int
            The current step, >= 0; steps past ``max_steps`` give
            ``final_lambda``.
        max_steps : int
            Number of steps of the schedule, > 0 (a Trainer's
            ``estimated_stepping_batches``).
        """
        check_scalar(cur_step, "cur_step", numbers.Real, min_val=0)
        check_scalar(max_steps, "max_steps", numbers.Real)
        if not max_steps > 0:
            raise ValueError(
                f"max_steps == {max_steps}, must be > 0: the schedule needs at "
                "least one step."
            )
        progress = min(cur_step / max_steps, 1.0)
        self.cur_lambda = (
            self.final_lambda
            - (self.final_lambda - self.base_lambda)
            * (math.cos(math.pi * progress) + 1)
            / 2
        )
