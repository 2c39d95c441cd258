"""The transform protocol: base classes, composition and multiple views.

Every nidl transform is a callable object that takes a NumPy array or a torch
tensor and returns the same type. Its parameters are checked when it is
built, its ``repr`` lists them, and ``is_random`` says whether two calls on the
same input can give different outputs. A cache of preprocessed volumes relies
on these two: it stores the output of the leading transforms that are not
random, under a key built from their ``repr``.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
import torch

from ._utils import (
    check_callables,
    check_image_shape,
    check_probability,
    describe,
    image_to_volume,
    is_image,
    is_integer,
    is_random_transform,
    volume_to_image,
)

__all__ = [
    "Compose",
    "Identity",
    "MultiViewsTransform",
    "Transform",
    "VolumeTransform",
]


# --------------------------------------------------------------------------
# Base classes
# --------------------------------------------------------------------------


class Transform(ABC):
    """Base class of nidl's transforms.

    Calling a transform checks the input with :meth:`parse_data`, then, when
    ``p`` is set, draws from torch's random generator whether to apply it,
    then calls :meth:`apply_transform`, which each subclass implements.
    Every random draw uses torch's generator, so ``torch.manual_seed`` and
    the per-worker seeding of ``DataLoader`` make transforms reproducible.

    Parameters
    ----------
    p : float or None, default=None
        Probability of applying the transform; the input is returned
        unchanged otherwise. None applies it always.

    Attributes
    ----------
    is_random : bool
        Whether two calls on the same input may give different outputs.

    Notes
    -----
    As in scikit-learn, a subclass stores each constructor parameter under
    its own name: ``repr`` is built from them, and a cache of preprocessed
    volumes uses that ``repr`` as its key. A subclass that draws random
    numbers sets the class attribute ``_draws_random_numbers = True`` and
    draws them from torch's generator.

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.transforms import Transform
    >>> class AddOne(Transform):
    ...     def apply_transform(self, data):
    ...         return data + 1
    >>> AddOne()(np.zeros(2))
    array([1., 1.])
    >>> AddOne(p=0.5)
    AddOne(p=0.5)
    >>> AddOne(p=0.5).is_random
    True
    """

    #: Whether the transform draws random numbers each time it is applied.
    _draws_random_numbers = False

    def __init__(self, p=None):
        self.p = check_probability(p, "p", type(self).__name__)

    def __call__(self, data, *args, **kwargs):
        data = self.parse_data(data)
        if self.p is not None and not self._draw_application():
            return data
        return self.apply_transform(data, *args, **kwargs)

    def _draw_application(self):
        """Draw, from torch's generator, whether to apply the transform."""
        return torch.rand(()).item() < self.p

    def parse_data(self, data):
        """Check that the input is a NumPy array or a torch tensor.

        Parameters
        ----------
        data : numpy.ndarray or torch.Tensor
            The input of the transform.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            The same input, once checked.
        """
        if not isinstance(data, (np.ndarray, torch.Tensor)):
            raise TypeError(
                f"{self.name} takes a numpy.ndarray or a torch.Tensor; got "
                f"{type(data).__module__}.{type(data).__qualname__}. Convert "
                "the input first, e.g. with numpy.asarray(data)."
            )
        return data

    @abstractmethod
    def apply_transform(self, data, *args, **kwargs):
        """Transform checked input; every subclass implements it.

        Parameters
        ----------
        data : numpy.ndarray or torch.Tensor
            Input already checked by :meth:`parse_data`.
        *args, **kwargs
            Extra arguments given when the transform is called.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            The transformed input, of the same type.
        """

    @property
    def name(self):
        """Name of the transform's class."""
        return type(self).__name__

    @property
    def is_random(self):
        """Whether two calls on the same input may give different outputs.

        True for the random augmentations and for any transform applied with
        a probability ``p``.
        """
        return self._draws_random_numbers or self.p is not None

    def _repr_parameters(self):
        """The constructor's parameters and their current values, in order."""
        signature = inspect.signature(type(self).__init__)
        return [
            (name, getattr(self, name))
            for name, parameter in signature.parameters.items()
            if name != "self"
            and parameter.kind
            not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        ]

    def __repr__(self):
        arguments = ", ".join(
            f"{name}={describe(value)}" for name, value in self._repr_parameters()
        )
        return f"{self.name}({arguments})"


