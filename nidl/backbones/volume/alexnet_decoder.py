"""Decoder that mirrors the 3-D AlexNet back to volumes."""

import math

from torch import nn

from ._alexnet_layers import _normalized
from ._mirror import (
    MirrorDecoder,
    check_decoder_arguments,
    conv_shape,
    transposed_conv,
    upsample,
)


def _alexnet_shapes(spatial_shape):
    """Input shape, then the shapes after the first convolution, the first
    pooling, the second convolution and the second pooling."""
    shapes = [tuple(spatial_shape)]
    for kernel, stride in ((5, 2), (3, 3), (3, 1), (3, 3)):
        shapes.append(conv_shape(shapes[-1], kernel, stride))
    return shapes


class AlexNetDecoder(MirrorDecoder):
    """3-D decoder that mirrors an :class:`AlexNet` back to a volume.

    A linear layer maps the input features to a 128-channel map of the size
    of the encoder's last convolutions; three convolutions (to 192, 192 and
    128 channels) follow, then an upsampling and a transposed convolution
    of kernel 3 to 64 channels undo the second pooling and convolution, and
    an upsampling and a transposed convolution of kernel 5 and stride 2
    undo the first ones. Batch norm and ReLU follow every layer but the last:
    the output has no final activation and is read as the mean of a VAE's
    likelihood. It has exactly the shape ``(out_channels, *spatial_shape)``,
    odd sizes included; each axis needs at least 33 voxels.

    Parameters
    ----------
    spatial_shape : tuple of 3 int
        Shape of the output volumes, without the channel axis.
    in_features : int
        Number of input features (a VAE's ``latent_dim``).
    out_channels : int, default=1
        Number of channels of the output.

    Attributes
    ----------
    spatial_shape : tuple of int
        Shape of the output volumes.
    encoder_shapes : list of tuple of int
        Spatial shapes of the mirrored encoder's feature maps, from its
        input (``spatial_shape``) to its deepest map.

    References
    ----------
    .. [1] A. Krizhevsky, I. Sutskever and G. E. Hinton, "ImageNet
       Classification with Deep Convolutional Neural Networks", NeurIPS 2012.

    Examples
    --------
    Built for the shape of the encoder's input, it maps the encoder's
    features back to that shape:

    >>> import torch
    >>> from nidl.backbones.volume import AlexNet, AlexNetDecoder
    >>> x = torch.zeros(2, 1, 33, 41, 35)
    >>> features = AlexNet(n_embedding=4)(x)
    >>> AlexNetDecoder(x.shape[2:], features.shape[1])(features).shape
    torch.Size([2, 1, 33, 41, 35])
    """

    def __init__(self, spatial_shape, in_features, out_channels=1):
        super().__init__()
        self.spatial_shape, self.encoder_shapes = check_decoder_arguments(
            spatial_shape, in_features, out_channels, _alexnet_shapes,
            "AlexNetDecoder",
        )
        self.in_features = in_features
        self.out_channels = out_channels
        shapes = self.encoder_shapes
        self.head = nn.Sequential(
            nn.Linear(in_features, 128 * math.prod(shapes[4])),
            nn.Unflatten(1, (128, *shapes[4])),
            nn.BatchNorm3d(128),
            nn.ReLU(inplace=True),
        )
        self.features = nn.Sequential(
            *_normalized(nn.Conv3d(128, 192, 3, padding=1)),
            *_normalized(nn.Conv3d(192, 192, 3, padding=1)),
            *_normalized(nn.Conv3d(192, 128, 3, padding=1)),
            upsample(shapes[3]),
            *_normalized(transposed_conv(128, 64, shapes[3], shapes[2], 3, 1, 0)),
            upsample(shapes[1]),
            transposed_conv(64, out_channels, shapes[1], shapes[0], 5, 2, 0),
        )
