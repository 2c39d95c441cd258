"""Helpers of the volume transforms: intensities per channel, resampling on
a voxel grid, spatial and anatomical axes, random boxes."""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from .._utils import (
    as_type_of,
    cast_to_dtype,
    computing_dtype,
    is_integer,
    to_numpy,
    uniform,
)


def as_float(data):
    """A volume in the floating-point dtype its statistics are computed in:
    float32 and float64 as they are, float16 as float32 (more precise sums),
    integers as torch's default dtype (tensors) or float64 (arrays)."""
    if isinstance(data, torch.Tensor):
        if data.dtype in (torch.float32, torch.float64):
            return data
        if data.is_floating_point():
            return data.to(torch.float32)
        return data.to(torch.get_default_dtype())
    return data.astype(computing_dtype(data.dtype), copy=False)


def is_floating(data):
    """Whether a volume holds floating-point numbers."""
    if isinstance(data, torch.Tensor):
        return data.is_floating_point()
    return np.issubdtype(data.dtype, np.floating)


def integer_fill(fill, data):
    """A fill value (a number, or an array or a CPU tensor of noise) rounded
    and clipped to the integer dtype of ``data``: assigning it as it is
    would truncate it, or wrap negative values in an unsigned volume. A
    tensor comes back on the CPU."""
    if isinstance(data, torch.Tensor):
        fill = torch.as_tensor(fill, dtype=torch.float64)
    else:
        fill = np.asarray(fill, dtype=np.float64)
    return cast_to_dtype(fill, data.dtype)


def map_channels(data, masking_fn, owner, function):
    """Apply ``function(channel, voxels)`` to each channel of a volume.

    ``voxels`` are those of the channel that ``masking_fn`` selects; the
    channel is replaced by what ``function`` returns (an array, a tensor or
    a number), in a floating-point copy of the volume with its layout (see
    :func:`as_float` for its dtype).
    """
    data = as_float(data)
    channels = data[None] if data.ndim == 3 else data
    # Every channel is written below: no need to copy the input first.
    if isinstance(data, torch.Tensor):
        output = torch.empty_like(channels)
    else:
        output = np.empty_like(channels)
    for channel, volume in enumerate(channels):
        voxels = masked_voxels(volume, masking_fn, owner, channel)
        output[channel] = function(volume, voxels)
    return output[0] if data.ndim == 3 else output


def masked_voxels(volume, masking_fn, owner, channel):
    """The voxels of one channel that ``masking_fn`` selects (all if None)."""
    if masking_fn is None:
        return volume.reshape(-1)
    mask = masking_fn(volume)
    if isinstance(volume, torch.Tensor):
        mask = torch.as_tensor(mask, device=volume.device)
        is_boolean = mask.dtype == torch.bool
    else:
        mask = np.asarray(mask)
        is_boolean = mask.dtype == bool
    if tuple(mask.shape) != tuple(volume.shape) or not is_boolean:
        raise ValueError(
            f"{owner}: masking_fn must return a boolean mask of the shape of "
            f"the volume it is given, {tuple(volume.shape)}; it returned "
            f"{mask.dtype} values of shape {tuple(mask.shape)}. Return, e.g., "
            "volume > 0."
        )
    if not mask.any():
        raise ValueError(
            f"{owner}: masking_fn selected no voxel of channel {channel}, so "
            "there are no intensities to compute statistics from; check the "
            "mask function or the volume."
        )
    return volume[mask]


#: Each interpolation name and how it is done: the order of the spline that
#: samples the volume, and the width (in input voxels) of a Gaussian that
#: smooths it first (0: none). The names are SimpleITK's; these are the
#: closest resamplings SciPy offers (see the docstring of ``Resample``).
INTERPOLATIONS = {
    "nearest": (0, 0.0),
    "linear": (1, 0.0),
    "bspline": (3, 0.0),
    "cubic": (3, 0.0),
    # A Gaussian-weighted average of the neighbours: smoothing, then linear.
    "gaussian": (1, 0.8),
    # A vote of the labels around each point; the nearest label is the
    # closest choice that, as it, only outputs values of the input.
    "label_gaussian": (0, 0.0),
    # Windowed sinc kernels approximate band-limited interpolation, as
    # splines of high order do: the highest order SciPy offers.
    "hamming": (5, 0.0),
    "cosine": (5, 0.0),
    "welch": (5, 0.0),
    "lanczos": (5, 0.0),
    "blackman": (5, 0.0),
}

def check_interpolation(interpolation, owner):
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"{owner}: interpolation={interpolation!r} is not available; use "
            f"one of {list(INTERPOLATIONS)} ('linear' for intensities, "
            "'nearest' for label maps)."
        )
    return interpolation