class VolumeTransform(Transform):
    """Base class of the transforms of 3-D volumes.

    The input is a NumPy array or a torch tensor of shape ``(C, X, Y, Z)``
    (channels first) or ``(X, Y, Z)``; the output has the same type and the
    same layout. Any other number of dimensions is refused with an error
    that names the shape received.

    Parameters
    ----------
    p : float or None, default=None
        Probability of applying the transform; None applies it always.

    Examples
    --------
    A subclass can rely on the layout: here the last axis is the third
    spatial one, with or without a channel axis before.

    >>> import torch
    >>> from nidl.transforms import VolumeTransform
    >>> class FlipZ(VolumeTransform):
    ...     def apply_transform(self, data):
    ...         return data.flip(-1)
    >>> FlipZ()(torch.arange(3.0).reshape(1, 1, 1, 3))
    tensor([[[[2., 1., 0.]]]])
    >>> FlipZ()(torch.ones(2, 2))
    Traceback (most recent call last):
    ...
    ValueError: FlipZ expects a volume of shape (C, X, Y, Z) or (X, Y, Z);
    got shape (2, 2) ...
    """

    #: Whether the transform also accepts spatial image objects (with
    #: ``dataobj`` and ``affine``, as nibabel's) and returns one.
    _accepts_images = False

    def __call__(self, data, *args, **kwargs):
        if is_image(data):
            if not self._accepts_images:
                raise TypeError(
                    f"{self.name} takes a numpy.ndarray or a torch.Tensor of "
                    f"shape (C, X, Y, Z) or (X, Y, Z); got an image object "
                    f"({type(data).__name__}). Pass its voxels, e.g. "
                    "numpy.asarray(image.dataobj), or apply the transforms "
                    "that need the image geometry first."
                )
            check_image_shape(data, self.name)
            if self.p is not None and not self._draw_application():
                return data
            return self._transform_image(data)
        return super().__call__(data, *args, **kwargs)

    def parse_data(self, data):
        """Check that the input is a 3-D or 4-D array or tensor.

        Parameters
        ----------
        data : numpy.ndarray or torch.Tensor
            A volume of shape ``(C, X, Y, Z)`` or ``(X, Y, Z)``.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            The same volume, once checked.
        """
        data = super().parse_data(data)
        if data.ndim not in (3, 4):
            raise ValueError(
                f"{self.name} expects a volume of shape (C, X, Y, Z) or "
                f"(X, Y, Z); got shape {tuple(data.shape)} ({data.ndim} "
                "dimensions). Select one volume of a batch, or add a channel "
                "axis to a 3-D volume with data[None]."
            )
        return data

    def _transform_image(self, image):
        """Transform an image object; the affine is unchanged by default."""
        volume = image_to_volume(image)
        return volume_to_image(image, self.apply_transform(volume), image.affine)


class Identity(Transform):
    """Transform that returns its input unchanged.

    Useful as a placeholder where a transform is expected, for instance as
    one of the views of :class:`MultiViewsTransform`.

    Parameters
    ----------
    p : float or None, default=None
        Probability of applying the transform; None applies it always.

    Examples
    --------
    As one of the views, it keeps the original next to an augmented copy:

    >>> import torch
    >>> from nidl.transforms import Identity, MultiViewsTransform, RandomGaussianNoise
    >>> x = torch.zeros(1, 4, 4, 4)
    >>> original, noisy = MultiViewsTransform([Identity(), RandomGaussianNoise()])(x)
    >>> original is x, bool((noisy != x).any())
    (True, True)
    >>> Identity()
    Identity(p=None)
    """

    def apply_transform(self, data, *args, **kwargs):
        """Return the input unchanged.

        Parameters
        ----------
        data : numpy.ndarray or torch.Tensor
            The input.
        *args, **kwargs
            Ignored.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            The input itself.
        """
        return data


