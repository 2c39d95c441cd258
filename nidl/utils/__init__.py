"""Input plumbing, learning-rate schedules and pretrained weights."""

from ._data import batch_input, make_loader, returns_numpy
from .bunch import Bunch
from .display import print_multicolor
from .lr_scheduler import LinearWarmupCosineAnnealingLR
from .validation import check_input
from .weights import Weights

__all__ = [
    "Bunch",
    "LinearWarmupCosineAnnealingLR",
    "Weights",
    "batch_input",
    "check_input",
    "make_loader",
    "print_multicolor",
    "returns_numpy",
]
