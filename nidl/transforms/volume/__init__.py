"""Transforms of 3-D volumes: deterministic preprocessing and random
augmentation, for arrays and tensors of shape ``(C, X, Y, Z)`` or
``(X, Y, Z)``."""

# Each name is re-exported explicitly ("X as X"), so that linters and IDEs
# see it; ``__all__`` is taken from the modules, which list what they export.
from . import augmentation, preprocessing
from .augmentation import RandomErasing as RandomErasing
from .augmentation import RandomFlip as RandomFlip
from .augmentation import RandomGaussianBlur as RandomGaussianBlur
from .augmentation import RandomGaussianNoise as RandomGaussianNoise
from .augmentation import RandomResizedCrop as RandomResizedCrop
from .augmentation import RandomRotation as RandomRotation
from .preprocessing import CropOrPad as CropOrPad
from .preprocessing import Resample as Resample
from .preprocessing import Resize as Resize
from .preprocessing import RobustRescaling as RobustRescaling
from .preprocessing import ZNormalization as ZNormalization

__all__ = augmentation.__all__ + preprocessing.__all__
