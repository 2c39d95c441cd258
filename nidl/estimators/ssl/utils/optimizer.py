"""The optimiser and learning-rate schedule of the self-supervised estimators."""

import math
import numbers
import warnings
from collections.abc import Mapping

import torch
from sklearn.utils import check_scalar
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from ....utils.lr_scheduler import LinearWarmupCosineAnnealingLR

__all__ = ["configure_ssl_optimizers"]

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}

#: The schedule settings of ``lr_scheduler="warmup_cosine"`` and their defaults.
LR_SCHEDULER_DEFAULTS = {
    "warmup_epochs": 10,
    "interval": "step",
    "warmup_start_lr": 1e-6,
    "min_lr": 0.0,
}


def _parameters(name, value):
    if isinstance(value, nn.Module):
        return list(value.parameters())
    if isinstance(value, torch.Tensor):
        value = [value]
    try:
        params = list(value)
    except TypeError:
        params = None
    if params is None or not all(isinstance(p, torch.Tensor) for p in params):
        raise TypeError(
            f"param_groups[{name!r}] must be an nn.Module or an iterable of "
            f"parameters, got {type(value).__name__}."
        )
    return params


def _param_groups(param_groups, exclude_bias_and_norm_wd):
    if not isinstance(param_groups, Mapping) or not param_groups:
        raise TypeError(
            "param_groups must be a non-empty dict mapping group names to modules "
            "or parameters, e.g. {'backbone': encoder, 'head': projection_head}; "
            f"got {param_groups!r}."
        )
    groups = []
    for name, value in param_groups.items():
        params = _parameters(name, value)
        if not exclude_bias_and_norm_wd:
            groups.append({"name": name, "params": params})
            continue
        # Matrices and kernels decay; biases and normalisation weights
        # (vectors) do not.
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        groups.append({"name": name, "params": decay})
        groups.append(
            {"name": f"{name}_no_decay", "params": no_decay, "weight_decay": 0.0}
        )
    groups = [group for group in groups if group["params"]]
    if not groups:
        raise ValueError(
            f"param_groups {list(param_groups)} hold no parameters to optimise."
        )
    return groups


def _build_optimizer(
    param_groups,
    optimizer,
    learning_rate,
    weight_decay,
    exclude_bias_and_norm_wd,
    optimizer_kwargs,
):
    if isinstance(optimizer, torch.optim.Optimizer):
        if optimizer_kwargs:
            warnings.warn(
                f"optimizer_kwargs={optimizer_kwargs!r} are ignored because "
                f"optimizer is already a {type(optimizer).__name__} instance; "
                "set these options on the instance.",
                UserWarning,
                stacklevel=3,
            )
        return optimizer
    if not isinstance(optimizer, str):
        raise TypeError(
            "optimizer must be 'adam', 'adamW', 'sgd' or a torch.optim.Optimizer "
            f"instance, got {optimizer!r}; to use another "
            "optimiser class, build it on the parameters and pass the instance."
        )
    if optimizer.lower() not in _OPTIMIZERS:
        raise ValueError(
            f"optimizer={optimizer!r} is not supported; use 'adam', 'adamW', "
            "'sgd' or a torch.optim.Optimizer instance."
        )
    check_scalar(
        learning_rate,
        "learning_rate",
        numbers.Real,
        min_val=0,
        include_boundaries="neither",
    )
    check_scalar(weight_decay, "weight_decay", numbers.Real, min_val=0)
    groups = _param_groups(param_groups, exclude_bias_and_norm_wd)
    return _OPTIMIZERS[optimizer.lower()](
        groups, lr=learning_rate, weight_decay=weight_decay, **optimizer_kwargs
    )


