"""Input plumbing and learning-rate schedules shared by the estimators."""

from ._data import batch_input, make_loader, returns_numpy
from .lr_scheduler import LinearWarmupCosineAnnealingLR
from .validation import check_input

__all__ = [
    "LinearWarmupCosineAnnealingLR",
    "batch_input",
    "check_input",
    "make_loader",
    "returns_numpy",
]
