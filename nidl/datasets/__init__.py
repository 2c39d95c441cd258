"""Example data generated on the fly: nothing is downloaded."""

from .brain_cohort import make_brain_cohort
from .dsprites import (
    DSPRITES_FACTOR_NAMES,
    draw_dsprites,
    dsprites_factor_values,
    make_dsprites,
)
from .image_dataframe import ImageDataFrameDataset, default_image_loader

__all__ = [
    "DSPRITES_FACTOR_NAMES",
    "ImageDataFrameDataset",
    "default_image_loader",
    "draw_dsprites",
    "dsprites_factor_values",
    "make_brain_cohort",
    "make_dsprites",
]
