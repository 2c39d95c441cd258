"""3-D residual networks (ResNet) that encode volumes, and their blocks."""

import numbers

import torch
from sklearn.utils import check_scalar
from torch import nn

from ._resnet_layers import (
    _block,
    _check_layers,
    _conv1,
    _conv3,
    _initialize,
    _stage_geometry,
    _stem_geometry,
    _widths,
)


def _add_shortcut(block, x, out):
    """ReLU of a block's residual branch ``out`` plus its shortcut of ``x``."""
    shortcut = x if block.downsample is None else block.downsample(x)
    return block.relu(out + shortcut)


class BasicBlock(nn.Module):
    """Residual block of two 3x3x3 convolutions (ResNet-18 and -34).

    ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``, where the
    shortcut is the identity or ``downsample``.

    Parameters
    ----------
    inplanes : int
        Number of input channels.
    planes : int
        Number of channels of both convolutions and of the output
        (``expansion = 1``).
    stride : int, default=1
        Stride of the first convolution.
    downsample : torch.nn.Module, default=None
        Shortcut that maps the input to the output's channels and size; None
        is the identity, which needs ``inplanes == planes`` and ``stride=1``.
    groups : int, default=1
        Must be 1: grouped convolutions are those of :class:`Bottleneck`.
    base_width : int, default=64
        Accepted for the interface that :class:`ResNet` gives every block;
        a basic block is ``planes`` wide.
    dilation : int, default=1
        Dilation of both convolutions.
    norm_layer : callable, default=None
        Normalisation, called with a number of channels;
        ``torch.nn.BatchNorm3d`` if None.

    References
    ----------
    .. [1] K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for
       Image Recognition", CVPR 2016.

    Examples
    --------
    A block that halves the size and doubles the channels needs a shortcut
    that does the same:

    >>> import torch
    >>> from torch import nn
    >>> from nidl.backbones.volume import BasicBlock
    >>> shortcut = nn.Conv3d(8, 16, 1, stride=2, bias=False)
    >>> block = BasicBlock(8, 16, stride=2, downsample=shortcut)
    >>> block(torch.zeros(2, 8, 5, 6, 4)).shape
    torch.Size([2, 16, 3, 3, 2])
    """

    expansion = 1
    _residual_norm = "bn2"  # zeroed by zero_init_residual

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1,
                 base_width=64, dilation=1, norm_layer=None):
        super().__init__()
        if groups != 1:
            raise ValueError(
                f"BasicBlock supports groups=1 only, got groups={groups}; use "
                "Bottleneck for grouped convolutions."
            )
        norm_layer = norm_layer or nn.BatchNorm3d
        self.conv1 = _conv3(inplanes, planes, stride, dilation=dilation)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3(planes, planes, dilation=dilation)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        """Apply the block to a batch ``(batch, inplanes, H, W, D)``."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return _add_shortcut(self, x, out)


class Bottleneck(nn.Module):
    """Residual block 1x1x1, 3x3x3, 1x1x1 convolutions (ResNet-50 and deeper).

    The first convolution reduces the channels to
    ``int(planes * base_width / 64) * groups``, the 3x3x3 convolution (grouped,
    strided) works at that width, the last one expands them to
    ``planes * expansion``.

    Parameters
    ----------
    inplanes : int
        Number of input channels.
    planes : int
        The output has ``planes * 4`` channels (``expansion = 4``).
    stride : int, default=1
        Stride of the 3x3x3 convolution.
    downsample : torch.nn.Module, default=None
        Shortcut that maps the input to the output's channels and size; None
        is the identity, which needs ``inplanes == 4 * planes`` and ``stride=1``.
    groups : int, default=1
        Number of groups of the 3x3x3 convolution.
    base_width : int, default=64
        Channels per group of the 3x3x3 convolution for ``planes=64``.
    dilation : int, default=1
        Dilation of the 3x3x3 convolution.
    norm_layer : callable, default=None
        Normalisation, called with a number of channels;
        ``torch.nn.BatchNorm3d`` if None.

    References
    ----------
    .. [1] K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for
       Image Recognition", CVPR 2016.

    Examples
    --------
    The inner width is ``int(4 * 32 / 64) * 2 = 4`` channels, in 2 groups:

    >>> from nidl.backbones.volume import Bottleneck
    >>> block = Bottleneck(16, 4, groups=2, base_width=32)
    >>> block.conv2
    Conv3d(4, 4, kernel_size=(3, 3, 3), ..., groups=2, bias=False)
    >>> block.conv3.out_channels  # planes * expansion
    16
    """

    expansion = 4
    _residual_norm = "bn3"  # zeroed by zero_init_residual

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1,
                 base_width=64, dilation=1, norm_layer=None):
        super().__init__()
        norm_layer = norm_layer or nn.BatchNorm3d
        width = int(planes * base_width / 64) * groups
        if width < 1:
            raise ValueError(
                f"planes={planes}, base_width={base_width} and groups={groups} "
                "give a bottleneck without channels; increase base_width "
                "(width_per_group of ResNet)."
            )
        self.conv1 = _conv1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = _conv3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = _conv1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        """Apply the block to a batch ``(batch, inplanes, H, W, D)``."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return _add_shortcut(self, x, out)


