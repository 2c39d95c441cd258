"""Layers and checks that the 3-D ResNets and their decoders share."""

import numbers

from sklearn.utils import check_scalar
from torch import nn


def _conv3(in_channels, out_channels, stride=1, groups=1, dilation=1):
    """3x3x3 convolution whose padding keeps the size at stride 1."""
    return nn.Conv3d(in_channels, out_channels, 3, stride=stride, padding=dilation,
                     groups=groups, dilation=dilation, bias=False)


def _conv1(in_channels, out_channels, stride=1):
    """1x1x1 convolution."""
    return nn.Conv3d(in_channels, out_channels, 1, stride=stride, bias=False)


def _check_layers(layers):
    layers = tuple(layers)
    if len(layers) != 4 or not all(
        isinstance(n, numbers.Integral) and n >= 1 for n in layers
    ):
        raise ValueError(
            f"layers={layers} must hold the number of blocks of the 4 stages, "
            "each >= 1, e.g. (2, 2, 2, 2) for ResNet-18."
        )
    return layers


def _stage_geometry(replace_stride_with_dilation):
    """``(stride, dilation of the first block, dilation of the others)`` of
    the 4 stages; a stage whose stride is replaced dilates instead."""
    replace = (False,) * 3 if replace_stride_with_dilation is None else tuple(
        replace_stride_with_dilation
    )
    if len(replace) != 3:
        raise ValueError(
            f"replace_stride_with_dilation={replace_stride_with_dilation} must "
            "be None or hold 3 booleans, one for each of the stages 2 to 4."
        )
    geometry, dilation = [(1, 1, 1)], 1
    for dilate in replace:
        previous = dilation
        dilation *= 2 if dilate else 1
        geometry.append((1 if dilate else 2, previous, dilation))
    return geometry


def _stem_geometry(initial_kernel_size):
    """Stride and padding of the first convolution."""
    stride = 2 if initial_kernel_size == 7 else 1
    return stride, (initial_kernel_size - stride + 1) // 2


def _widths(block, width_per_group):
    """Channels of the stem and ``planes`` of the 4 stages.

    A basic block (``expansion`` 1) has no inner width, so
    ``width_per_group`` sets the width of the whole network; bottleneck
    networks keep 64 to 512 planes and ``width_per_group`` sets the inner
    width of their blocks.
    """
    check_scalar(width_per_group, "width_per_group", numbers.Integral, min_val=1)
    base = width_per_group if block.expansion == 1 else 64
    return base, [base * 2**index for index in range(4)]


def _block(block, in_channels, planes, stride=1, dilation=1, *, groups,
           width_per_group, norm_layer):
    """A block, with a projection shortcut when its shape changes."""
    out_channels = planes * block.expansion
    shortcut = None
    if stride != 1 or in_channels != out_channels:
        shortcut = nn.Sequential(
            _conv1(in_channels, out_channels, stride), norm_layer(out_channels)
        )
    return block(in_channels, planes, stride, shortcut, groups, width_per_group,
                 dilation, norm_layer)


def _initialize(module, zero_init_residual):
    """He initialisation of the convolutions, unit norms, small linear maps."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv3d, nn.ConvTranspose3d)):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(layer, (nn.BatchNorm3d, nn.GroupNorm)) and layer.affine:
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0, 0.01)
            nn.init.zeros_(layer.bias)
    if zero_init_residual:
        # Each residual branch starts at zero: every block is the identity.
        # A block names the norm that closes its residual branch.
        for layer in module.modules():
            name = getattr(type(layer), "_residual_norm", None)
            if name is not None:
                norm = getattr(layer, name)
                if getattr(norm, "weight", None) is not None:
                    nn.init.zeros_(norm.weight)
