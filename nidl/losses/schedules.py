"""Schedules: weights and targets of a loss that change with the training step.

A schedule is a callable ``schedule(step) -> float`` of the optimiser step
(0 at the first training step). Losses stay stateless: they take the step as
a keyword argument, ``loss(x, p, q, step=...)``, and evaluate their schedules
at it, so that the same call always gives the same value.
"""

import numbers

from sklearn.utils import check_scalar


def _check_step(step):
    check_scalar(step, "step", numbers.Real, min_val=0)


class _Schedule:
    """A callable of the optimiser step; subclasses give ``_value``.

    As in scikit-learn, a subclass stores each constructor parameter under
    its own name, in the order of the signature: ``repr`` and ``==`` are
    built from them.
    """

    def __call__(self, step):
        """Value at ``step``.

        Parameters
        ----------
        step : int
            Training step, >= 0.

        Returns
        -------
        value : float
        """
        _check_step(step)
        return self._value(step)

    def __repr__(self):
        parameters = ", ".join(
            f"{name}={value!r}" for name, value in vars(self).items()
        )
        return f"{type(self).__name__}({parameters})"

    def __eq__(self, other):
        return type(other) is type(self) and vars(other) == vars(self)

    # Compared by value and mutable (parameters may be set), so unhashable.
    __hash__ = None


class LinearWarmup(_Schedule):
    """Linear warm-up: 0 at step 0, ``max_value`` from ``warmup_steps`` on.

    The KL warm-up of Bowman et al. (2016) and Sønderby et al. (2016): the
    weight of the KL term rises linearly from 0 to ``max_value`` over the
    first ``warmup_steps`` optimiser steps, then stays at ``max_value``.
    Starting with a small KL weight lets the decoder learn to use the latent
    code before the prior pulls the posterior towards it.

    Parameters
    ----------
    max_value : float
        Value reached at ``warmup_steps`` and kept after; must be >= 0.
    warmup_steps : int
        Number of steps of the linear rise; must be >= 0 (0 gives
        ``max_value`` from the first step).

    Raises
    ------
    ValueError
        If a parameter is out of its range.
    TypeError
        If a parameter is not a number.

    See Also
    --------
    CyclicalSchedule : A warm-up repeated over several cycles.

    References
    ----------
    .. [1] S. R. Bowman et al., "Generating Sentences from a Continuous
       Space", CoNLL 2016.

    Examples
    --------
    >>> from nidl.losses import LinearWarmup
    >>> beta = LinearWarmup(max_value=4.0, warmup_steps=100)
    >>> beta(0), beta(25), beta(100), beta(5000)
    (0.0, 1.0, 4.0, 4.0)
    """

    def __init__(self, max_value, warmup_steps):
        check_scalar(max_value, "max_value", numbers.Real, min_val=0)
        check_scalar(warmup_steps, "warmup_steps", numbers.Integral, min_val=0)
        self.max_value = max_value
        self.warmup_steps = warmup_steps

    def _value(self, step):
        if step >= self.warmup_steps:
            return float(self.max_value)
        return float(self.max_value * step / self.warmup_steps)


class CyclicalSchedule(_Schedule):
    """Cyclical annealing (Fu et al., 2019): a warm-up repeated ``n_cycles`` times.

    The first ``total_steps`` optimiser steps are split into ``n_cycles``
    cycles of equal length. In each cycle the value rises linearly from 0 to
    ``max_value`` over the first ``ratio`` of the cycle, then stays at
    ``max_value`` until the cycle ends. From ``total_steps`` on it is
    ``max_value``. Each restart from 0 lets the model revisit codes that
    a strong KL weight would have collapsed.

    Parameters
    ----------
    max_value : float
        Value at the top of each cycle and after ``total_steps``; >= 0.
    total_steps : int
        Number of steps covered by the cycles; >= 1.
    n_cycles : int, default=4
        Number of cycles; >= 1.
    ratio : float, default=0.5
        Fraction of each cycle spent rising, in (0, 1].

    Raises
    ------
    ValueError
        If a parameter is out of its range.
    TypeError
        If a parameter is not a number.

    See Also
    --------
    LinearWarmup : A single warm-up.

    References
    ----------
    .. [1] H. Fu et al., "Cyclical Annealing Schedule: A Simple Approach to
       Mitigating KL Vanishing", NAACL 2019.

    Examples
    --------
    >>> from nidl.losses import CyclicalSchedule
    >>> beta = CyclicalSchedule(max_value=1.0, total_steps=400, n_cycles=4, ratio=0.5)
    >>> beta(0), beta(25), beta(50), beta(99), beta(100), beta(400)
    (0.0, 0.5, 1.0, 1.0, 0.0, 1.0)
    """

    def __init__(self, max_value, total_steps, n_cycles=4, ratio=0.5):
        check_scalar(max_value, "max_value", numbers.Real, min_val=0)
        check_scalar(total_steps, "total_steps", numbers.Integral, min_val=1)
        check_scalar(n_cycles, "n_cycles", numbers.Integral, min_val=1)
        check_scalar(
            ratio, "ratio", numbers.Real, min_val=0, max_val=1,
            include_boundaries="right",
        )
        self.max_value = max_value
        self.total_steps = total_steps
        self.n_cycles = n_cycles
        self.ratio = ratio

    def _value(self, step):
        if step >= self.total_steps:
            return float(self.max_value)
        cycle_length = self.total_steps / self.n_cycles
        position = (step % cycle_length) / cycle_length
        return float(self.max_value * min(position / self.ratio, 1.0))


