"""Decoders that mirror the 3-D DenseNets back to volumes."""

import math

from torch import nn

from ._densenet_layers import _channels, _DenseBlock, _initialize, _transition
from ._mirror import (
    MirrorDecoder,
    check_decoder_arguments,
    conv_shape,
    transposed_conv,
    upsample,
)


def _densenet_shapes(spatial_shape, n_blocks):
    """Input shape, then the shapes after the stem, the pooling and each
    transition."""
    shapes = [tuple(spatial_shape)]
    shapes.append(conv_shape(shapes[-1], 7, 2, 3))
    shapes.append(conv_shape(shapes[-1], 3, 2, 1))
    for _ in range(n_blocks - 1):
        shapes.append(conv_shape(shapes[-1], 2, 2))
    return shapes


class DenseNetDecoder(MirrorDecoder):
    """3-D dense decoder that mirrors a :class:`DenseNet` back to a volume.

    A linear layer maps the input features to a map of the size of the
    encoder's last dense block, with the channels that block takes. The
    dense blocks then run in the reverse order, each with the encoder
    block's number of layers, input and output channels; between them, a
    transition (batch norm, ReLU, 1x1x1 convolution) goes back to the
    channels of the block before and an upsampling to its size. The stem
    is undone by a transition to ``num_init_features`` channels and a
    transposed 7x7x7 convolution of stride 2. The output has exactly the
    shape ``(out_channels, *spatial_shape)``, odd sizes included, and no
    final activation: it is read as the mean of a VAE's likelihood.

    Parameters
    ----------
    spatial_shape : tuple of 3 int
        Shape of the output volumes, without the channel axis.
    in_features : int
        Number of input features (a VAE's ``latent_dim``).
    out_channels : int, default=1
        Number of channels of the output.
    growth_rate, block_config, num_init_features, bn_size, memory_efficient
        As for :class:`DenseNet`: pass the encoder's values to mirror it.

    Attributes
    ----------
    spatial_shape : tuple of int
        Shape of the output volumes.
    encoder_shapes : list of tuple of int
        Spatial shapes of the mirrored encoder's feature maps, from its
        input (``spatial_shape``) to its deepest map.

    See Also
    --------
    densenet121_decoder : The decoder of DenseNet-121.

    References
    ----------
    .. [1] G. Huang, Z. Liu, L. van der Maaten and K. Q. Weinberger,
       "Densely Connected Convolutional Networks", CVPR 2017.

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import DenseNetDecoder
    >>> decoder = DenseNetDecoder((33, 41, 29), 4, growth_rate=4,
    ...                           block_config=(2, 2, 2, 2), num_init_features=8)
    >>> decoder(torch.zeros(2, 4)).shape
    torch.Size([2, 1, 33, 41, 29])
    """

    def __init__(self, spatial_shape, in_features, out_channels=1, growth_rate=32,
                 block_config=(3, 12, 24, 16), num_init_features=64, bn_size=4,
                 memory_efficient=False):
        super().__init__()
        block_config, inputs, outputs = _channels(
            growth_rate, block_config, num_init_features, bn_size
        )
        self.spatial_shape, self.encoder_shapes = check_decoder_arguments(
            spatial_shape, in_features, out_channels,
            lambda shape: _densenet_shapes(shape, len(block_config)),
            "this DenseNet decoder",
        )
        self.in_features = in_features
        self.out_channels = out_channels
        shapes = self.encoder_shapes
        self.head = nn.Sequential(
            nn.Linear(in_features, inputs[-1] * math.prod(shapes[-1])),
            nn.Unflatten(1, (inputs[-1], *shapes[-1])),
        )
        for index in reversed(range(len(block_config))):
            block = _DenseBlock(block_config[index], inputs[index], growth_rate,
                                bn_size, memory_efficient)
            # Back to the channels and the size of the block before (or of
            # the stem, after the first block).
            channels = inputs[index - 1] if index else num_init_features
            self.add_module(f"denseblock{index + 1}", nn.Sequential(
                block,
                _transition(outputs[index], channels,
                            ("upsample", upsample(shapes[index + 1]))),
            ))
        self.stem = nn.Sequential(
            nn.BatchNorm3d(num_init_features),
            nn.ReLU(inplace=True),
            transposed_conv(num_init_features, out_channels, shapes[1], shapes[0],
                            7, 2, 3),
        )
        _initialize(self)


def densenet121_decoder(spatial_shape, in_features, out_channels=1, **kwargs):
    """Decoder that mirrors :func:`densenet121` back to volumes of
    ``spatial_shape``.

    Parameters
    ----------
    spatial_shape : tuple of 3 int
        Shape of the output volumes, without the channel axis.
    in_features : int
        Number of input features (a VAE's ``latent_dim``).
    out_channels : int, default=1
        Number of channels of the output.
    **kwargs
        ``bn_size`` and ``memory_efficient``, as given to the encoder.

    Returns
    -------
    decoder : DenseNetDecoder

    Examples
    --------
    >>> from nidl.backbones.volume import densenet121_decoder
    >>> decoder = densenet121_decoder((50, 59, 48), 16)
    >>> decoder.encoder_shapes  # the 4 mm grid, down to the last dense block
    [(50, 59, 48), (25, 30, 24), (13, 15, 12), (6, 7, 6), (3, 3, 3), (1, 1, 1)]
    """
    return DenseNetDecoder(spatial_shape, in_features, out_channels, 32,
                           (6, 12, 24, 16), 64, **kwargs)
