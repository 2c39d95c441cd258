"""Example data generated on the fly: nothing is downloaded."""

from .brain_cohort import make_brain_cohort
from .dsprites import (
    DSPRITES_FACTOR_NAMES,
    draw_dsprites,
    dsprites_factor_values,
    make_dsprites,
)

__all__ = [
    "DSPRITES_FACTOR_NAMES",
    "draw_dsprites",
    "dsprites_factor_values",
    "make_brain_cohort",
    "make_dsprites",
]
