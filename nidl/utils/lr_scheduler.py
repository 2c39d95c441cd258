"""Learning-rate schedules of the self-supervised estimators."""

import math
import numbers
import warnings

from sklearn.utils import check_scalar
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["LinearWarmupCosineAnnealingLR"]


class LinearWarmupCosineAnnealingLR(LRScheduler):
    """Linear warm-up followed by a cosine decay of the learning rate.

    The schedule of SimCLR, BYOL, DINO and most self-supervised methods. For
    each parameter group with base learning rate ``b`` (the group's
    ``lr`` when the scheduler is built), the rate after ``e`` calls to
    :meth:`step` is

    - ``eta`` once ``e >= M``; before that,
    - ``s + e * (b - s) / max(W - 1, 1)`` while ``e < W``: a linear
      warm-up from ``s`` at ``e = 0`` to ``b`` at ``e = W - 1``,
    - ``eta + (b - eta) * (1 + cos(pi * (e - W) / (M - W))) / 2`` while
      ``W <= e < M``: a cosine decay from ``b`` to ``eta``,

    with ``s = warmup_start_lr``, ``eta = eta_min``, ``W = warmup_epochs``
    and ``M = max_epochs``. An "epoch" is a call to :meth:`step`: the
    schedule counts optimiser steps when the scheduler is stepped after each
    batch. If ``warmup_epochs >= max_epochs``, the rate is still rising at
    the last step before ``max_epochs``.

    :meth:`get_lr` updates the rates from their current values, so that the
    scheduler can be chained with others; :meth:`closed_form_lr` gives the
    same values directly from the formulas above.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        Optimiser whose learning rates are scheduled.
    warmup_epochs : int
        Number of steps of the linear warm-up, >= 0 (0: no warm-up).
    max_epochs : int
        Number of steps at which the rate reaches ``eta_min``, >= 1.
    warmup_start_lr : float, default=0.0
        Learning rate at the first step of the warm-up.
    eta_min : float, default=0.0
        Learning rate at the end of the cosine decay and after it.
    last_epoch : int, default=-1
        Index of the last step, to resume a schedule (the optimiser's
        groups must then hold ``initial_lr``); -1 starts a new one.

    See Also
    --------
    torch.optim.lr_scheduler.CosineAnnealingLR : The decay without warm-up.

    References
    ----------
    .. [1] I. Loshchilov and F. Hutter, "SGDR: Stochastic Gradient Descent
       with Warm Restarts", ICLR 2017.
    .. [2] P. Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet
       in 1 Hour", 2017, arXiv:1706.02677.

    Examples
    --------
    >>> import torch
    >>> from nidl.utils import LinearWarmupCosineAnnealingLR
    >>> optimizer = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=1.0)
    >>> scheduler = LinearWarmupCosineAnnealingLR(
    ...     optimizer, warmup_epochs=3, max_epochs=7, warmup_start_lr=0.1)
    >>> rates = []
    >>> for _ in range(8):
    ...     rates.append(round(scheduler.get_last_lr()[0], 3))
    ...     optimizer.step()
    ...     scheduler.step()
    >>> rates
    [0.1, 0.55, 1.0, 1.0, 0.854, 0.5, 0.146, 0.0]
    """

    def __init__(
        self,
        optimizer,
        warmup_epochs,
        max_epochs,
        warmup_start_lr=0.0,
        eta_min=0.0,
        last_epoch=-1,
    ):
        check_scalar(warmup_epochs, "warmup_epochs", numbers.Integral, min_val=0)
        check_scalar(max_epochs, "max_epochs", numbers.Integral, min_val=1)
        check_scalar(warmup_start_lr, "warmup_start_lr", numbers.Real, min_val=0)
        check_scalar(eta_min, "eta_min", numbers.Real, min_val=0)
        self.warmup_epochs = int(warmup_epochs)
        self.max_epochs = int(max_epochs)
        self.warmup_start_lr = float(warmup_start_lr)
        self.eta_min = float(eta_min)
        self._in_step = False
        self._jumped = False
        super().__init__(optimizer, last_epoch)

    def step(self, epoch=None):
        """Advance the schedule by one step and set the new learning rates.

        Call it after ``optimizer.step()``.

        Parameters
        ----------
        epoch : int, default=None
            Deprecated in PyTorch: jump to this step instead of advancing by
            one (the rates then come from :meth:`closed_form_lr`).
        """
        self._in_step, self._jumped = True, epoch is not None
        try:
            super().step(epoch)
        finally:
            self._in_step = self._jumped = False

    def get_lr(self):
        """Learning rates at step ``last_epoch``, from the current ones.

        Called by :meth:`step`; use :meth:`get_last_lr` to read the current
        rates.

        Returns
        -------
        lrs : list of float
            One learning rate per parameter group.
        """
        if not self._in_step:
            warnings.warn(
                "get_lr() computes the next learning rates from the current ones "
                "and is meant to be called by step(); use get_last_lr() to read "
                "the current learning rates.",
                UserWarning,
                stacklevel=2,
            )
        if self._jumped:
            return self.closed_form_lr()
        e, w, m = self.last_epoch, self.warmup_epochs, self.max_epochs
        if e >= m:
            return [self.eta_min for _ in self.base_lrs]
        if e == 0:
            # The first rate: the warm-up's start, or the top of the decay.
            return [self.warmup_start_lr if w > 0 else b for b in self.base_lrs]
        current = [group["lr"] for group in self.optimizer.param_groups]
        if e < w:
            return [
                lr + (b - self.warmup_start_lr) / max(w - 1, 1)
                for lr, b in zip(current, self.base_lrs, strict=True)
            ]
        if e == w:
            return list(self.base_lrs)
        # Cosine phase: rescale the distance to eta_min by the ratio of the
        # cosine factors at e and e - 1 (the latter > 0 since e - 1 < m).
        period = m - w
        ratio = (1 + math.cos(math.pi * (e - w) / period)) / (
            1 + math.cos(math.pi * (e - 1 - w) / period)
        )
        return [self.eta_min + ratio * (lr - self.eta_min) for lr in current]

    def closed_form_lr(self, epoch=None):
        """Learning rates at a step, computed directly from the formulas.

        Parameters
        ----------
        epoch : int, default=None
            Step; None means ``last_epoch``, the current step.

        Returns
        -------
        lrs : list of float
            One learning rate per parameter group.

        Examples
        --------
        >>> import torch
        >>> from nidl.utils import LinearWarmupCosineAnnealingLR
        >>> optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=2.0)
        >>> scheduler = LinearWarmupCosineAnnealingLR(optimizer, 2, 6)
        >>> [scheduler.closed_form_lr(e)[0] for e in (0, 1, 4, 6, 9)]
        [0.0, 2.0, 1.0, 0.0, 0.0]
        """
        e = self.last_epoch if epoch is None else epoch
        check_scalar(e, "epoch", numbers.Integral, min_val=0)
        w, m = self.warmup_epochs, self.max_epochs
        s, eta = self.warmup_start_lr, self.eta_min
        if e >= m:
            return [eta for _ in self.base_lrs]
        if e < w:
            return [s + e * (b - s) / max(w - 1, 1) for b in self.base_lrs]
        factor = (1 + math.cos(math.pi * (e - w) / (m - w))) / 2
        return [eta + (b - eta) * factor for b in self.base_lrs]
