"""Helpers of the volume backbones: fixed position embeddings."""

from .pos_embed import (
    build_1d_sincos_posemb,
    build_2d_sincos_posemb,
    build_3d_sincos_posemb,
)

__all__ = [
    "build_1d_sincos_posemb",
    "build_2d_sincos_posemb",
    "build_3d_sincos_posemb",
]
