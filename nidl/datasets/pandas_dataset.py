"""``ImageDataFrameDataset`` and its image loader, under the module path that
code written for upstream nidl imports them from.

The code lives in :mod:`nidl.datasets.image_dataframe`.
"""

from .image_dataframe import ImageDataFrameDataset, default_image_loader

__all__ = ["ImageDataFrameDataset", "default_image_loader"]
