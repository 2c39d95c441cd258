"""Random augmentation of 3-D volumes: intensities and geometry.

Every random number is drawn from torch's generator (``torch.rand``,
``torch.randint``, ``torch.randn``), never from NumPy's or Python's, so that
``torch.manual_seed`` and the per-worker seeding of a ``DataLoader`` make
each epoch's augmentations reproducible. The same parameters are drawn for
all channels of a volume.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from .._base import (
    VolumeTransform,
    _as_python_number,
    _check_probability,
    _check_range,
    _check_shape,
    _is_number,
    _like,
    _to_numpy,
    _uniform,
)
from .preprocessing import _check_interpolation, _resample_voxel_grid, _spatial_shape

__all__ = [
    "RandomErasing",
    "RandomFlip",
    "RandomGaussianBlur",
    "RandomGaussianNoise",
    "RandomResizedCrop",
    "RandomRotation",
]


class RandomGaussianBlur(VolumeTransform):
    r"""Blur a volume with a Gaussian kernel of random width.

    A standard deviation :math:`\sigma_i \sim \mathcal{U}(a_i, b_i)`, in
    voxels, is drawn for each spatial axis and the volume is smoothed with
    the separable Gaussian kernel of these widths (the same for all
    channels; edges are mirrored). A width of 0 leaves an axis unchanged.

    Parameters
    ----------
    sigma : (float, float) or (float, float, float, float, float, float), \
            default=(0, 2)
        Range ``(a, b)`` of the standard deviation along every axis, or one
        range per axis, ``(a_x, b_x, a_y, b_y, a_z, b_z)``.
    p : float or None, default=None
        Probability of applying the transform; None applies it always.

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.transforms import RandomGaussianBlur
    >>> volume = np.zeros((5, 5, 5))
    >>> volume[2, 2, 2] = 1.0
    >>> blurred = RandomGaussianBlur(sigma=(1, 1))(volume)
    >>> round(float(blurred.sum()), 6), bool(blurred[2, 2, 2] < 1)
    (1.0, True)
    """

    _draws_random_numbers = True

    def __init__(self, sigma=(0, 2), p=None):
        super().__init__(p=p)
        owner = type(self).__name__
        try:
            values = tuple(sigma)
        except TypeError:
            values = ()
        if len(values) not in (2, 6):
            raise ValueError(
                f"{owner}: sigma={sigma!r} must be a range (low, high) of "
                "standard deviations in voxels, or three ranges (one per "
                "spatial axis) as six numbers."
            )
        ranges = [values[i : i + 2] for i in range(0, len(values), 2)]
        for axis, pair in enumerate(ranges):
            name = "sigma" if len(ranges) == 1 else f"sigma[{2 * axis}:{2 * axis + 2}]"
            _check_range(pair, name, owner, minimum=0)
        self.sigma = tuple(_as_python_number(v) for v in values)

    def apply_transform(self, data):
        """Blur the volume with randomly drawn widths.

        Parameters
        ----------
        data : numpy.ndarray or torch.Tensor
            Volume of shape ``(C, X, Y, Z)`` or ``(X, Y, Z)``.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            Blurred volume, of the same type and shape.
        """
        from scipy import ndimage

        ranges = self.sigma * 3 if len(self.sigma) == 2 else self.sigma
        widths = [_uniform(ranges[i], ranges[i + 1]) for i in range(0, 6, 2)]
        # A width of 0 along the channel axis keeps channels apart.
        widths = [0.0] * (data.ndim - 3) + widths
        return _like(ndimage.gaussian_filter(_to_numpy(data), widths), data)


class RandomGaussianNoise(VolumeTransform):
    r"""Add Gaussian noise of random mean and standard deviation.

    A mean :math:`\mu` and a standard deviation
    :math:`\sigma \sim \mathcal{U}(a, b)` are drawn, then independent noise
    :math:`\mathcal{N}(\mu, \sigma^2)` is added to every voxel.

    Parameters
    ----------
    mean : float or (float, float), default=0.0
        Mean of the noise, or a range ``(low, high)`` to draw it from.
    std : (float, float), default=(0.1, 1.0)
        Range of the standard deviation of the noise.
    p : float or None, default=None
        Probability of applying the transform; None applies it always.

    Examples
    --------
    >>> import torch
    >>> from nidl.transforms import RandomGaussianNoise
    >>> noisy = RandomGaussianNoise(std=(0.5, 0.5))(torch.zeros(1, 20, 20, 20))
    >>> round(noisy.std().item(), 1)
    0.5
    """

    _draws_random_numbers = True

    def __init__(self, mean=0.0, std=(0.1, 1.0), p=None):
        super().__init__(p=p)
        owner = type(self).__name__
        if _is_number(mean):
            self.mean = _as_python_number(mean)
        else:
            self.mean = _check_range(mean, "mean", owner)
        self.std = _check_range(std, "std", owner, minimum=0)

    def apply_transform(self, data):
        """Add noise drawn with random parameters.

        Parameters
        ----------
        data : numpy.ndarray or torch.Tensor
            Volume of shape ``(C, X, Y, Z)`` or ``(X, Y, Z)``.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            Noisy volume, of the same type and shape (floating point).
        """
        mean = self.mean if _is_number(self.mean) else _uniform(*self.mean)
        std = _uniform(*self.std)
        if isinstance(data, torch.Tensor):
            dtype = data.dtype if data.is_floating_point() else torch.get_default_dtype()
        else:
            dtype = torch.float64 if data.dtype == np.float64 else torch.float32
        # Drawn on the CPU, so the noise is the same whatever the device.
        noise = torch.randn(tuple(data.shape), dtype=dtype) * std + mean
        if isinstance(data, torch.Tensor):
            return data + noise.to(data.device)
        return data + noise.numpy()


def _anatomical_axis(label, affine, owner):
    """The voxel axis (0, 1 or 2) that runs along an anatomical direction.

    Each voxel axis is matched with the world axis (x: left-right,
    y: posterior-anterior, z: inferior-superior) that its column of the
    affine points along the most.
    """
    world_axis = {"LR": 0, "AP": 1, "IS": 2}[label]
    if affine is None:
        # Without an affine the voxel axes are taken to be in RAS+ order.
        return world_axis
    if isinstance(affine, torch.Tensor):
        affine = affine.detach().cpu().numpy()
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4):
        raise ValueError(
            f"{owner}: the affine must be a 4x4 matrix; got shape {affine.shape}."
        )
    directions = np.abs(affine[:3, :3]).argmax(axis=0)
    matches = np.flatnonzero(directions == world_axis)
    if matches.size == 0:
        raise ValueError(
            f"{owner}: no voxel axis of the affine runs along {label!r}; the "
            f"axes run along world axes {directions.tolist()} (0: LR, 1: AP, "
            "2: IS). Give the axis as an index instead."
        )
    return int(matches[0])


def _check_axis(axis, name, owner):
    if isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
        if axis in (0, 1, 2):
            return int(axis)
    elif axis in ("LR", "AP", "IS"):
        return axis
    raise ValueError(
        f"{owner}: {name} holds {axis!r}; an axis is a spatial axis 0, 1 or 2 "
        "(the channel axis is never counted), or an anatomical direction "
        "'LR', 'AP' or 'IS'."
    )


def _spatial_dims(axes, data):
    """Spatial axes as dimensions of the data (after any channel axis)."""
    return tuple(axis + data.ndim - 3 for axis in axes)


class RandomFlip(VolumeTransform):
    """Reverse a volume along randomly chosen spatial axes.

    Each axis of ``axes`` is flipped with probability ``flip_probability``,
    independently of the others. Axes are spatial indices (0, 1, 2; the
    channel axis is never flipped) or anatomical directions ('LR', 'AP',
    'IS'), found from the affine given when the transform is called,
    ``flip(volume, affine)``; without one, voxel axes are taken to be in
    RAS+ order.

    Parameters
    ----------
    axes : int, str or sequence of int or str, default=0
        The axes that may be flipped.
    flip_probability : float, default=1.0
        Probability of flipping each axis.
    p : float or None, default=None
        Probability of applying the transform; None applies it always.

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.transforms import RandomFlip
    >>> volume = np.arange(8).reshape(2, 2, 2)
    >>> RandomFlip(axes=2)(volume)[0]
    array([[1, 0],
           [3, 2]])
    >>> RandomFlip(axes=(0, "AP"), flip_probability=0.5)
    RandomFlip(axes=(0, 'AP'), flip_probability=0.5, p=None)
    """

    _draws_random_numbers = True

    def __init__(self, axes=0, flip_probability=1.0, p=None):
        super().__init__(p=p)
        owner = type(self).__name__
        if isinstance(axes, (numbers.Integral, str)):
            axes = (axes,)
        try:
            axes = tuple(axes)
        except TypeError:
            axes = (axes,)
        if not axes:
            raise ValueError(f"{owner}: axes=() holds no axis; give at least one.")
        self.axes = tuple(_check_axis(axis, f"axes={axes!r}", owner) for axis in axes)
        self.flip_probability = _check_probability(
            flip_probability, "flip_probability", owner
        )

    def apply_transform(self, data, affine=None):
        """Flip the volume along randomly chosen axes.

        Parameters
        ----------
        data : numpy.ndarray or torch.Tensor
            Volume of shape ``(C, X, Y, Z)`` or ``(X, Y, Z)``.
        affine : array-like of shape (4, 4), optional
            The volume's affine, to find anatomical axes.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            Flipped volume, a new array or tensor of the same type and shape.
        """
        if affine is None:
            affine = getattr(data, "affine", None)
        flipped = []
        for axis in self.axes:
            # One draw per axis, whatever the probability, so the draws that
            # follow do not depend on it.
            if torch.rand(()).item() < self.flip_probability:
                if isinstance(axis, str):
                    axis = _anatomical_axis(axis, affine, self.name)
                flipped.append(axis)
        dims = _spatial_dims(flipped, data)
        if isinstance(data, torch.Tensor):
            return torch.flip(data, dims) if dims else data.clone()
        return np.flip(data, dims).copy() if dims else data.copy()


class RandomRotation(VolumeTransform):
    """Rotate a volume by a random multiple of 90 degrees in given planes.

    For each plane (a pair of spatial axes), with probability
    ``rotation_probability``, the volume is rotated by 90, 180 or 270
    degrees, drawn uniformly, from the first axis towards the second (as
    :func:`numpy.rot90`). Rotations by multiples of 90 degrees move voxels
    without interpolation; a rotation by 90 or 270 degrees swaps the sizes
    of the two axes. Axes are spatial indices (0, 1, 2) or anatomical
    directions ('LR', 'AP', 'IS'), found from the affine given when the
    transform is called; without one, voxel axes are taken to be in RAS+
    order.

    Parameters
    ----------
    axes : (int or str, int or str) or sequence of such pairs, default=(0, 1)
        The plane of rotation, or several planes, each rotated in turn.
    rotation_probability : float, default=1.0
        Probability of rotating in each plane.
    p : float or None, default=None
        Probability of applying the transform; None applies it always.

    Examples
    --------
    >>> import torch
    >>> from nidl.transforms import RandomRotation
    >>> volume = torch.zeros(1, 4, 4, 4)
    >>> rotate = RandomRotation(axes=((0, 1), ("AP", "IS")))
    >>> rotate(volume).shape
    torch.Size([1, 4, 4, 4])
    >>> rotate
    RandomRotation(axes=((0, 1), ('AP', 'IS')), rotation_probability=1.0, p=None)
    """

    _draws_random_numbers = True

    def __init__(self, axes=(0, 1), rotation_probability=1.0, p=None):
        super().__init__(p=p)
        owner = type(self).__name__
        message = (
            f"{owner}: axes={axes!r} must be a pair of different spatial axes "
            "(0, 1, 2 or 'LR', 'AP', 'IS'), e.g. (0, 1), or a sequence of "
            "such pairs, e.g. ((0, 1), (1, 2))."
        )
        try:
            planes = tuple(axes)
        except TypeError:
            raise ValueError(message) from None
        if len(planes) == 2 and all(isinstance(a, (numbers.Integral, str)) for a in planes):
            planes = (planes,)
        checked = []
        for plane in planes:
            if isinstance(plane, str) or not hasattr(plane, "__len__") or len(plane) != 2:
                raise ValueError(message)
            pair = tuple(_check_axis(a, f"axes={axes!r}", owner) for a in plane)
            if pair[0] == pair[1]:
                raise ValueError(message)
            checked.append(pair)
        if not checked:
            raise ValueError(message)
        self.axes = tuple(checked)
        self.rotation_probability = _check_probability(
            rotation_probability, "rotation_probability", owner
        )

    def apply_transform(self, data, affine=None):
        """Rotate the volume by random multiples of 90 degrees.

        Parameters
        ----------
        data : numpy.ndarray or torch.Tensor
            Volume of shape ``(C, X, Y, Z)`` or ``(X, Y, Z)``.
        affine : array-like of shape (4, 4), optional
            The volume's affine, to find anatomical axes.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            Rotated volume, a new array or tensor of the same type.
        """
        if affine is None:
            affine = getattr(data, "affine", None)
        rotated = False
        for plane in self.axes:
            if torch.rand(()).item() >= self.rotation_probability:
                continue
            quarter_turns = int(torch.randint(1, 4, ()).item())
            pair = [
                _anatomical_axis(a, affine, self.name) if isinstance(a, str) else a
                for a in plane
            ]
            if pair[0] == pair[1]:
                raise ValueError(
                    f"{self.name}: the plane {plane!r} names voxel axis "
                    f"{pair[0]} twice with this affine; give two different axes."
                )
            dims = _spatial_dims(pair, data)
            if isinstance(data, torch.Tensor):
                data = torch.rot90(data, quarter_turns, dims)
            else:
                data = np.rot90(data, quarter_turns, dims)
            rotated = True
        if isinstance(data, torch.Tensor):
            return data if rotated else data.clone()
        # np.rot90 returns a view with negative strides, which torch cannot
        # wrap; a contiguous copy can.
        return np.ascontiguousarray(data) if rotated else data.copy()


def _sample_box(spatial_shape, scale, ratio, minimum_size):
    """Draw a box covering a random fraction of a volume, with random aspect.

    The box's volume is ``s * prod(spatial_shape)`` with ``s`` drawn in
    ``scale``; its sides are the cube root of that volume times aspect
    factors drawn log-uniformly in ``ratio``, one per axis, normalised to a
    geometric mean of 1. A box that does not fit is drawn again (10 times),
    then once with equal sides; None if that fails too.
    """
    total = math.prod(spatial_shape)

    def attempt(ratio):
        side = (_uniform(*scale) * total) ** (1 / 3)
        log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
        aspects = [math.exp(_uniform(log_low, log_high)) for _ in range(3)]
        geometric_mean = math.prod(aspects) ** (1 / 3)
        sizes = [max(minimum_size, round(side * a / geometric_mean)) for a in aspects]
        if any(size > n for size, n in zip(sizes, spatial_shape)):
            return None
        starts = [int(torch.randint(0, n - size + 1, ()).item())
                  for size, n in zip(sizes, spatial_shape)]
        return tuple(slice(start, start + size) for start, size in zip(starts, sizes))

    for _ in range(10):
        box = attempt(ratio)
        if box is not None:
            return box
    return attempt((1.0, 1.0))


class RandomResizedCrop(VolumeTransform):
    """Crop a random box of a volume and resize it to a target shape.

    The three-dimensional form of the random resized crop used to train
    image classifiers: the box covers a fraction of the volume drawn in
    ``scale``; its "aspect" along each axis, the side relative to the
    geometric mean of the three sides, is drawn log-uniformly in ``ratio``.
    The crop is then resampled to ``target_shape`` (as :class:`Resize`).
    The same box is used for all channels. If no box fits after a few
    draws, the whole volume is resized.

    Parameters
    ----------
    target_shape : int or (int, int, int)
        Spatial shape of the output; one int gives a cube.
    scale : (float, float), default=(0.08, 1.0)
        Range of the fraction of the volume that the box covers.
    ratio : (float, float), default=(0.75, 1.33)
        Range of the aspect of each side of the box.
    interpolation : {"linear", "nearest", "bspline", "cubic"}, default="linear"
        How the crop is resampled to ``target_shape``.
    p : float or None, default=None
        Probability of applying the transform; None applies it always.

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.transforms import RandomResizedCrop
    >>> volume = np.random.rand(2, 16, 16, 16)
    >>> RandomResizedCrop(8, scale=(0.2, 0.5))(volume).shape
    (2, 8, 8, 8)
    """

    _draws_random_numbers = True

    def __init__(
        self,
        target_shape,
        scale=(0.08, 1.0),
        ratio=(0.75, 1.33),
        interpolation="linear",
        p=None,
    ):
        super().__init__(p=p)
        owner = type(self).__name__
        self.target_shape = _check_shape(target_shape, "target_shape", owner)
        self.scale = _check_range(scale, "scale", owner, minimum=0, maximum=1)
        self.ratio = _check_range(ratio, "ratio", owner, positive=True)
        self.interpolation = _check_interpolation(interpolation, owner)

    def apply_transform(self, data):
        """Crop a random box and resize it.

        Parameters
        ----------
        data : numpy.ndarray or torch.Tensor
            Volume of shape ``(C, X, Y, Z)`` or ``(X, Y, Z)``.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            Volume of spatial shape ``target_shape``, of the same type.
        """
        shape = _spatial_shape(data)
        box = _sample_box(shape, self.scale, self.ratio, minimum_size=1)
        if box is None:
            box = tuple(slice(0, n) for n in shape)
        crop = data[(slice(None),) * (data.ndim - 3) + box]
        step = [
            (b.stop - b.start) / target for b, target in zip(box, self.target_shape)
        ]
        return _resample_voxel_grid(crop, self.target_shape, step, self.interpolation)


class RandomErasing(VolumeTransform):
    """Erase random boxes of a volume.

    The three-dimensional form of random erasing [1]_ (cutout [2]_ with
    boxes of random size and aspect): ``num_iterations`` boxes, each
    covering a fraction of the volume drawn in ``scale``, with sides whose
    aspect is drawn log-uniformly in ``ratio``, are filled with ``value``,
    across all channels. A box that does not fit after a few draws is
    skipped.

    Parameters
    ----------
    scale : (float, float), default=(0.02, 0.33)
        Range of the fraction of the volume that each box covers.
    ratio : (float, float), default=(1.0, 3.0)
        Range of the aspect of each side of a box (its side relative to the
        geometric mean of the three sides).
    num_iterations : int, default=1
        Number of boxes erased.
    value : float, "mean" or "random", default=0.0
        What fills a box: a number, the mean of the box's voxels, or
        standard normal noise.
    inplace : bool, default=False
        Whether to erase in the input itself rather than in a copy.
    p : float or None, default=None
        Probability of applying the transform; None applies it always.

    References
    ----------
    .. [1] Zhong, Zheng, Kang, Li and Yang, "Random Erasing Data
       Augmentation", AAAI 2020.
    .. [2] DeVries and Taylor, "Improved Regularization of Convolutional
       Neural Networks with Cutout", arXiv:1708.04552, 2017.

    Examples
    --------
    >>> import torch
    >>> from nidl.transforms import RandomErasing
    >>> volume = torch.ones(1, 10, 10, 10)
    >>> erased = RandomErasing(scale=(0.1, 0.1), ratio=(1, 1))(volume)
    >>> int((erased == 0).sum())  # a 10-voxel-wide cube's tenth
    125
    """

    _draws_random_numbers = True

    def __init__(
        self,
        scale=(0.02, 0.33),
        ratio=(1.0, 3.0),
        num_iterations=1,
        value=0.0,
        inplace=False,
        p=None,
    ):
        super().__init__(p=p)
        owner = type(self).__name__
        self.scale = _check_range(scale, "scale", owner, minimum=0, maximum=1)
        self.ratio = _check_range(ratio, "ratio", owner, positive=True)
        if (
            not isinstance(num_iterations, numbers.Integral)
            or isinstance(num_iterations, bool)
            or num_iterations < 1
        ):
            raise ValueError(
                f"{owner}: num_iterations={num_iterations!r} must be a positive "
                "int, the number of boxes to erase."
            )
        self.num_iterations = int(num_iterations)
        if _is_number(value):
            value = _as_python_number(value)
        elif value not in ("mean", "random"):
            raise ValueError(
                f"{owner}: value={value!r} must be a number, 'mean' or 'random'."
            )
        self.value = value
        if not isinstance(inplace, bool):
            raise TypeError(f"{owner}: inplace={inplace!r} must be True or False.")
        self.inplace = inplace

    def apply_transform(self, data):
        """Erase random boxes.

        Parameters
        ----------
        data : numpy.ndarray or torch.Tensor
            Volume of shape ``(C, X, Y, Z)`` or ``(X, Y, Z)``.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            The volume with erased boxes: the input itself when ``inplace``,
            a copy otherwise.
        """
        if not self.inplace:
            data = data.clone() if isinstance(data, torch.Tensor) else data.copy()
        shape = _spatial_shape(data)
        for _ in range(self.num_iterations):
            box = _sample_box(shape, self.scale, self.ratio, minimum_size=0)
            if box is None:
                continue
            region = (slice(None),) * (data.ndim - 3) + box
            values = data[region]
            if values.shape.numel() if isinstance(data, torch.Tensor) else values.size:
                if self.value == "mean":
                    data[region] = values.mean()
                elif self.value == "random":
                    noise = torch.randn(tuple(values.shape))
                    if isinstance(data, torch.Tensor):
                        data[region] = noise.to(device=data.device, dtype=data.dtype)
                    else:
                        data[region] = noise.numpy()
                else:
                    data[region] = self.value
        return data
