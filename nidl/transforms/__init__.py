"""Preprocessing and augmentation of volumes, with torch's random generator.

Transforms take a NumPy array or a torch tensor of shape ``(C, X, Y, Z)`` or
``(X, Y, Z)`` and return the same type. Each has a ``repr`` that lists its
parameters and an ``is_random`` property; :class:`Compose` chains them and
:class:`MultiViewsTransform` makes several views of one input.
"""

# Each name is re-exported explicitly ("X as X"), so that linters and IDEs
# see it; ``__all__`` is taken from the modules, which list what they export.
from . import transforms, volume
from .transforms import Compose as Compose
from .transforms import Identity as Identity
from .transforms import MultiViewsTransform as MultiViewsTransform
from .transforms import Transform as Transform
from .transforms import VolumeTransform as VolumeTransform
from .volume import CropOrPad as CropOrPad
from .volume import RandomErasing as RandomErasing
from .volume import RandomFlip as RandomFlip
from .volume import RandomGaussianBlur as RandomGaussianBlur
from .volume import RandomGaussianNoise as RandomGaussianNoise
from .volume import RandomResizedCrop as RandomResizedCrop
from .volume import RandomRotation as RandomRotation
from .volume import Resample as Resample
from .volume import Resize as Resize
from .volume import RobustRescaling as RobustRescaling
from .volume import ZNormalization as ZNormalization

__all__ = transforms.__all__ + volume.__all__