def resample_voxel_grid(data, output_shape, step, interpolation):
    """Sample a volume on a grid of ``output_shape`` voxels of ``step`` input
    voxels each, whose outer edges coincide with the input's.

    Output voxel ``j`` along an axis is centred on the input's continuous
    index ``(step - 1) / 2 + j * step``: the field of view is kept, rather
    than the centres of the corner voxels. Values beyond the last voxel
    centre are those of the nearest voxel. The output has the input's type
    and dtype (integers rounded to the nearest).
    """
    from scipy import ndimage

    order, smoothing = INTERPOLATIONS[interpolation]
    step = np.asarray(step, dtype=np.float64)
    start = 0.5 * (step - 1.0)
    volume = to_numpy(data)
    dtype = volume.dtype
    # SciPy takes the nearest voxel of an integer volume as it is; anything
    # else is computed in floating point, float16 and bool included, which
    # SciPy does not interpolate.
    if order > 0 or smoothing > 0 or not np.issubdtype(dtype, np.integer):
        volume = volume.astype(computing_dtype(dtype), copy=False)

    def resample(channel):
        if smoothing > 0:
            channel = ndimage.gaussian_filter(channel, smoothing, mode="nearest")
        return ndimage.affine_transform(
            channel,
            step,
            offset=start,
            output_shape=tuple(output_shape),
            order=order,
            mode="nearest",
        )

    if volume.ndim == 4:
        result = np.stack([resample(channel) for channel in volume])
    else:
        result = resample(volume)
    return as_type_of(cast_to_dtype(result, dtype), data)


def grid_affine(affine, step):
    """The affine of the grid that :func:`resample_voxel_grid` samples."""
    step = np.asarray(step, dtype=np.float64)
    voxel_to_input = np.eye(4)
    voxel_to_input[:3, :3] = np.diag(step)
    voxel_to_input[:3, 3] = 0.5 * (step - 1.0)
    return np.asarray(affine, dtype=np.float64) @ voxel_to_input


def spatial_shape(data):
    return tuple(data.shape[-3:])


def anatomical_axis(label, affine, owner):
    """The voxel axis (0, 1 or 2) that runs along an anatomical direction.

    Each voxel axis is matched with the world axis (x: left-right,
    y: posterior-anterior, z: inferior-superior) that its column of the
    affine points along the most.
    """
    world_axis = {"LR": 0, "AP": 1, "IS": 2}[label]
    if affine is None:
        # Without an affine the voxel axes are taken to be in RAS+ order.
        return world_axis
    affine = np.asarray(to_numpy(affine), dtype=np.float64)
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


def check_axis(axis, name, owner):
    if is_integer(axis):
        if axis in (0, 1, 2):
            return int(axis)
    elif axis in ("LR", "AP", "IS"):
        return axis
    raise ValueError(
        f"{owner}: {name} holds {axis!r}; an axis is a spatial axis 0, 1 or 2 "
        "(the channel axis is never counted), or an anatomical direction "
        "'LR', 'AP' or 'IS'."
    )


def spatial_dims(axes, data):
    """Spatial axes as dimensions of the data (after any channel axis)."""
    return tuple(axis + data.ndim - 3 for axis in axes)


def sample_box(spatial_shape, scale, ratio, minimum_size):
    """Draw a box covering a random fraction of a volume, with random aspect.

    The box's volume is ``s * prod(spatial_shape)`` with ``s`` drawn in
    ``scale``; its sides are the cube root of that volume times aspect
    factors drawn log-uniformly in ``ratio``, one per axis, normalised to a
    geometric mean of 1. Each side is then rounded down or up, whichever
    combination that fits gives the volume closest to the drawn one, among
    those within ``scale`` if any (sides rounded one by one can miss it by
    a tenth). A box that does not fit is
    drawn again (10 times), then once with equal sides. Returns a list of
    three slices, or None if no box fits.
    """
    total = math.prod(spatial_shape)

    def attempt(ratio):
        volume = uniform(*scale) * total
        side = volume ** (1 / 3)
        log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
        aspects = [math.exp(uniform(log_low, log_high)) for _ in range(3)]
        geometric_mean = math.prod(aspects) ** (1 / 3)
        exact = [side * a / geometric_mean for a in aspects]
        candidates = [
            sorted({max(minimum_size, math.floor(x)), max(minimum_size, math.ceil(x))})
            for x in exact
        ]
        fitting = [
            sizes
            for sizes in itertools.product(*candidates)
            if all(size <= n for size, n in zip(sizes, spatial_shape))
        ]
        if not fitting:
            return None
        low, high = scale[0] * total, scale[1] * total

        def distance(sizes):
            # Boxes that cover a fraction within ``scale`` come first.
            box_volume = math.prod(sizes)
            return (not low <= box_volume <= high, abs(box_volume - volume))

        sizes = min(fitting, key=distance)
        starts = [int(torch.randint(0, n - size + 1, ()).item())
                  for size, n in zip(sizes, spatial_shape)]
        return [slice(start, start + size) for start, size in zip(starts, sizes)]

    for _ in range(10):
        box = attempt(ratio)
        if box is not None:
            return box
    return attempt((1.0, 1.0))
