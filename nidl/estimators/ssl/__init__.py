"""Self-supervised estimators: encoders trained without labels.

Each estimator trains an encoder on several views of every sample and its
``transform`` returns the encoder's features. :class:`SimCLR`,
:class:`DCL` and :class:`BarlowTwins` train on two views of each sample;
:class:`YAwareContrastiveLearning` too, and weighs the pairs of samples by
the similarity of their labels; :class:`DINO` distils a teacher into a
student across crops. :class:`IJEPA` trains a vision transformer to predict
the features of hidden blocks of patches from a visible one, without views.
The others take a Dataset or DataLoader of views,
or an array of samples whose views they make. The pieces they share
(projection heads, optimiser and schedule set-up, moving-average teachers)
live in :mod:`nidl.estimators.ssl.utils`.
"""

from .barlowtwins import BarlowTwins
from .dcl import DCL
from .dino import DINO
from .ijepa import IJEPA
from .simclr import SimCLR
from .yaware import YAwareContrastiveLearning

__all__ = [
    "DCL",
    "DINO",
    "IJEPA",
    "BarlowTwins",
    "SimCLR",
    "YAwareContrastiveLearning",
]
