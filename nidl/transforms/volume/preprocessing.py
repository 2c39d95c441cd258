"""Deterministic preprocessing of 3-D volumes: intensities and geometry.

These transforms give the same output for the same input (unless they are
given a probability ``p``), so their output can be cached. The spatial ones
and the intensity ones also accept image objects (nibabel images) and return
an image whose affine follows the new voxel grid, so that a chain such as
``Compose([Resample(2.0), CropOrPad(...), ZNormalization()])`` can run on
images read from disk.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .._utils import (
    as_python_number,
    as_type_of,
    cast_to_dtype,
    check_callable,
    check_range,
    check_shape,
    image_to_volume,
    is_number,
    to_numpy,
    volume_to_image,
)
from ..transforms import VolumeTransform
from ._functional import (
    check_interpolation,
    grid_affine,
    is_floating,
    map_channels,
    resample_voxel_grid,
    spatial_shape,
)

__all__ = ["CropOrPad", "Resample", "Resize", "RobustRescaling", "ZNormalization"]


# --------------------------------------------------------------------------
# Intensity
# --------------------------------------------------------------------------


class ZNormalization(VolumeTransform):
    r"""Standardise intensities: zero mean and unit variance per channel.

    Each channel :math:`x` becomes :math:`(x - \mu) / (\sigma + \epsilon)`,
    where the mean :math:`\mu` and the standard deviation :math:`\sigma`
    are computed over the voxels a mask selects, or over the whole channel.
    Every voxel is normalised, inside the mask or not. The standard
    deviation is each library's default: the population one (``ddof=0``,
    as :func:`numpy.std`) for arrays, the unbiased one (``ddof=1``, as
    :func:`torch.std`) for tensors, so that the output has a standard
    deviation of 1 as the user's library measures it. Floating-point
    volumes keep their dtype; integer volumes give floating-point ones
    (float64 arrays, tensors of torch's default dtype), since z-scores
    rounded to integers would be of little use.

    Parameters
    ----------
    masking_fn : callable or None, default=None
        Function that takes one channel (an array or a tensor of shape
        ``(X, Y, Z)``) and returns a boolean mask of the same shape:
        the voxels the statistics are computed from, e.g.
        ``lambda v: v > 0`` for the foreground. None uses every voxel.
    eps : float, default=1e-8
        Added to the standard deviation, so that a constant channel does not
        divide by zero.
    p : float or None, default=None
        Probability of applying the transform; None applies it always.

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.transforms import ZNormalization
    >>> volume = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    >>> z = ZNormalization()(volume)
    >>> print(round(float(z.mean()), 6), round(float(z.std()), 6))
    0.0 1.0
    """

    _accepts_images = True

    def __init__(self, masking_fn=None, eps=1e-8, p=None):
        super().__init__(p=p)
        owner = type(self).__name__
        self.masking_fn = check_callable(masking_fn, "masking_fn", owner)
        if not is_number(eps) or eps < 0:
            raise ValueError(
                f"{owner}: eps={eps!r} must be a non-negative number (added to "
                "the standard deviation); e.g. eps=1e-8."
            )
        self.eps = as_python_number(eps)

    def apply_transform(self, data):
        """Return the volume with each channel standardised, of the same type
        and shape (and dtype, for floating-point input)."""

        def standardise(volume, voxels):
            if isinstance(voxels, torch.Tensor):
                # torch.std's default, the unbiased estimate (a single voxel
                # has no spread, rather than an undefined one).
                correction = 1 if voxels.numel() > 1 else 0
                mean, std = voxels.mean(), voxels.std(correction=correction)
            else:
                mean, std = voxels.mean(), voxels.std()
            return (volume - mean) / (std + self.eps)

        output = map_channels(data, self.masking_fn, self.name, standardise)
        if is_floating(data):
            return cast_to_dtype(output, data.dtype)
        # z-scores rounded to integers would keep little but their sign.
        return output


class RobustRescaling(VolumeTransform):
    r"""Clip intensities to percentiles and rescale them to a range.

    In each channel, intensities are clipped to :math:`[q_l, q_u]`, the
    percentiles ``percentiles`` of the voxels a mask selects (or of the
    whole channel), then mapped linearly from :math:`[q_l, q_u]` to
    ``out_min_max``. Clipping to percentiles makes the scale robust to a few
    extreme voxels. A channel whose percentiles are equal is set to the
    lower bound of ``out_min_max``. The output has the input's dtype
    (integers rounded to the nearest, e.g. for ``out_min_max=(0, 255)`` on
    a ``uint8`` volume); it is computed in floating point.

    Parameters
    ----------
    out_min_max : (float, float), default=(0, 1)
        Range of the output intensities.
    percentiles : (float, float), default=(1, 99)
        Percentiles, between 0 and 100, at which intensities are clipped;
        ``(0, 100)`` is a plain min-max rescaling.
    masking_fn : callable or None, default=None
        Function that takes one channel (an array or a tensor of shape
        ``(X, Y, Z)``) and returns a boolean mask of the same shape:
        the voxels the statistics are computed from, e.g.
        ``lambda v: v > 0`` for the foreground. None uses every voxel.
    p : float or None, default=None
        Probability of applying the transform; None applies it always.

    Examples
    --------
    The percentiles of a tensor are those of its values, and a tensor
    comes back:

    >>> import torch
    >>> from nidl.transforms import RobustRescaling
    >>> volume = torch.linspace(0, 59, 60).reshape(3, 4, 5)
    >>> volume[0, 0, 0] = 1e6  # an outlier
    >>> out = RobustRescaling(percentiles=(0, 95))(volume)
    >>> out.dtype, float(out.min()), float(out.max())
    (torch.float32, 0.0, 1.0)
    >>> float(out[1, 2, 3])  # not crushed towards 0 by the outlier
    0.5709...
    """

    _accepts_images = True

    def __init__(
        self, out_min_max=(0, 1), percentiles=(1, 99), masking_fn=None, p=None
    ):
        super().__init__(p=p)
        owner = type(self).__name__
        self.out_min_max = check_range(out_min_max, "out_min_max", owner)
        self.percentiles = check_range(
            percentiles, "percentiles", owner, minimum=0, maximum=100
        )
        self.masking_fn = check_callable(masking_fn, "masking_fn", owner)

    def apply_transform(self, data):
        """Return the volume with each channel clipped and rescaled, of the
        same type, shape and dtype."""
        out_min, out_max = self.out_min_max

        def rescale(volume, voxels):
            # Python floats keep the volume's precision (float32 stays float32).
            low, high = (
                float(q) for q in np.percentile(to_numpy(voxels), self.percentiles)
            )
            if high <= low:
                return out_min
            if isinstance(volume, torch.Tensor):
                clipped = volume.clamp(low, high)
            else:
                clipped = np.clip(volume, low, high)
            rescaled = (clipped - low) / (high - low) * (out_max - out_min) + out_min
            # Rounding can overshoot the bounds by an ulp; they are promised.
            if isinstance(rescaled, torch.Tensor):
                return rescaled.clamp(out_min, out_max)
            return np.clip(rescaled, out_min, out_max)

        output = map_channels(data, self.masking_fn, self.name, rescale)
        return cast_to_dtype(output, data.dtype)


# --------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------


class CropOrPad(VolumeTransform):
    """Crop or pad a volume, about its centre, to a target shape.

    Along each spatial axis, a volume larger than the target is cropped
    equally on both sides and a smaller one is padded equally on both sides;
    when the difference is odd, the extra voxel is cropped from or added at
    the end. The channel axis is left as it is. Given an image, it returns
    an image whose affine places each voxel where it was.

    Parameters
    ----------
    target_shape : int or (int, int, int)
        Spatial shape of the output; one int gives a cube.
    padding_mode : str, default="constant"
        How padded voxels are filled, as in :func:`numpy.pad`: 'constant',
        'edge', 'linear_ramp', 'maximum', 'mean', 'median', 'minimum',
        'reflect', 'symmetric' or 'wrap'.
    constant_values : float or (float, float, float), default=0.0
        Value of the padded voxels in 'constant' mode, or one value per
        spatial axis.
    p : float or None, default=None
        Probability of applying the transform; None applies it always.

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.transforms import CropOrPad
    >>> volume = np.ones((1, 5, 2, 4))
    >>> out = CropOrPad((3, 4, 4))(volume)
    >>> out.shape
    (1, 3, 4, 4)
    >>> out[0, :, :, 0]
    array([[0., 1., 1., 0.],
           [0., 1., 1., 0.],
           [0., 1., 1., 0.]])
    >>> CropOrPad((10, 12, 8))
    CropOrPad(target_shape=(10, 12, 8), padding_mode='constant',
    constant_values=0.0, p=None)
    """

    _accepts_images = True
    _padding_modes = (
        "constant",
        "edge",
        "linear_ramp",
        "maximum",
        "mean",
        "median",
        "minimum",
        "reflect",
        "symmetric",
        "wrap",
    )

    def __init__(
        self, target_shape, padding_mode="constant", constant_values=0.0, p=None
    ):
        super().__init__(p=p)
        owner = type(self).__name__
        self.target_shape = check_shape(target_shape, "target_shape", owner)
        if padding_mode not in self._padding_modes:
            raise ValueError(
                f"{owner}: padding_mode={padding_mode!r} is not a padding mode; "
                f"use one of {list(self._padding_modes)}."
            )
        self.padding_mode = padding_mode
        if is_number(constant_values):
            constant_values = as_python_number(constant_values)
        elif (
            isinstance(constant_values, (tuple, list))
            and len(constant_values) == 3
            and all(is_number(v) for v in constant_values)
        ):
            constant_values = tuple(as_python_number(v) for v in constant_values)
        else:
            raise ValueError(
                f"{owner}: constant_values={constant_values!r} must be a number, "
                "or three numbers (one per spatial axis)."
            )
        self.constant_values = constant_values

    def _geometry(self, spatial_shape):
        """Crop slices, pad widths, and the input index of output voxel 0."""
        crops, pads, origin = [], [], []
        for size, target in zip(spatial_shape, self.target_shape):
            if size >= target:
                start = (size - target) // 2
                crops.append(slice(start, start + target))
                pads.append((0, 0))
                origin.append(start)
            else:
                before = (target - size) // 2
                crops.append(slice(0, size))
                pads.append((before, target - size - before))
                origin.append(-before)
        return crops, pads, origin

    def apply_transform(self, data):
        """Return the volume cropped or padded to ``target_shape``, of the same
        type."""
        crops, pads, _ = self._geometry(spatial_shape(data))
        channel_axes = data.ndim - 3
        data = data[(slice(None),) * channel_axes + tuple(crops)]
        if not any(before or after for before, after in pads):
            return data.clone() if isinstance(data, torch.Tensor) else data.copy()
        if (
            isinstance(data, torch.Tensor)
            and self.padding_mode == "constant"
            and is_number(self.constant_values)
        ):
            # torch lists the pads from the last axis to the first.
            flat = [width for pair in reversed(pads) for width in pair]
            return F.pad(data, flat, mode="constant", value=self.constant_values)
        widths = [(0, 0)] * channel_axes + pads
        options = {}
        if self.padding_mode == "constant":
            values = self.constant_values
            if not is_number(values):
                values = [(0, 0)] * channel_axes + [(v, v) for v in values]
            options["constant_values"] = values
        padded = np.pad(to_numpy(data), widths, mode=self.padding_mode, **options)
        return as_type_of(padded, data)

    def _transform_image(self, image):
        volume = image_to_volume(image)
        _, _, origin = self._geometry(spatial_shape(volume))
        shift = np.eye(4)
        shift[:3, 3] = origin
        affine = np.asarray(image.affine, dtype=np.float64) @ shift
        return volume_to_image(image, self.apply_transform(volume), affine)


class Resize(VolumeTransform):
    """Resample a volume to a target shape, keeping its field of view.

    The voxel grid is stretched so that ``target_shape`` voxels cover the
    volume: the voxel size changes, the extent does not (the outer edges of
    the first and last voxels stay where they were). The channel axis is
    left as it is. Given an image, it returns an image with the new voxel
    size in its affine.

    Parameters
    ----------
    target_shape : int or (int, int, int)
        Spatial shape of the output; one int gives a cube.
    interpolation : str, default="linear"
        How values between voxel centres are computed; the names and the
        resampling each stands for are those of :class:`Resample`.
    p : float or None, default=None
        Probability of applying the transform; None applies it always.

    Examples
    --------
    >>> import torch
    >>> from nidl.transforms import Resize
    >>> volume = torch.arange(8.0).reshape(1, 2, 2, 2)
    >>> Resize((4, 4, 4))(volume).shape
    torch.Size([1, 4, 4, 4])
    >>> Resize(1, interpolation="linear")(volume).flatten()
    tensor([3.5000])
    """

    _accepts_images = True

    def __init__(self, target_shape, interpolation="linear", p=None):
        super().__init__(p=p)
        owner = type(self).__name__
        self.target_shape = check_shape(target_shape, "target_shape", owner)
        self.interpolation = check_interpolation(interpolation, owner)

    def _step(self, spatial_shape):
        return [size / target for size, target in zip(spatial_shape, self.target_shape)]

    def apply_transform(self, data):
        """Return the volume resampled to ``target_shape``, of the same type and
        dtype."""
        step = self._step(spatial_shape(data))
        return resample_voxel_grid(data, self.target_shape, step, self.interpolation)

    def _transform_image(self, image):
        volume = image_to_volume(image)
        step = self._step(spatial_shape(volume))
        affine = grid_affine(image.affine, step)
        return volume_to_image(image, self.apply_transform(volume), affine)


class Resample(VolumeTransform):
    """Resample a volume to a target voxel size, in millimetres.

    The voxel size of the input comes from its affine (the norms of the
    columns of its 3x3 part): pass an image object (a nibabel image, for
    which it returns an image with the new affine), or call it with the
    volume and its 4x4 affine, ``resample(volume, affine)``, which returns
    an array or a tensor. A volume given without an affine is taken to have
    1 mm voxels (the identity affine). The field of view is kept: the
    output has ``ceil(n * size / target)`` voxels along an axis of ``n``
    voxels of ``size`` mm, and the outer edge of its first voxel is that of
    the input's. The orientation is kept, whatever it is: the volume is
    resampled on its own voxel grid. The dtype is kept (integers are
    rounded to the nearest).

    Parameters
    ----------
    target : float or (float, float, float), default=1.0
        Output voxel size in mm, the same along all axes or one per axis.
    interpolation : str, default="linear"
        How values between voxel centres are computed. Each name maps to a
        SciPy resampling: 'nearest' and 'label_gaussian' take the nearest
        voxel (for label maps: only input values come out), 'linear'
        interpolates linearly, 'bspline' and 'cubic' use cubic B-splines,
        'gaussian' smooths with a Gaussian of 0.8 input voxels, then
        interpolates linearly, and the windowed-sinc kernels 'hamming',
        'cosine', 'welch', 'lanczos' and 'blackman' use B-splines of order
        5, the closest SciPy comes to a band-limited (sinc) interpolation.
    p : float or None, default=None
        Probability of applying the transform; None applies it always.

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.transforms import Resample
    >>> volume = np.random.rand(8, 10, 6).astype(np.float32)
    >>> affine = np.diag([0.5, 0.5, 0.5, 1.0])  # 0.5 mm voxels
    >>> Resample(target=2.0)(volume, affine).shape
    (2, 3, 2)
    >>> Resample(target=2.0)(volume).shape  # no affine: 1 mm voxels
    (4, 5, 3)
    >>> import nibabel
    >>> image = nibabel.Nifti1Image(volume, np.eye(4))
    >>> resampled = Resample(target=(2.0, 2.0, 3.0))(image)
    >>> resampled.shape, [float(z) for z in resampled.header.get_zooms()]
    ((4, 5, 2), [2.0, 2.0, 3.0])
    """

    _accepts_images = True

    def __init__(self, target=1.0, interpolation="linear", p=None):
        super().__init__(p=p)
        owner = type(self).__name__
        message = (
            f"{owner}: target={target!r} must be a positive voxel size in mm, or "
            "three (one per spatial axis), e.g. target=2.0."
        )
        if is_number(target):
            if target <= 0:
                raise ValueError(message)
            target = as_python_number(target)
        elif isinstance(target, (tuple, list)) and len(target) == 3:
            if not all(is_number(t) and t > 0 for t in target):
                raise ValueError(message)
            target = tuple(as_python_number(t) for t in target)
        else:
            raise ValueError(message)
        self.target = target
        self.interpolation = check_interpolation(interpolation, owner)

    def _check_affine(self, affine):
        affine = np.asarray(to_numpy(affine), dtype=np.float64)
        if affine.shape != (4, 4) or not np.isfinite(affine).all():
            raise ValueError(
                f"{self.name}: the affine must be a finite 4x4 matrix (voxel "
                f"indices to mm); got one of shape {affine.shape}."
            )
        voxel_size = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
        if not (voxel_size > 0).all():
            raise ValueError(
                f"{self.name}: the affine gives voxel sizes {voxel_size.tolist()} "
                "mm; every voxel size must be positive."
            )
        return affine, voxel_size

    def _geometry(self, spatial_shape, voxel_size):
        target = np.broadcast_to(np.asarray(self.target, dtype=np.float64), (3,))
        extent = np.asarray(spatial_shape) * voxel_size / target
        # The tolerance keeps 10 voxels of 0.8 mm at 20 voxels of 0.4 mm,
        # where rounding would otherwise add a 21st.
        shape = [max(1, math.ceil(e - 1e-6)) for e in extent]
        return shape, target / voxel_size

    def _resample(self, data, affine):
        affine, voxel_size = self._check_affine(affine)
        shape, step = self._geometry(spatial_shape(data), voxel_size)
        output = resample_voxel_grid(data, shape, step, self.interpolation)
        return output, grid_affine(affine, step)

    def apply_transform(self, data, affine=None):
        """Resample a volume to the target voxel size.

        Parameters
        ----------
        data : numpy.ndarray or torch.Tensor
            Volume of shape ``(C, X, Y, Z)`` or ``(X, Y, Z)``. A tensor with
            its own ``affine`` attribute (as MONAI's) needs no ``affine``.
        affine : array-like of shape (4, 4) or None, default=None
            The volume's affine, from voxel indices to mm. None takes the
            identity: 1 mm voxels.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            Resampled volume, of the same type and dtype.
        """
        if affine is None:
            affine = getattr(data, "affine", None)
        if affine is None:
            # A bare volume: 1 mm voxels, as most code that resamples
            # arrays assumes.
            affine = np.eye(4)
        return self._resample(data, affine)[0]

    def _transform_image(self, image):
        output, affine = self._resample(image_to_volume(image), image.affine)
        return volume_to_image(image, output, affine)

