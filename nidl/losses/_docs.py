"""Documentation shared by the losses of the family, written once."""

from .._docstrings import docstring_filler

#: Descriptions the losses share, filled in by ``fill_loss_docs``.
LOSS_DOCS = {
    "likelihood": """default_dist : {"normal", "laplace", "bernoulli"}, default="normal"
    Decoder likelihood when the decoder returns a tensor (see
    :class:`BetaVAELoss`).
exact_likelihood : bool, default=False
    Use the exact negative log-likelihood (see :class:`BetaVAELoss`).""",
    "data": """x : torch.Tensor, shape (batch_size, ...)
    The input data.
p : torch.distributions.Distribution or torch.Tensor
    The decoder's likelihood: a ``Normal``, ``Laplace`` or ``Bernoulli``
    distribution, or a tensor holding the mean (the probability of
    success for ``"bernoulli"``) of ``default_dist``.""",
    "step": """step : int
    Training step (number of optimiser steps taken); required.""",
    # The step at which a schedule or a capacity is evaluated.
    "at_step": """step : int
    Training step, >= 0.""",
    # The whole section: the constructors of the losses and schedules check
    # their parameters with ``check_scalar``, which raises these.
    "parameter_errors": """Raises
------
ValueError
    If a parameter is out of its range.
TypeError
    If a parameter is not a number.""",
}

#: Decorator filling the ``%(name)s`` lines of a loss's docstrings.
fill_loss_docs = docstring_filler(LOSS_DOCS)