class ResNet(nn.Module):
    """3-D residual network that encodes a volume into ``n_embedding`` features.

    A stem (a convolution with ``initial_kernel_size``, stride 2 for the
    default 7, then a 3x3x3 max pooling of stride 2), four stages of residual
    blocks (the last three halve the size, or dilate instead), a global
    average pooling and a linear embedding. It takes volumes of any size.

    Parameters
    ----------
    block : {BasicBlock, Bottleneck} or type
        Class of the residual blocks.
    layers : sequence of 4 int
        Number of blocks of each stage.
    in_channels : int, default=1
        Number of channels of the input.
    zero_init_residual : bool, default=False
        Initialise the last normalisation of each block to zero, so that
        every block starts as the identity.
    groups : int, default=1
        Number of groups of the 3x3x3 convolutions of bottleneck blocks.
    width_per_group : int, default=64
        Width of the network. With bottleneck blocks, channels per group of
        their 3x3x3 convolutions in the first stage, doubled at each stage
        (128 gives a wide ResNet); the stem keeps 64 channels and the stages
        output 256 to 2048. With basic blocks, the network is
        ``width_per_group`` channels wide: its stem and stages have
        ``width_per_group * (1, 1, 2, 4, 8)`` channels (use 8 or 16 for a
        small model).
    replace_stride_with_dilation : sequence of 3 bool, default=None
        For the stages 2 to 4, whether to keep the size and dilate the
        convolutions instead of halving it; None is ``(False, False, False)``.
    norm_layer : callable, default=None
        Normalisation, called with a number of channels;
        ``torch.nn.BatchNorm3d`` if None.
    initial_kernel_size : int, default=7
        Kernel size of the first convolution; its stride is 2 for 7, 1 for
        any other size.
    n_embedding : int, default=512
        Number of output features.

    Attributes
    ----------
    n_embedding : int
        Number of output features, the ``encoder_out_dim`` of a VAE.
    in_channels : int
        Number of channels of the input.

    See Also
    --------
    resnet18, resnet50 : The usual depths.
    ResNetDecoder : The decoder that mirrors this network.

    References
    ----------
    .. [1] K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for
       Image Recognition", CVPR 2016.

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import BasicBlock, ResNet
    >>> encoder = ResNet(BasicBlock, (1, 1, 1, 1), width_per_group=4, n_embedding=16)
    >>> encoder(torch.zeros(2, 1, 17, 21, 15)).shape
    torch.Size([2, 16])
    """

    def __init__(self, block, layers, in_channels=1, zero_init_residual=False,
                 groups=1, width_per_group=64, replace_stride_with_dilation=None,
                 norm_layer=None, initial_kernel_size=7, n_embedding=512):
        super().__init__()
        layers = _check_layers(layers)
        geometry = _stage_geometry(replace_stride_with_dilation)
        norm_layer = norm_layer or nn.BatchNorm3d
        stem_width, planes = _widths(block, width_per_group)
        self.in_channels = in_channels
        self.n_embedding = n_embedding
        stride, padding = _stem_geometry(initial_kernel_size)
        self.conv1 = nn.Conv3d(in_channels, stem_width, initial_kernel_size,
                               stride=stride, padding=padding, bias=False)
        self.bn1 = norm_layer(stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(3, stride=2, padding=1)
        options = {"groups": groups, "width_per_group": width_per_group,
                   "norm_layer": norm_layer}
        self._channels = [stem_width]
        for index, (n_blocks, stage_planes) in enumerate(zip(layers, planes)):
            stride, first_dilation, dilation = geometry[index]
            channels = stage_planes * block.expansion
            stage = [_block(block, self._channels[-1], stage_planes, stride,
                            first_dilation, **options)]
            stage += [_block(block, channels, stage_planes, 1, dilation, **options)
                      for _ in range(n_blocks - 1)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*stage))
            self._channels.append(channels)
        self._n_stages = 4
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.embedding = nn.Linear(self._channels[-1], n_embedding)
        _initialize(self, zero_init_residual)

    def _feature_maps(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for index in range(1, self._n_stages + 1):
            x = getattr(self, f"layer{index}")(x)
        return x

    def forward(self, x):
        """Encode a batch ``(batch, in_channels, H, W, D)`` into
        ``(batch, n_embedding)`` features."""
        return self.embedding(torch.flatten(self.avgpool(self._feature_maps(x)), 1))


class ResNetTruncated(ResNet):
    """The stem and the first ``depth`` stages of a :class:`ResNet`.

    It returns feature maps rather than an embedding; the stages after
    ``depth``, the pooling and the embedding are not built.

    Parameters
    ----------
    block, layers, *args, **kwargs
        The arguments of :class:`ResNet` (``n_embedding`` has no use here).
    depth : int, default=0
        Number of stages kept, from 0 (the stem only) to 4.

    Attributes
    ----------
    depth : int
        Number of stages kept.
    out_channels : int
        Number of channels of the returned feature maps.

    Examples
    --------
    With the default ``depth=0``, only the stem is kept:

    >>> import torch
    >>> from nidl.backbones.volume import BasicBlock, ResNetTruncated
    >>> stem = ResNetTruncated(BasicBlock, (1, 1, 1, 1), width_per_group=4)
    >>> stem.out_channels, stem(torch.zeros(2, 1, 17, 21, 15)).shape
    (4, torch.Size([2, 4, 5, 6, 4]))
    """

    def __init__(self, block, layers, *args, depth=0, **kwargs):
        check_scalar(depth, "depth", numbers.Integral, min_val=0, max_val=4)
        super().__init__(block, layers, *args, **kwargs)
        for index in range(depth + 1, 5):
            delattr(self, f"layer{index}")
        del self.avgpool, self.embedding
        self.depth = self._n_stages = depth
        self.out_channels = self._channels[depth]
        self.n_embedding = None

    def forward(self, x):
        """Feature maps ``(batch, out_channels, h, w, d)`` of a batch of volumes."""
        return self._feature_maps(x)


def resnet18(**kwargs):
    """3-D ResNet-18: basic blocks, 2-2-2-2 per stage.

    Parameters
    ----------
    **kwargs
        Arguments of :class:`ResNet` after ``layers``.

    Returns
    -------
    encoder : ResNet

    References
    ----------
    .. [1] K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for
       Image Recognition", CVPR 2016.

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import resnet18
    >>> encoder = resnet18(width_per_group=4, n_embedding=8)
    >>> encoder(torch.zeros(2, 1, 17, 21, 15)).shape
    torch.Size([2, 8])
    """
    return ResNet(BasicBlock, (2, 2, 2, 2), **kwargs)


def resnet50(**kwargs):
    """3-D ResNet-50: bottleneck blocks, 3-4-6-3 per stage.

    Parameters
    ----------
    **kwargs
        Arguments of :class:`ResNet` after ``layers``.

    Returns
    -------
    encoder : ResNet

    References
    ----------
    .. [1] K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for
       Image Recognition", CVPR 2016.

    Examples
    --------
    Bottleneck stages keep 64 to 512 planes whatever ``width_per_group``
    and expand them 4 times, so the embedding reads 2048 features:

    >>> from nidl.backbones.volume import resnet50
    >>> encoder = resnet50(width_per_group=1, n_embedding=8)
    >>> encoder.embedding
    Linear(in_features=2048, out_features=8, bias=True)
    """
    return ResNet(Bottleneck, (3, 4, 6, 3), **kwargs)


def resnet18_trunc(depth, **kwargs):
    """The stem and first ``depth`` stages of a 3-D ResNet-18.

    Parameters
    ----------
    depth : int
        Number of stages kept, from 0 to 4.
    **kwargs
        Arguments of :class:`ResNet` after ``layers``.

    Returns
    -------
    encoder : ResNetTruncated

    Examples
    --------
    The stages after ``depth`` are not built:

    >>> from nidl.backbones.volume import resnet18_trunc
    >>> encoder = resnet18_trunc(2, width_per_group=4)
    >>> hasattr(encoder, "layer3"), encoder.out_channels
    (False, 8)
    """
    return ResNetTruncated(BasicBlock, (2, 2, 2, 2), depth=depth, **kwargs)


def resnet50_trunc(depth, **kwargs):
    """The stem and first ``depth`` stages of a 3-D ResNet-50.

    Parameters
    ----------
    depth : int
        Number of stages kept, from 0 to 4.
    **kwargs
        Arguments of :class:`ResNet` after ``layers``.

    Returns
    -------
    encoder : ResNetTruncated

    Examples
    --------
    It returns the feature maps of its last stage:

    >>> import torch
    >>> from nidl.backbones.volume import resnet50_trunc
    >>> features = resnet50_trunc(1, width_per_group=1)(torch.zeros(2, 1, 17, 21, 15))
    >>> features.shape
    torch.Size([2, 256, 5, 6, 4])
    """
    return ResNetTruncated(Bottleneck, (3, 4, 6, 3), depth=depth, **kwargs)