def check_number_or_schedule(value, name):
    """Check that ``value`` is a number >= 0 or a schedule ``step -> number``.

    A schedule is evaluated at step 0 to check that it returns a number
    >= 0.

    Parameters
    ----------
    value : float or callable
        The value to check.
    name : str
        Name of the parameter, for error messages.

    Raises
    ------
    TypeError
        If ``value`` is neither a number nor a callable, or if the schedule
        does not return a number.
    ValueError
        If the number, or the schedule's value at step 0, is negative.

    Examples
    --------
    >>> from nidl.losses.schedules import LinearWarmup, check_number_or_schedule
    >>> check_number_or_schedule(LinearWarmup(1.0, 10), "beta")
    >>> check_number_or_schedule(-1.0, "beta")
    Traceback (most recent call last):
    ...
    ValueError: beta == -1.0, must be >= 0.
    """
    if callable(value):
        check_scalar(value(0), f"{name}(0)", numbers.Real, min_val=0)
    elif isinstance(value, numbers.Real):
        check_scalar(value, name, numbers.Real, min_val=0)
    else:
        raise TypeError(
            f"{name} must be a number or a schedule (a callable step -> number), "
            f"got {type(value).__name__}."
        )


def value_at(value, step, name):
    """Value in force at ``step``: the number itself, or the schedule at ``step``.

    Parameters
    ----------
    value : float or callable
        A number or a schedule ``step -> number``.
    step : int or None
        Training step; may be None only if ``value`` is a number.
    name : str
        Name of the parameter, for error messages.

    Returns
    -------
    value : float

    Raises
    ------
    ValueError
        If ``value`` is a schedule and ``step`` is None.

    Examples
    --------
    >>> from nidl.losses.schedules import LinearWarmup, value_at
    >>> value_at(4.0, None, "beta"), value_at(LinearWarmup(4.0, 8), 2, "beta")
    (4.0, 1.0)
    """
    if not callable(value):
        return value
    if step is None:
        raise ValueError(
            f"{name} is a schedule ({value!r}), so the loss needs the training "
            "step: call it as loss(x, p, q, step=step)."
        )
    return float(value(step))


def linear_ramp(step, start, stop, n_steps):
    """Linear rise from ``start`` at step 0 to ``stop`` at ``n_steps``, then flat.

    Parameters
    ----------
    step : int
        Training step, >= 0.
    start, stop : float
        Values at step 0 and from step ``n_steps`` on.
    n_steps : int
        Length of the rise; 0 gives ``stop`` from step 0.

    Returns
    -------
    value : float

    Examples
    --------
    >>> from nidl.losses.schedules import linear_ramp
    >>> linear_ramp(50, 0.0, 25.0, 100), linear_ramp(200, 0.0, 25.0, 100)
    (12.5, 25.0)
    """
    _check_step(step)
    if step >= n_steps:
        return float(stop)
    return float(start + (stop - start) * step / n_steps)


def require_step(step, loss):
    """Raise a ValueError if a loss whose terms change with training got no step.

    Examples
    --------
    >>> from nidl.losses import CapacityBetaVAELoss
    >>> from nidl.losses.schedules import require_step
    >>> require_step(None, CapacityBetaVAELoss())
    Traceback (most recent call last):
    ...
    ValueError: CapacityBetaVAELoss needs the training step, as its capacity
    rises with training: call it as loss(x, p, q, step=step).
    """
    if step is None:
        raise ValueError(
            f"{type(loss).__name__} needs the training step, as its capacity "
            "rises with training: call it as loss(x, p, q, step=step)."
        )
