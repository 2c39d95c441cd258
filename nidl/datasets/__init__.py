"""Example data generated on the fly: nothing is downloaded."""

from .brain_cohort import (
    BRAIN_REGIONS,
    make_brain_cohort,
    make_brain_cohort_with_atrophy,
    make_brain_parcellation,
)
from .dsprites import (
    DSPRITES_FACTOR_NAMES,
    draw_dsprites,
    dsprites_factor_values,
    make_dsprites,
)
from .image_dataframe import ImageDataFrameDataset, default_image_loader

__all__ = [
    "BRAIN_REGIONS",
    "DSPRITES_FACTOR_NAMES",
    "ImageDataFrameDataset",
    "default_image_loader",
    "draw_dsprites",
    "dsprites_factor_values",
    "make_brain_cohort",
    "make_brain_cohort_with_atrophy",
    "make_brain_parcellation",
    "make_dsprites",
]
