"""Backbones: the networks that an estimator wraps.

The 3-D encoders and the decoders that mirror them are in
:mod:`nidl.backbones.volume`.
"""

__all__ = []
