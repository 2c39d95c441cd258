"""3-D AlexNet that encodes volumes."""

import torch
from torch import nn

from ._alexnet_layers import _normalized


class AlexNet(nn.Module):
    """3-D AlexNet that encodes a volume into ``n_embedding`` features.

    Five convolutions with batch norm and ReLU (64, 128, 192, 192 and 128
    channels; the first of kernel 5 and stride 2, the others of kernel 3),
    max poolings of kernel and stride 3 after the first two, a global max
    pooling and a linear embedding: a 3-D version of the AlexNet of [1]_ for
    brain volumes. Volumes need at least 33 voxels per axis.

    Parameters
    ----------
    n_embedding : int, default=128
        Number of output features.
    in_channels : int, default=1
        Number of channels of the input.

    Attributes
    ----------
    n_embedding : int
        Number of output features, the ``encoder_out_dim`` of a VAE.
    in_channels : int
        Number of channels of the input.

    See Also
    --------
    AlexNetDecoder : The decoder that mirrors this network.

    References
    ----------
    .. [1] A. Krizhevsky, I. Sutskever and G. E. Hinton, "ImageNet
       Classification with Deep Convolutional Neural Networks", NeurIPS 2012.

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import AlexNet
    >>> encoder = AlexNet(n_embedding=16)
    >>> encoder(torch.zeros(2, 1, 33, 41, 35)).shape
    torch.Size([2, 16])
    """

    def __init__(self, n_embedding=128, in_channels=1):
        super().__init__()
        self.n_embedding = n_embedding
        self.in_channels = in_channels
        self.features = nn.Sequential(
            *_normalized(nn.Conv3d(in_channels, 64, 5, stride=2)),
            nn.MaxPool3d(3, stride=3),
            *_normalized(nn.Conv3d(64, 128, 3)),
            nn.MaxPool3d(3, stride=3),
            *_normalized(nn.Conv3d(128, 192, 3, padding=1)),
            *_normalized(nn.Conv3d(192, 192, 3, padding=1)),
            *_normalized(nn.Conv3d(192, 128, 3, padding=1)),
            nn.AdaptiveMaxPool3d(1),
        )
        self.regressor = nn.Linear(128, n_embedding)

    def forward(self, x):
        """Encode a batch ``(batch, in_channels, H, W, D)`` into
        ``(batch, n_embedding)`` features."""
        return self.regressor(torch.flatten(self.features(x), 1))
