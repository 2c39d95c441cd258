"""What the decoders that mirror an encoder share.

A decoder mirrors an encoder for one input shape: it computes the shapes of
the encoder's feature maps with :func:`conv_shape` and grows its own feature
maps back through the same shapes, so that its output has exactly the
input's shape, odd sizes included.
"""

import itertools
import numbers

from sklearn.utils import check_scalar
from torch import nn


def conv_shape(shape, kernel_size, stride=1, padding=0, dilation=1):
    """Spatial shape after a convolution or a pooling (``ceil_mode=False``)."""
    return tuple(
        (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
        for size in shape
    )


def transposed_conv(in_channels, out_channels, in_shape, out_shape, kernel_size,
                    stride, padding, bias=True):
    """Transposed convolution that maps ``in_shape`` back to ``out_shape``.

    ``in_shape`` is what the convolution with the same geometry made of
    ``out_shape``; the output padding restores the sizes it rounded down.
    """
    output_padding = tuple(
        big - ((small - 1) * stride - 2 * padding + kernel_size)
        for small, big in zip(in_shape, out_shape)
    )
    return nn.ConvTranspose3d(
        in_channels, out_channels, kernel_size, stride=stride, padding=padding,
        output_padding=output_padding, bias=bias,
    )


def upsample(shape):
    """Nearest-neighbour upsampling to exactly ``shape``."""
    return nn.Upsample(size=tuple(shape), mode="nearest")


def check_decoder_arguments(spatial_shape, in_features, out_channels, shapes_of, name):
    """Check a decoder's arguments; return the shape and the encoder's shapes.

    ``shapes_of`` maps an input shape to the list of the encoder's feature
    map shapes, from the input to the deepest one.
    """
    spatial_shape = tuple(int(size) for size in spatial_shape)
    if len(spatial_shape) != 3 or min(spatial_shape) < 1:
        raise ValueError(
            f"spatial_shape={spatial_shape} must hold the 3 positive sizes of a "
            "volume, without the channel axis, e.g. (50, 59, 48)."
        )
    check_scalar(in_features, "in_features", numbers.Integral, min_val=1)
    check_scalar(out_channels, "out_channels", numbers.Integral, min_val=1)
    shapes = shapes_of(spatial_shape)
    empty = next((shape for shape in shapes if min(shape) < 1), None)
    if empty is not None:
        smallest = next(
            size for size in itertools.count(1)
            if min(min(shape) for shape in shapes_of((size,) * 3)) >= 1
        )
        raise ValueError(
            f"spatial_shape={spatial_shape} is too small for {name}: its "
            f"feature maps shrink to {empty}; every axis needs at least "
            f"{smallest} voxels."
        )
    return spatial_shape, shapes


class MirrorDecoder(nn.Module):
    """Base of the decoders: its stages, registered in order, run one after
    the other."""

    def forward(self, z):
        """Decode a batch ``(batch, in_features)`` into volumes
        ``(batch, out_channels, *spatial_shape)``."""
        for stage in self.children():
            z = stage(z)
        return z