def configure_ssl_optimizers(
    param_groups,
    optimizer="adamW",
    learning_rate=3e-4,
    weight_decay=5e-4,
    exclude_bias_and_norm_wd=True,
    optimizer_kwargs=None,
    lr_scheduler="warmup_cosine",
    lr_scheduler_kwargs=None,
    *,
    max_epochs=None,
    estimated_stepping_batches=None,
):
    """Build the optimiser and learning-rate schedule of an estimator.

    What a self-supervised estimator's ``configure_optimizers`` returns,
    from its optimisation parameters and its Trainer's training length:

    .. code-block:: python

        def configure_optimizers(self):
            return configure_ssl_optimizers(
                {"backbone": self.encoder, "head": self.projection_head},
                self.optimizer, self.learning_rate, self.weight_decay,
                self.exclude_bias_and_norm_wd, self.optimizer_kwargs,
                self.lr_scheduler, self.lr_scheduler_kwargs,
                max_epochs=self.trainer.max_epochs,
                estimated_stepping_batches=self.trainer.estimated_stepping_batches,
            )

    Each entry of ``param_groups`` becomes a parameter group of that
    ``name``. With ``exclude_bias_and_norm_wd=True`` it is split in two: its
    matrices and kernels (parameters with more than one dimension) keep the
    weight decay, while its biases and normalisation weights (one dimension
    or less) go to a group ``"<name>_no_decay"`` with ``weight_decay=0``, as
    in SimCLR's LARS training [1]_.

    Parameters
    ----------
    param_groups : dict of str to torch.nn.Module or iterable of parameters
        The parameters to optimise, by group name, e.g.
        ``{"backbone": encoder, "head": projection_head}``. Ignored when
        ``optimizer`` is an instance.
    optimizer : {"adam", "adamW", "sgd"} or torch.optim.Optimizer, \
default="adamW"
        ``torch.optim.Adam``, ``AdamW`` or ``SGD`` (case-insensitive), built
        with ``lr=learning_rate``, ``weight_decay=weight_decay`` and
        ``optimizer_kwargs``; or an optimiser instance, used as is.
    learning_rate : float, default=3e-4
        Learning rate of a named optimiser (> 0); the peak of the schedule.
    weight_decay : float, default=5e-4
        Weight decay of a named optimiser (>= 0).
    exclude_bias_and_norm_wd : bool, default=True
        Whether biases and normalisation weights are left without weight
        decay.
    optimizer_kwargs : dict, default=None
        Other arguments of a named optimiser, e.g. ``{"momentum": 0.9}`` for
        SGD.
    lr_scheduler : {"warmup_cosine", "none"}, LRScheduler or None, \
default="warmup_cosine"
        ``"warmup_cosine"``: a
        :class:`~nidl.utils.LinearWarmupCosineAnnealingLR` from
        ``learning_rate`` down to ``min_lr`` over the whole training.
        ``"none"`` or None: a constant learning rate. A scheduler instance
        is used as is; it must drive ``optimizer``, so pass the optimiser
        instance it was built on.
    lr_scheduler_kwargs : dict, default=None
        Settings of the schedule, each with a default:
        ``warmup_epochs`` (10; fractions of epochs allowed with
        ``interval="step"``), ``interval`` (``"step"``: the schedule advances
        after every optimiser step; ``"epoch"``: after every epoch),
        ``warmup_start_lr`` (1e-6) and ``min_lr`` (0). Only ``interval``
        applies to a scheduler instance.
    max_epochs : int, default=None
        The Trainer's ``max_epochs``; needed by ``"warmup_cosine"``.
    estimated_stepping_batches : int or float, default=None
        The Trainer's ``estimated_stepping_batches``, the number of
        optimiser steps of the training; needed by ``"warmup_cosine"`` with
        ``interval="step"``.

    Returns
    -------
    optimizer : torch.optim.Optimizer
        Without a schedule.
    optimizers, schedulers : list of Optimizer, list of dict
        With a schedule: ``[optimizer]`` and ``[{"scheduler": scheduler,
        "interval": interval, "frequency": 1}]``, as Lightning reads them.

    Raises
    ------
    TypeError
        If ``optimizer``, ``lr_scheduler`` or ``param_groups`` has an
        unsupported type.
    ValueError
        If a name or setting is unknown or invalid, or ``max_epochs`` (or,
        for ``interval="step"``, ``estimated_stepping_batches``) is not a
        finite positive number when the warm-up cosine schedule needs it.

    See Also
    --------
    nidl.utils.LinearWarmupCosineAnnealingLR : The warm-up cosine schedule.

    References
    ----------
    .. [1] T. Chen, S. Kornblith, M. Norouzi and G. Hinton, "A Simple
       Framework for Contrastive Learning of Visual Representations",
       ICML 2020.
    .. [2] I. Loshchilov and F. Hutter, "Decoupled Weight Decay
       Regularization", ICLR 2019.

    Examples
    --------
    >>> from torch import nn
    >>> from nidl.estimators.ssl.utils.optimizer import configure_ssl_optimizers
    >>> encoder, head = nn.Linear(10, 8), nn.Linear(8, 4)
    >>> optimizers, schedulers = configure_ssl_optimizers(
    ...     {"backbone": encoder, "head": head}, "adamW", learning_rate=1e-3,
    ...     lr_scheduler_kwargs={"warmup_epochs": 1},
    ...     max_epochs=5, estimated_stepping_batches=50)
    >>> [(g["name"], g["weight_decay"]) for g in optimizers[0].param_groups]
    [('backbone', 0.0005), ('backbone_no_decay', 0.0), ('head', 0.0005),
     ('head_no_decay', 0.0)]
    >>> schedulers[0]["scheduler"].warmup_epochs, schedulers[0]["interval"]
    (10, 'step')
    >>> configure_ssl_optimizers({"backbone": encoder}, "sgd", lr_scheduler=None)
    SGD (
    Parameter Group 0
    ...
    )
    """
    optimizer_kwargs = {} if optimizer_kwargs is None else dict(optimizer_kwargs)
    optimizer = _build_optimizer(
        param_groups,
        optimizer,
        learning_rate,
        weight_decay,
        exclude_bias_and_norm_wd,
        optimizer_kwargs,
    )

    settings = dict(lr_scheduler_kwargs or {})
    unknown = sorted(set(settings) - set(LR_SCHEDULER_DEFAULTS))
    if unknown:
        raise ValueError(
            f"lr_scheduler_kwargs has unknown keys {unknown}; the settings are "
            f"{list(LR_SCHEDULER_DEFAULTS)}."
        )
    settings = {**LR_SCHEDULER_DEFAULTS, **settings}
    interval = settings["interval"]

    if lr_scheduler is None or (
        isinstance(lr_scheduler, str) and lr_scheduler.lower() == "none"
    ):
        return optimizer
    if interval not in ("step", "epoch"):
        raise ValueError(
            f"lr_scheduler_kwargs interval={interval!r} is not supported; use "
            "'step' (after every optimiser step) or 'epoch'."
        )
    if isinstance(lr_scheduler, LRScheduler):
        if lr_scheduler.optimizer is not optimizer:
            raise ValueError(
                f"lr_scheduler={type(lr_scheduler).__name__} drives another "
                "optimiser than the one configured here; pass the optimiser "
                "instance it was built on as optimizer."
            )
        scheduler = lr_scheduler
    elif isinstance(lr_scheduler, str):
        if lr_scheduler != "warmup_cosine":
            raise ValueError(
                f"lr_scheduler={lr_scheduler!r} is not supported; use "
                "'warmup_cosine', 'none', None or a torch.optim.lr_scheduler."
                "LRScheduler instance."
            )
        scheduler = _warmup_cosine(
            optimizer, settings, max_epochs, estimated_stepping_batches
        )
    else:
        raise TypeError(
            "lr_scheduler must be 'warmup_cosine', 'none', None or a torch.optim."
            f"lr_scheduler.LRScheduler instance, got {lr_scheduler!r}."
        )
    return [optimizer], [{"scheduler": scheduler, "interval": interval, "frequency": 1}]


