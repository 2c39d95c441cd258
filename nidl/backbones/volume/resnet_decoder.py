"""Decoders that mirror the 3-D ResNets back to volumes."""

import math

from torch import nn

from ._mirror import (
    MirrorDecoder,
    check_decoder_arguments,
    conv_shape,
    transposed_conv,
    upsample,
)
from ._resnet_layers import (
    _block,
    _check_layers,
    _conv1,
    _initialize,
    _stage_geometry,
    _stem_geometry,
    _widths,
)
from .resnet import BasicBlock, Bottleneck


def _resnet_shapes(spatial_shape, initial_kernel_size, geometry):
    """Input shape, then the shapes after the stem, the pooling and each stage."""
    stride, padding = _stem_geometry(initial_kernel_size)
    shapes = [tuple(spatial_shape)]
    shapes.append(conv_shape(shapes[-1], initial_kernel_size, stride, padding))
    shapes.append(conv_shape(shapes[-1], 3, 2, 1))
    for stage_stride, _, _ in geometry[1:]:
        shapes.append(conv_shape(shapes[-1], 1, stage_stride))
    return shapes


class ResNetDecoder(MirrorDecoder):
    """3-D residual decoder that mirrors a :class:`ResNet` back to a volume.

    A linear layer maps the input features to the encoder's deepest feature
    map, then the encoder's stages run backwards: each is made of the same
    blocks, the last of which changes the channels to those of the stage
    before, followed by an upsampling to that stage's size. The stem is
    undone by an upsampling and a transposed convolution with the stem's
    kernel. The sizes are those of the encoder for ``spatial_shape``, so the
    output has exactly that shape, odd sizes included. The output has no
    final activation: it is read as the mean of a VAE's likelihood.

    Parameters
    ----------
    block : {BasicBlock, Bottleneck} or type
        Class of the residual blocks.
    layers : sequence of 4 int
        Number of blocks of each stage, in the order of the encoder.
    spatial_shape : tuple of 3 int
        Shape of the output volumes, without the channel axis.
    in_features : int
        Number of input features (a VAE's ``latent_dim``).
    out_channels : int, default=1
        Number of channels of the output.
    zero_init_residual, groups, width_per_group, replace_stride_with_dilation, \
norm_layer, initial_kernel_size
        As for :class:`ResNet`: pass the encoder's values to mirror it.

    Attributes
    ----------
    spatial_shape : tuple of int
        Shape of the output volumes.
    encoder_shapes : list of tuple of int
        Spatial shapes of the mirrored encoder's feature maps, from its
        input (``spatial_shape``) to its deepest map.

    See Also
    --------
    resnet18_decoder, resnet50_decoder : The decoders of the usual depths.

    References
    ----------
    .. [1] K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for
       Image Recognition", CVPR 2016.

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import BasicBlock, ResNetDecoder
    >>> decoder = ResNetDecoder(BasicBlock, (1, 1, 1, 1), (17, 21, 15), 4,
    ...                         width_per_group=4)
    >>> decoder(torch.zeros(2, 4)).shape
    torch.Size([2, 1, 17, 21, 15])
    """

    def __init__(self, block, layers, spatial_shape, in_features, out_channels=1,
                 zero_init_residual=False, groups=1, width_per_group=64,
                 replace_stride_with_dilation=None, norm_layer=None,
                 initial_kernel_size=7):
        super().__init__()
        layers = _check_layers(layers)
        geometry = _stage_geometry(replace_stride_with_dilation)
        self.spatial_shape, self.encoder_shapes = check_decoder_arguments(
            spatial_shape, in_features, out_channels,
            lambda shape: _resnet_shapes(shape, initial_kernel_size, geometry),
            "this ResNet decoder",
        )
        self.in_features = in_features
        self.out_channels = out_channels
        norm_layer = norm_layer or nn.BatchNorm3d
        stem_width, planes = _widths(block, width_per_group)
        channels = [stage_planes * block.expansion for stage_planes in planes]
        shapes = self.encoder_shapes
        options = {"groups": groups, "width_per_group": width_per_group,
                   "norm_layer": norm_layer}
        self.head = nn.Sequential(
            nn.Linear(in_features, channels[3] * math.prod(shapes[5])),
            nn.Unflatten(1, (channels[3], *shapes[5])),
            norm_layer(channels[3]),
            nn.ReLU(inplace=True),
        )
        for index in reversed(range(4)):
            _, first_dilation, dilation = geometry[index]
            stage = [
                _block(block, channels[index], planes[index], 1, dilation, **options)
                for _ in range(layers[index] - 1)
            ]
            # The last block goes to the channels of the stage before, and
            # an upsampling to its size.
            before = planes[index - 1] if index else planes[0]
            stage.append(_block(block, channels[index], before, 1, first_dilation,
                                **options))
            if index:
                stage.append(upsample(shapes[index + 1]))
            self.add_module(f"layer{index + 1}", nn.Sequential(*stage))
        stem = []
        if channels[0] != stem_width:
            stem += [_conv1(channels[0], stem_width), norm_layer(stem_width),
                     nn.ReLU(inplace=True)]
        stride, padding = _stem_geometry(initial_kernel_size)
        stem += [
            upsample(shapes[1]),
            transposed_conv(stem_width, out_channels, shapes[1], shapes[0],
                            initial_kernel_size, stride, padding),
        ]
        self.stem = nn.Sequential(*stem)
        _initialize(self, zero_init_residual)


def resnet18_decoder(spatial_shape, in_features, out_channels=1, **kwargs):
    """Decoder that mirrors :func:`resnet18` back to volumes of ``spatial_shape``.

    Parameters
    ----------
    spatial_shape : tuple of 3 int
        Shape of the output volumes, without the channel axis.
    in_features : int
        Number of input features (a VAE's ``latent_dim``).
    out_channels : int, default=1
        Number of channels of the output.
    **kwargs
        Other arguments of :class:`ResNetDecoder`, as given to the encoder.

    Returns
    -------
    decoder : ResNetDecoder

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import resnet18_decoder
    >>> decoder = resnet18_decoder((17, 21, 15), 4, width_per_group=4)
    >>> decoder(torch.zeros(2, 4)).shape
    torch.Size([2, 1, 17, 21, 15])
    """
    return ResNetDecoder(BasicBlock, (2, 2, 2, 2), spatial_shape, in_features,
                         out_channels, **kwargs)


def resnet50_decoder(spatial_shape, in_features, out_channels=1, **kwargs):
    """Decoder that mirrors :func:`resnet50` back to volumes of ``spatial_shape``.

    Parameters
    ----------
    spatial_shape : tuple of 3 int
        Shape of the output volumes, without the channel axis.
    in_features : int
        Number of input features (a VAE's ``latent_dim``).
    out_channels : int, default=1
        Number of channels of the output.
    **kwargs
        Other arguments of :class:`ResNetDecoder`, as given to the encoder.

    Returns
    -------
    decoder : ResNetDecoder

    Examples
    --------
    >>> from nidl.backbones.volume import resnet50_decoder
    >>> decoder = resnet50_decoder((50, 59, 48), 16, width_per_group=1)
    >>> decoder.encoder_shapes  # the 4 mm grid, down to the last stage
    [(50, 59, 48), (25, 30, 24), (13, 15, 12), (7, 8, 6), (4, 4, 3), (2, 2, 2)]
    """
    return ResNetDecoder(Bottleneck, (3, 4, 6, 3), spatial_shape, in_features,
                         out_channels, **kwargs)
