"""3-D encoders for volumes and the decoders that mirror them.

The encoders (:class:`ResNet`, :class:`DenseNet`, :class:`AlexNet` and their
usual depths) map a batch ``(batch, in_channels, H, W, D)`` to
``(batch, n_embedding)``; each decoder maps ``(batch, in_features)`` back to
``(batch, out_channels, H, W, D)`` for the volume shape it is built for, so
that an encoder and its decoder make a VAE::

    encoder = resnet18(width_per_group=16)
    decoder = resnet18_decoder(shape, latent_dim, width_per_group=16)
    VAE(encoder, decoder, encoder_out_dim=encoder.n_embedding, latent_dim=latent_dim)
"""

from .alexnet import AlexNet
from .alexnet_decoder import AlexNetDecoder
from .densenet import DenseNet, densenet121
from .densenet_decoder import DenseNetDecoder, densenet121_decoder
from .resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    ResNetTruncated,
    resnet18,
    resnet18_trunc,
    resnet50,
    resnet50_trunc,
)
from .resnet_decoder import ResNetDecoder, resnet18_decoder, resnet50_decoder

__all__ = [
    "AlexNet",
    "AlexNetDecoder",
    "BasicBlock",
    "Bottleneck",
    "DenseNet",
    "DenseNetDecoder",
    "ResNet",
    "ResNetDecoder",
    "ResNetTruncated",
    "densenet121",
    "densenet121_decoder",
    "resnet18",
    "resnet18_decoder",
    "resnet18_trunc",
    "resnet50",
    "resnet50_decoder",
    "resnet50_trunc",
]
