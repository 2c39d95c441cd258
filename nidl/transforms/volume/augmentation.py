"""Random augmentation of 3-D volumes: intensities and geometry.

Every random number is drawn from torch's generator (``torch.rand``,
``torch.randint``, ``torch.randn``), never from NumPy's or Python's, so that
``torch.manual_seed`` and the per-worker seeding of a ``DataLoader`` make
each epoch's augmentations reproducible. The same parameters are drawn for
all channels of a volume.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from .._utils import (
    as_python_number,
    as_tuple,
    as_type_of,
    cast_to_dtype,
    check_probability,
    check_range,
    check_shape,
    computing_dtype,
    is_number,
    is_positive_int,
    to_numpy,
    uniform,
)
from ..transforms import VolumeTransform
from ._functional import (
    anatomical_axis,
    as_float,
    check_axis,
    check_interpolation,
    integer_fill,
    is_floating,
    resample_voxel_grid,
    sample_box,
    spatial_dims,
    spatial_shape,
)

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
    sigma : sequence of 2 or 6 floats, default=(0, 2)
        Range ``(a, b)`` of the standard deviation along every axis, or one
        range per axis, ``(a_x, b_x, a_y, b_y, a_z, b_z)``. It is stored
        per axis: ``sigma=(0, 2)`` is kept as ``(0, 2, 0, 2, 0, 2)``.
    p : float or None, default=None
        Probability of applying the transform; None applies it always.

    Notes
    -----
    The output has the input's dtype: integers are rounded to the nearest,
    and float16 volumes are blurred in float32 (SciPy does not filter
    float16).

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.transforms import RandomGaussianBlur
    >>> volume = np.zeros((5, 5, 5))
    >>> volume[2, 2, 2] = 1.0
    >>> blurred = RandomGaussianBlur(sigma=(1, 1))(volume)
    >>> round(float(blurred.sum()), 6), bool(blurred[2, 2, 2] < 1)
    (1.0, True)
    >>> RandomGaussianBlur(sigma=(0.5, 1.0)).sigma
    (0.5, 1.0, 0.5, 1.0, 0.5, 1.0)
    """

    _draws_random_numbers = True

    def __init__(self, sigma=(0, 2), p=None):
        super().__init__(p=p)
        owner = type(self).__name__
        try:
            values = tuple(sigma)
        except TypeError:
            raise TypeError(
                f"{owner}: sigma={sigma!r} must be a range (low, high) of "
                "standard deviations in voxels, or three ranges (one per "
                f"spatial axis) as six numbers; got a {type(sigma).__name__}."
            ) from None
        if len(values) not in (2, 6):
            raise ValueError(
                f"{owner}: sigma={sigma!r} holds {len(values)} values; give a "
                "range (low, high) of standard deviations in voxels, or three "
                "ranges (one per spatial axis) as six numbers."
            )
        ranges = [values[i : i + 2] for i in range(0, len(values), 2)]
        for axis, pair in enumerate(ranges):
            name = "sigma" if len(ranges) == 1 else f"sigma[{2 * axis}:{2 * axis + 2}]"
            check_range(pair, name, owner, minimum=0)
        if len(ranges) == 1:
            values = values * 3
        self.sigma = tuple(as_python_number(v) for v in values)

    def apply_transform(self, data):
        """Return the volume blurred with randomly drawn widths, of the same
        type, shape and dtype."""
        from scipy import ndimage

        sigma = self.sigma
        widths = [uniform(sigma[i], sigma[i + 1]) for i in range(0, 6, 2)]
        # A width of 0 along the channel axis keeps channels apart.
        widths = [0.0] * (data.ndim - 3) + widths
        volume = to_numpy(data)
        blurred = ndimage.gaussian_filter(
            volume.astype(computing_dtype(volume.dtype), copy=False), widths
        )
        return as_type_of(cast_to_dtype(blurred, volume.dtype), data)


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

    Notes
    -----
    The output has the input's dtype: for integer volumes, the sum is
    rounded to the nearest integer and clipped to the dtype's range.

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
        if is_number(mean):
            self.mean = as_python_number(mean)
        else:
            self.mean = check_range(mean, "mean", owner)
        self.std = check_range(std, "std", owner, minimum=0)

    def apply_transform(self, data):
        """Return the volume plus noise drawn with random parameters, of the
        same type, shape and dtype (integers rounded to the nearest and
        clipped to the dtype's range)."""
        mean = self.mean if is_number(self.mean) else uniform(*self.mean)
        std = uniform(*self.std)
        work = as_float(data)
        double = str(work.dtype).endswith("float64")
        # Drawn on the CPU, so the noise is the same whatever the device.
        noise = torch.randn(
            tuple(data.shape), dtype=torch.float64 if double else torch.float32
        )
        noise = noise * std + mean
        if isinstance(data, torch.Tensor):
            noisy = work + noise.to(device=data.device, dtype=work.dtype)
        else:
            noisy = work + noise.numpy()
        return cast_to_dtype(noisy, data.dtype)


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
        self.axes = tuple(check_axis(axis, f"axes={axes!r}", owner) for axis in axes)
        self.flip_probability = check_probability(
            flip_probability, "flip_probability", owner
        )

    def apply_transform(self, data, affine=None):
        """Return a copy of the volume flipped along randomly chosen axes.

        ``affine``, the volume's 4x4 affine (by default its ``affine``
        attribute, if any), locates the anatomical axes.
        """
        if affine is None:
            affine = getattr(data, "affine", None)
        flipped = []
        for axis in self.axes:
            # One draw per axis, whatever the probability, so the draws that
            # follow do not depend on it.
            if torch.rand(()).item() < self.flip_probability:
                if isinstance(axis, str):
                    axis = anatomical_axis(axis, affine, self.name)
                flipped.append(axis)
        dims = spatial_dims(flipped, data)
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
        planes = as_tuple(axes, message)
        if len(planes) == 2 and all(
            isinstance(a, (numbers.Integral, str)) for a in planes
        ):
            planes = (planes,)
        checked = []
        for plane in planes:
            if (
                isinstance(plane, str)
                or not hasattr(plane, "__len__")
                or len(plane) != 2
            ):
                raise ValueError(message)
            pair = tuple(check_axis(a, f"axes={axes!r}", owner) for a in plane)
            if pair[0] == pair[1]:
                raise ValueError(message)
            checked.append(pair)
        if not checked:
            raise ValueError(message)
        self.axes = tuple(checked)
        self.rotation_probability = check_probability(
            rotation_probability, "rotation_probability", owner
        )

    def apply_transform(self, data, affine=None):
        """Return the volume rotated by random multiples of 90 degrees in each
        plane, a new array or tensor of the same type; ``affine`` locates
        the anatomical axes, as for :class:`RandomFlip`.
        """
        if affine is None:
            affine = getattr(data, "affine", None)
        rotated = False
        for plane in self.axes:
            if torch.rand(()).item() >= self.rotation_probability:
                continue
            quarter_turns = int(torch.randint(1, 4, ()).item())
            pair = [
                anatomical_axis(a, affine, self.name) if isinstance(a, str) else a
                for a in plane
            ]
            if pair[0] == pair[1]:
                raise ValueError(
                    f"{self.name}: the plane {plane!r} names voxel axis "
                    f"{pair[0]} twice with this affine; give two different axes."
                )
            dims = spatial_dims(pair, data)
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
    interpolation : str, default="linear"
        How the crop is resampled to ``target_shape``; the names and the
        resampling each stands for are those of
        :class:`~nidl.transforms.Resample`.
    p : float or None, default=None
        Probability of applying the transform; None applies it always.

    Notes
    -----
    The box is drawn by the static method :meth:`_sample_3d_box`, called
    through the class, so that a subclass (or a test) can replace it. The
    output has the input's dtype (integers rounded to the nearest).

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
        self.target_shape = check_shape(target_shape, "target_shape", owner)
        self.scale = check_range(scale, "scale", owner, minimum=0, maximum=1)
        self.ratio = check_range(ratio, "ratio", owner, positive=True)
        self.interpolation = check_interpolation(interpolation, owner)

    @staticmethod
    def _sample_3d_box(in_shape, scale, ratio):
        """Draw the box to crop: a list of three slices, one per spatial axis.

        The box covers a fraction drawn in ``scale`` of a volume of spatial
        shape ``in_shape``, with aspects drawn log-uniformly in ``ratio``
        (see the class's description); each side has at least one voxel.
        If no box fits, the whole volume.
        """
        box = sample_box(tuple(in_shape), scale, ratio, minimum_size=1)
        if box is None:
            return [slice(0, n) for n in in_shape]
        return box

    def apply_transform(self, data):
        """Return a random box of the volume resized to ``target_shape``, of the
        same type and dtype."""
        box = type(self)._sample_3d_box(spatial_shape(data), self.scale, self.ratio)
        crop = data[(slice(None),) * (data.ndim - 3) + tuple(box)]
        step = [
            (b.stop - b.start) / target for b, target in zip(box, self.target_shape)
        ]
        return resample_voxel_grid(crop, self.target_shape, step, self.interpolation)


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
        standard normal noise. Another string is an error when the
        transform is called.
    inplace : bool, default=False
        Whether to erase in the input itself rather than in a copy.
    p : float or None, default=None
        Probability of applying the transform; None applies it always.

    Notes
    -----
    Each box is drawn by the static method :meth:`_sample_3d_box`, called
    through the class, so that a subclass (or a test) can replace it. The
    output has the input's dtype: a fill value, a box mean or noise is
    rounded to the nearest integer, and clipped to the dtype's range, in an
    integer volume.

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
    >>> int((erased == 0).sum())  # a tenth of the volume: a 4x5x5 box
    100
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
        self.scale = check_range(scale, "scale", owner, minimum=0, maximum=1)
        self.ratio = check_range(ratio, "ratio", owner, positive=True)
        if not is_positive_int(num_iterations):
            raise ValueError(
                f"{owner}: num_iterations={num_iterations!r} must be a positive "
                "int, the number of boxes to erase."
            )
        self.num_iterations = int(num_iterations)
        if is_number(value):
            value = as_python_number(value)
        elif not isinstance(value, str):
            raise TypeError(
                f"{owner}: value={value!r} must be a number, 'mean' or 'random'; "
                f"got a {type(value).__name__}."
            )
        # Another string is refused when the transform is called, as code
        # written for other versions of this transform expects.
        self.value = value
        if not isinstance(inplace, bool):
            raise TypeError(f"{owner}: inplace={inplace!r} must be True or False.")
        self.inplace = inplace

    @staticmethod
    def _sample_3d_box(in_shape, scale, ratio):
        """Draw a box to erase: a list of three slices, one per spatial axis.

        The box covers a fraction drawn in ``scale`` of a volume of spatial
        shape ``in_shape``, with aspects drawn log-uniformly in ``ratio``
        (see the class's description). If no box fits, an empty box.
        """
        box = sample_box(tuple(in_shape), scale, ratio, minimum_size=0)
        if box is None:
            return [slice(0, 0) for _ in in_shape]
        return box

    def apply_transform(self, data):
        """Return the volume with random boxes erased: the input itself when
        ``inplace``, a copy otherwise."""
        if not is_number(self.value) and self.value not in ("mean", "random"):
            raise ValueError(
                f"{self.name}: value={self.value!r} must be a number, 'mean' or "
                "'random'."
            )
        if not self.inplace:
            data = data.clone() if isinstance(data, torch.Tensor) else data.copy()
        shape = spatial_shape(data)
        is_tensor = isinstance(data, torch.Tensor)
        for _ in range(self.num_iterations):
            box = type(self)._sample_3d_box(shape, self.scale, self.ratio)
            # The same box in every channel.
            region = (slice(None),) * (data.ndim - 3) + tuple(box)
            values = data[region]
            if (values.numel() if is_tensor else values.size) == 0:
                continue
            if self.value == "mean":
                # In double precision, so that the global mean moves as little
                # as the dtype allows.
                if is_tensor:
                    fill = values.to(torch.float64).mean().item()
                else:
                    fill = float(values.astype(np.float64).mean())
            elif self.value == "random":
                # Drawn on the CPU, so the noise is the same whatever the device.
                fill = torch.randn(tuple(values.shape), dtype=torch.float64)
                fill = fill if is_tensor else fill.numpy()
            else:
                fill = self.value
            if not is_floating(data):
                fill = integer_fill(fill, data)
            if isinstance(fill, torch.Tensor):
                fill = fill.to(device=data.device, dtype=data.dtype)
            data[region] = fill
        return data
