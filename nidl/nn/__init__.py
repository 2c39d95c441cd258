"""Neural network building blocks: backbones for the estimators."""

from .conv import ConvDecoder, ConvEncoder

__all__ = ["ConvDecoder", "ConvEncoder"]
