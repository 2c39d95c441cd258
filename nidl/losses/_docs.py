"""Documentation shared by the losses of the family, written once."""

from .._docstrings import docstring_filler

_DATA = """x : torch.Tensor, shape (batch_size, ...)
    The input data.
p : torch.distributions.Distribution or torch.Tensor
    The decoder's likelihood: a ``Normal``, ``Laplace`` or ``Bernoulli``
    distribution, or a tensor holding the mean (the probability of
    success for ``"bernoulli"``) of ``default_dist``."""

_NORMAL_POSTERIOR = """q : torch.distributions.Normal
    The encoder's posterior ``q(z|x)`` with diagonal covariance."""

_AT_STEP = """step : int
    Training step, >= 0."""

_LIKELIHOOD = """default_dist : {"normal", "laplace", "bernoulli"}, default="normal"
    Decoder likelihood when the decoder returns a tensor (see
    :class:`BetaVAELoss`).
exact_likelihood : bool, default=False
    Use the exact negative log-likelihood (see :class:`BetaVAELoss`)."""

# A whole section: the constructors of the losses and schedules check their
# parameters with ``check_scalar``, which raises these.
_ERRORS = """Raises
------
ValueError
    If a parameter is out of its range.
TypeError
    If a parameter is not a number."""

#: Descriptions the losses share, filled in by ``fill_loss_docs``.
LOSS_DOCS = {
    # The end of the constructor's parameters, and its errors, alike for
    # every loss derived from ``BetaVAELoss`` (which describes them in full).
    "likelihood_and_errors": f"{_LIKELIHOOD}\n\n{_ERRORS}",
    "parameter_errors": _ERRORS,
    "data": _DATA,
    # The batch of a loss whose posterior is a diagonal Normal.
    "normal_batch": f"{_DATA}\n{_NORMAL_POSTERIOR}",
    "step": """step : int
    Training step (number of optimiser steps taken); required.""",
    "beta_step": """step : int, default=None
    Training step (number of optimiser steps taken), at which a ``beta``
    schedule is evaluated; needed only if ``beta`` is a schedule.""",
    # The step at which a schedule or a capacity is evaluated; and both
    # sections of a function of that step alone (a schedule, a capacity).
    "at_step": _AT_STEP,
    "value_at_step": f"Parameters\n----------\n{_AT_STEP}\n\n"
    "Returns\n-------\nvalue : float",
}

#: Decorator filling the ``%(name)s`` lines of a loss's docstrings.
fill_loss_docs = docstring_filler(LOSS_DOCS)