class Compose:
    """Apply a list of transforms one after the other.

    Parameters
    ----------
    transforms : sequence of callables
        The transforms, applied in the order given. They can be nidl
        transforms or any callable that takes and returns one input.

    Attributes
    ----------
    transforms : list of callables
        The transforms, in order.
    is_random : bool
        Whether any of the transforms is random. A callable that does not
        define ``is_random`` counts as random.

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.transforms import Compose, CropOrPad, ZNormalization
    >>> preprocess = Compose([CropOrPad((4, 4, 4)), ZNormalization()])
    >>> preprocess(np.random.rand(6, 5, 3)).shape
    (4, 4, 4)
    >>> preprocess.is_random
    False
    >>> preprocess
    Compose(transforms=[CropOrPad(target_shape=(4, 4, 4),
    padding_mode='constant', constant_values=0.0, p=None),
    ZNormalization(masking_fn=None, eps=1e-08, p=None)])
    """

    def __init__(self, transforms):
        if isinstance(transforms, (str, bytes)) or not isinstance(transforms, Sequence):
            raise TypeError(
                "Compose: transforms must be a list of callables; got "
                f"{type(transforms).__name__}. Wrap a single transform in a "
                "list: Compose([transform])."
            )
        check_callables(
            transforms,
            "Compose",
            hint="; pass transforms (objects that are called on the data)",
        )
        self.transforms = list(transforms)

    def __call__(self, data):
        for transform in self.transforms:
            data = transform(data)
        return data

    @property
    def is_random(self):
        """Whether any of the transforms is random."""
        return any(is_random_transform(t) for t in self.transforms)

    def __repr__(self):
        return f"Compose(transforms={describe(self.transforms)})"


class MultiViewsTransform(Transform):
    """Produce several views of one input, each from a transform.

    Contrastive and other self-supervised methods train on several randomly
    augmented views of each sample: give one random transform and
    ``n_views`` to draw that many views, or a list of transforms to get one
    view from each.

    Parameters
    ----------
    transforms : callable or sequence of callables
        One transform, applied ``n_views`` times, or a list of transforms,
        each applied once to the input.
    n_views : int or None, default=None
        Number of views made with a single transform (None means 1, 0 gives
        an empty list). With a list of transforms it must be None or 1.
    p : float or None, default=None
        Probability of transforming the input; when it is not, each view is
        the input itself (the output is still a list). None transforms it
        always.

    Attributes
    ----------
    transforms : list of callables
        The transform that makes each view, one per view.

    Examples
    --------
    >>> import torch
    >>> from nidl.transforms import MultiViewsTransform, RandomGaussianNoise
    >>> views = MultiViewsTransform(RandomGaussianNoise(), n_views=2)
    >>> a, b = views(torch.zeros(1, 4, 4, 4))
    >>> a.shape, bool((a != b).any())
    (torch.Size([1, 4, 4, 4]), True)
    >>> views.is_random
    True
    """

    def __init__(self, transforms, n_views=None, p=None):
        super().__init__(p=p)
        owner = type(self).__name__
        if n_views is not None and not is_integer(n_views):
            raise TypeError(
                f"{owner}: n_views={n_views!r} must be an int (the number of "
                "views), or None for one view."
            )
        if n_views is not None and n_views < 0:
            raise ValueError(
                f"{owner}: n_views={n_views!r} must be 0 or more (the number "
                "of views), or None for one view."
            )
        if callable(transforms):
            views = [transforms] * (1 if n_views is None else int(n_views))
        elif isinstance(transforms, Sequence) and not isinstance(transforms, str):
            if n_views not in (None, 1):
                raise ValueError(
                    f"{owner}: n_views={n_views!r} was given with a list of "
                    f"{len(transforms)} transforms, which makes one view per "
                    "transform; leave n_views=None, or pass a single transform "
                    "to apply n_views times."
                )
            check_callables(transforms, owner)
            views = list(transforms)
        else:
            raise TypeError(
                f"{owner}: transforms must be a callable or a list of "
                f"callables; got {type(transforms).__name__}."
            )
        self._transforms_argument = transforms
        self.n_views = n_views
        self.transforms = views

    def parse_data(self, data):
        """Return the input as it is: each view's transform checks it.

        Parameters
        ----------
        data : object
            The input.

        Returns
        -------
        object
            The same input.
        """
        return data

    def __call__(self, data, *args, **kwargs):
        if self.p is not None and not self._draw_application():
            return [data for _ in self.transforms]
        return self.apply_transform(data, *args, **kwargs)

    def apply_transform(self, data, *args, **kwargs):
        """Make the views.

        Parameters
        ----------
        data : object
            The input.
        *args, **kwargs
            Given to each view's transform.

        Returns
        -------
        list
            One transformed input per view.
        """
        return [transform(data, *args, **kwargs) for transform in self.transforms]

    @property
    def is_random(self):
        """Whether any view is random, or the views are applied with ``p``."""
        return self.p is not None or any(
            is_random_transform(t) for t in self.transforms
        )

    def _repr_parameters(self):
        transforms = self._transforms_argument
        if not callable(transforms):
            transforms = list(transforms)
        return [("transforms", transforms), ("n_views", self.n_views), ("p", self.p)]
