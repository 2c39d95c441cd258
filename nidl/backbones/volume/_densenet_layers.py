"""Layers and checks that the 3-D DenseNet and its decoder share."""

import numbers
from collections import OrderedDict

import torch
from sklearn.utils import check_scalar
from torch import nn
from torch.utils.checkpoint import checkpoint


class _DenseLayer(nn.Module):
    """Batch norm, ReLU, 1x1x1 convolution to ``bn_size * growth_rate``
    channels, then batch norm, ReLU, 3x3x3 convolution to ``growth_rate``."""

    def __init__(self, in_channels, growth_rate, bn_size, memory_efficient):
        super().__init__()
        width = bn_size * growth_rate
        self.norm1 = nn.BatchNorm3d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv3d(in_channels, width, 1, bias=False)
        self.norm2 = nn.BatchNorm3d(width)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv3d(width, growth_rate, 3, padding=1, bias=False)
        self.memory_efficient = memory_efficient

    def _bottleneck(self, *features):
        return self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))

    def forward(self, features):
        if self.memory_efficient and any(f.requires_grad for f in features):
            # The concatenation is recomputed in the backward pass rather
            # than kept, which makes the memory linear in the depth.
            out = checkpoint(self._bottleneck, *features, use_reentrant=False)
        else:
            out = self._bottleneck(*features)
        return self.conv2(self.relu2(self.norm2(out)))


class _DenseBlock(nn.Module):
    """Layers that each take the concatenation of all the previous outputs."""

    def __init__(self, n_layers, in_channels, growth_rate, bn_size, memory_efficient):
        super().__init__()
        for index in range(n_layers):
            self.add_module(
                f"denselayer{index + 1}",
                _DenseLayer(in_channels + index * growth_rate, growth_rate, bn_size,
                            memory_efficient),
            )

    def forward(self, x):
        features = [x]
        for layer in self.children():
            features.append(layer(features))
        return torch.cat(features, 1)


def _transition(in_channels, out_channels, resize):
    """Batch norm, ReLU, 1x1x1 convolution, then ``resize``: a ``(name,
    module)`` pair that pools or upsamples."""
    return nn.Sequential(OrderedDict([
        ("norm", nn.BatchNorm3d(in_channels)),
        ("relu", nn.ReLU(inplace=True)),
        ("conv", nn.Conv3d(in_channels, out_channels, 1, bias=False)),
        resize,
    ]))


def _channels(growth_rate, block_config, num_init_features, bn_size):
    """Check the architecture; return the channels in and out of each block."""
    for name, value in (("growth_rate", growth_rate), ("bn_size", bn_size),
                        ("num_init_features", num_init_features)):
        check_scalar(value, name, numbers.Integral, min_val=1)
    block_config = tuple(block_config)
    if not block_config or not all(
        isinstance(n, numbers.Integral) and n >= 1 for n in block_config
    ):
        raise ValueError(
            f"block_config={block_config} must hold the number of layers of "
            "each dense block, each >= 1, e.g. (6, 12, 24, 16) for DenseNet-121."
        )
    inputs, outputs = [num_init_features], []
    for index, n_layers in enumerate(block_config):
        outputs.append(inputs[-1] + n_layers * growth_rate)
        if index < len(block_config) - 1:
            inputs.append(outputs[-1] // 2)
    return block_config, inputs, outputs


def _initialize(module):
    for layer in module.modules():
        if isinstance(layer, (nn.Conv3d, nn.ConvTranspose3d)):
            nn.init.kaiming_normal_(layer.weight)
        elif isinstance(layer, nn.BatchNorm3d):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.Linear):
            nn.init.zeros_(layer.bias)
