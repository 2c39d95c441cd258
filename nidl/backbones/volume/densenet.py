"""3-D densely connected networks (DenseNet) that encode volumes."""

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from ._densenet_layers import _channels, _DenseBlock, _initialize, _transition


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
    in_channels : int, default=1
        Number of channels of the input.
    n_embedding : int, default=512
        Number of output features.
    memory_efficient : bool, default=False
        Recompute the concatenations in the backward pass instead of keeping
        them: slower, and the memory grows linearly with the depth.

    Attributes
    ----------
    n_embedding : int
        Number of output features, the ``encoder_out_dim`` of a VAE.
    in_channels : int
        Number of channels of the input.

    See Also
    --------
    densenet121 : DenseNet-121.
    DenseNetDecoder : The decoder that mirrors this network.

    References
    ----------
    .. [1] G. Huang, Z. Liu, L. van der Maaten and K. Q. Weinberger,
       "Densely Connected Convolutional Networks", CVPR 2017.

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

    References
    ----------
    .. [1] G. Huang, Z. Liu, L. van der Maaten and K. Q. Weinberger,
       "Densely Connected Convolutional Networks", CVPR 2017.

    Examples
    --------
    >>> from nidl.backbones.volume import densenet121
    >>> densenet121(n_embedding=128).n_embedding
    128
    """
    return DenseNet(32, (6, 12, 24, 16), 64, **kwargs)
