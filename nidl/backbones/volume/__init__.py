"""3-D encoders for volumes and the decoders that mirror them.

The encoders (:class:`ResNet`, :class:`DenseNet`, :class:`AlexNet`,
:class:`VisionTransformer3D` and their usual sizes) map a batch
``(batch, in_channels, H, W, D)`` to ``(batch, n_embedding)`` (to
``(batch, embed_dim)`` for a Vision Transformer without a head); each
decoder maps ``(batch, in_features)`` back to ``(batch, out_channels, H, W,
D)`` for the volume shape it is built for, so that an encoder and its
decoder make a VAE::

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
from .vit import (
    Block,
    PatchEmbed3D,
    VisionTransformer3D,
    vit_base_patch16_128,
    vit_large_patch16_128,
    vit_small_patch16_128,
)
from .vit_decoder import (
    VisionTransformer3DDecoder,
    vit_base_patch16_128_decoder,
    vit_large_patch16_128_decoder,
    vit_small_patch16_128_decoder,
)

__all__ = [
    "AlexNet",
    "AlexNetDecoder",
    "BasicBlock",
    "Block",
    "Bottleneck",
    "DenseNet",
    "DenseNetDecoder",
    "PatchEmbed3D",
    "ResNet",
    "ResNetDecoder",
    "ResNetTruncated",
    "VisionTransformer3D",
    "VisionTransformer3DDecoder",
    "densenet121",
    "densenet121_decoder",
    "resnet18",
    "resnet18_decoder",
    "resnet18_trunc",
    "resnet50",
    "resnet50_decoder",
    "resnet50_trunc",
    "vit_base_patch16_128",
    "vit_base_patch16_128_decoder",
    "vit_large_patch16_128",
    "vit_large_patch16_128_decoder",
    "vit_small_patch16_128",
    "vit_small_patch16_128_decoder",
]