def _warmup_cosine(optimizer, settings, max_epochs, estimated_stepping_batches):
    warmup_epochs, interval = settings["warmup_epochs"], settings["interval"]
    check_scalar(warmup_epochs, "warmup_epochs", numbers.Real, min_val=0)
    if not isinstance(max_epochs, numbers.Integral) or max_epochs <= 0:
        raise ValueError(
            f"the 'warmup_cosine' schedule spans the training but max_epochs="
            f"{max_epochs!r}; set the estimator's max_epochs to a positive "
            "number of epochs, or use lr_scheduler='none'."
        )
    if interval == "epoch":
        check_scalar(warmup_epochs, "warmup_epochs", numbers.Integral)
        warmup, total = int(warmup_epochs), int(max_epochs)
    else:
        if not (
            isinstance(estimated_stepping_batches, numbers.Real)
            and math.isfinite(estimated_stepping_batches)
            and estimated_stepping_batches >= 1
        ):
            raise ValueError(
                "the 'warmup_cosine' schedule with interval='step' needs the "
                "finite number of optimiser steps of the training, but "
                f"estimated_stepping_batches={estimated_stepping_batches!r}; "
                "pass the Trainer's estimated_stepping_batches."
            )
        total = int(estimated_stepping_batches)
        warmup = round(warmup_epochs * total / max_epochs)
    if warmup >= total:
        warnings.warn(
            f"the warm-up lasts {warmup} {interval}s but the training only "
            f"{total} (warmup_epochs={warmup_epochs}, max_epochs={max_epochs}): "
            "the learning rate never reaches learning_rate; lower "
            "lr_scheduler_kwargs['warmup_epochs'] or train for longer.",
            UserWarning,
            stacklevel=3,
        )
    return LinearWarmupCosineAnnealingLR(
        optimizer,
        warmup_epochs=warmup,
        max_epochs=total,
        warmup_start_lr=settings["warmup_start_lr"],
        eta_min=settings["min_lr"],
    )
