"""3-D densely connected networks (DenseNet) that encode volumes."""

import numbers
from collections import OrderedDict

import torch
import torch.nn.functional as F
from sklearn.utils import check_scalar
from torch import nn
from torch.utils.checkpoint import checkpoint

from ._docs import fill_doc


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


@fill_doc
class DenseNet(nn.Module):
    """3-D densely connected network (DenseNet-BC) that encodes a volume.

    A stem (7x7x7 convolution of stride 2, 3x3x3 max pooling of stride 2),
    dense blocks in which each layer adds ``growth_rate`` channels computed
    from all the previous ones, transitions that halve the channels and the
    size between them, a ReLU, a global average pooling and a linear
    embedding. Each pooling halves the size: with the default four blocks,
    volumes need at least 29 voxels per axis.

    Parameters
    ----------
    growth_rate : int, default=32
        Channels added by each layer (``k`` in [1]_).
    block_config : sequence of int, default=(3, 12, 24, 16)
        Number of layers of each dense block.
    num_init_features : int, default=64
        Channels of the first convolution.
    bn_size : int, default=4
        The bottleneck of each layer has ``bn_size * growth_rate`` channels.
    %(in_channels)s
    n_embedding : int, default=512
        Number of output features.
    memory_efficient : bool, default=False
        Recompute the concatenations in the backward pass instead of keeping
        them: slower, and the memory grows linearly with the depth.

    %(densenet_encoder_sections)s

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import DenseNet
    >>> encoder = DenseNet(growth_rate=4, block_config=(2, 2, 2, 2),
    ...                    num_init_features=8, n_embedding=16)
    >>> encoder(torch.zeros(2, 1, 33, 41, 29)).shape
    torch.Size([2, 16])
    """

    def __init__(self, growth_rate=32, block_config=(3, 12, 24, 16),
                 num_init_features=64, bn_size=4, in_channels=1, n_embedding=512,
                 memory_efficient=False):
        super().__init__()
        block_config, inputs, outputs = _channels(
            growth_rate, block_config, num_init_features, bn_size
        )
        self.in_channels = in_channels
        self.n_embedding = n_embedding
        self.features = nn.Sequential(OrderedDict([
            ("conv0", nn.Conv3d(in_channels, num_init_features, 7, stride=2,
                                padding=3, bias=False)),
            ("norm0", nn.BatchNorm3d(num_init_features)),
            ("relu0", nn.ReLU(inplace=True)),
            ("pool0", nn.MaxPool3d(3, stride=2, padding=1)),
        ]))
        for index, n_layers in enumerate(block_config):
            self.features.add_module(
                f"denseblock{index + 1}",
                _DenseBlock(n_layers, inputs[index], growth_rate, bn_size,
                            memory_efficient),
            )
            if index < len(block_config) - 1:
                self.features.add_module(
                    f"transition{index + 1}",
                    _transition(outputs[index], inputs[index + 1],
                                ("pool", nn.AvgPool3d(2, 2))),
                )
        self.embedding = nn.Linear(outputs[-1], n_embedding)
        _initialize(self)

    def forward(self, x):
        """Encode a batch ``(batch, in_channels, H, W, D)`` into
        ``(batch, n_embedding)`` features."""
        out = F.adaptive_avg_pool3d(F.relu(self.features(x)), 1)
        return self.embedding(torch.flatten(out, 1))


@fill_doc
def densenet121(**kwargs):
    """3-D DenseNet-121: growth rate 32, blocks of 6, 12, 24 and 16 layers.

    Parameters
    ----------
    **kwargs
        Arguments of :class:`DenseNet` other than ``growth_rate``,
        ``block_config`` and ``num_init_features``.

    Returns
    -------
    encoder : DenseNet

    %(densenet_references)s

    Examples
    --------
    >>> from nidl.backbones.volume import densenet121
    >>> densenet121(n_embedding=128).n_embedding
    128
    """
    return DenseNet(32, (6, 12, 24, 16), 64, **kwargs)
