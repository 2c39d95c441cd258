"""Datasets: cohorts generated on the fly, tables of image files, and OpenBHB.

The generators (brain cohorts, dSprites, an OpenBHB-layout folder) download
nothing. :class:`OpenBHB` reads a local copy of that cohort and fetches the
missing files only if the optional ``huggingface_hub`` package is installed.
"""

from .base import BaseImageDataset, BaseNumpyDataset
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
from .openbhb import OpenBHB
from .openbhb_folder import make_openbhb_folder

__all__ = [
    "BRAIN_REGIONS",
    "DSPRITES_FACTOR_NAMES",
    "BaseImageDataset",
    "BaseNumpyDataset",
    "ImageDataFrameDataset",
    "OpenBHB",
    "default_image_loader",
    "draw_dsprites",
    "dsprites_factor_values",
    "make_brain_cohort",
    "make_brain_cohort_with_atrophy",
    "make_brain_parcellation",
    "make_dsprites",
    "make_openbhb_folder",
]
