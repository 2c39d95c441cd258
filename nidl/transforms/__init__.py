"""Preprocessing and augmentation of volumes, with torch's random generator.

Transforms take a NumPy array or a torch tensor of shape ``(C, X, Y, Z)`` or
``(X, Y, Z)`` and return the same type. Each has a ``repr`` that lists its
parameters and an ``is_random`` property; :class:`Compose` chains them and
:class:`MultiViewsTransform` makes several views of one input.
"""

from ._base import Compose, Identity, MultiViewsTransform, Transform, VolumeTransform
from .volume import (
    CropOrPad,
    RandomErasing,
    RandomFlip,
    RandomGaussianBlur,
    RandomGaussianNoise,
    RandomResizedCrop,
    RandomRotation,
    Resample,
    Resize,
    RobustRescaling,
    ZNormalization,
)

__all__ = [
    "Compose",
    "CropOrPad",
    "Identity",
    "MultiViewsTransform",
    "RandomErasing",
    "RandomFlip",
    "RandomGaussianBlur",
    "RandomGaussianNoise",
    "RandomResizedCrop",
    "RandomRotation",
    "Resample",
    "Resize",
    "RobustRescaling",
    "Transform",
    "VolumeTransform",
    "ZNormalization",
]
