"""Transforms of 3-D volumes: deterministic preprocessing and random
augmentation, for arrays and tensors of shape ``(C, X, Y, Z)`` or
``(X, Y, Z)``."""

from .augmentation import (
    RandomErasing,
    RandomFlip,
    RandomGaussianBlur,
    RandomGaussianNoise,
    RandomResizedCrop,
    RandomRotation,
)
from .preprocessing import CropOrPad, Resample, Resize, RobustRescaling, ZNormalization

__all__ = [
    "CropOrPad",
    "RandomErasing",
    "RandomFlip",
    "RandomGaussianBlur",
    "RandomGaussianNoise",
    "RandomResizedCrop",
    "RandomRotation",
    "Resample",
    "Resize",
    "RobustRescaling",
    "ZNormalization",
]
