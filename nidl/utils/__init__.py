"""Input plumbing shared by the estimators."""

from ._data import batch_input, make_loader, returns_numpy
from .validation import check_input

__all__ = ["batch_input", "check_input", "make_loader", "returns_numpy"]
