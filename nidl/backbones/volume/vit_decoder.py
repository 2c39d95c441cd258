"""Decoder that mirrors the 3-D Vision Transformer back to volumes."""

import math

import torch
from torch import nn

from ._mirror import check_decoder_arguments
from ._vit_layers import Block, _drop_path_rates, _init_vit_weights, _triple
from .utils.pos_embed import build_3d_sincos_posemb
from .vit import POS_EMBEDS


class VisionTransformer3DDecoder(nn.Module):
    """Transformer decoder that mirrors a :class:`VisionTransformer3D`.

    A linear layer maps the input features to one ``embed_dim`` vector,
    which is added to the position embedding of every patch of the grid;
    the tokens go through ``depth`` transformer blocks and a layer norm,
    and a transposed convolution whose kernel and stride are the patch
    size (the inverse of the encoder's patch embedding) turns each token
    back into its patch of voxels. Attention lets each patch depend on the
    others, so the patches of a volume fit together. The output has no
    final activation: it is read as the mean of a VAE's likelihood.

    Parameters
    ----------
    spatial_shape : int or tuple of 3 int
        Shape of the output volumes, without the channel axis (the
        encoder's ``img_size``); a multiple of ``patch_size``.
    patch_size : int or tuple of 3 int
        Shape of a patch, as for the encoder.
    in_features : int
        Number of input features (a VAE's ``latent_dim``).
    out_channels : int, default=1
        Number of channels of the output.
    embed_dim : int, default=768
        Number of channels of the tokens.
    depth : int, default=12
        Number of transformer blocks.
    num_heads : int, default=12
        Number of attention heads; ``embed_dim`` must be a multiple of it.
    mlp_ratio : float, default=4.0
        Hidden channels of the MLPs per channel of the tokens.
    qkv_bias : bool, default=True
        Whether the query-key-value projections have biases.
    qk_norm : bool, default=False
        Whether to normalise queries and keys.
    proj_bias : bool, default=True
        Whether the output projections of the blocks have biases.
    pos_embed : {"learned", "sincos"}, default="learned"
        Position embeddings of the patches: learned, or fixed sine-cosine
        codes (a non-persistent buffer). The decoder needs them: they are
        what tells the patches apart.
    drop_path_rate : float, default=0.0
        Stochastic depth rate of the last block, rising linearly from 0.
    norm_layer : callable, default=torch.nn.LayerNorm
        Normalisation layer.
    act_layer : callable, default=torch.nn.GELU
        Activation of the MLPs.

    Attributes
    ----------
    spatial_shape, patch_size, grid_size : tuple of 3 int
        Shapes of the output, of a patch and of the grid of patches.
    encoder_shapes : list of tuple of int
        Spatial shapes of the mirrored encoder's input and patch grid.
    embed : torch.nn.Linear
        Map of the input features to a token.
    pos_embed : torch.nn.Parameter or torch.Tensor
        Position embeddings ``(1, n_patches, embed_dim)``.
    blocks : torch.nn.Sequential
        The transformer blocks.
    norm : torch.nn.Module
        The final normalisation.
    unpatch : torch.nn.ConvTranspose3d
        Map of the tokens to their patches of voxels.

    Raises
    ------
    ValueError
        If ``spatial_shape`` is not 3 positive sizes that are multiples of
        ``patch_size``, if ``in_features`` or ``out_channels`` is below 1,
        or if ``pos_embed`` is unknown.

    See Also
    --------
    VisionTransformer3D : The encoder it mirrors.

    References
    ----------
    .. [1] K. He, X. Chen, S. Xie, Y. Li, P. Dollár and R. Girshick,
       "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022.

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import VisionTransformer3DDecoder
    >>> decoder = VisionTransformer3DDecoder((16, 8, 12), 4, in_features=3,
    ...                                      embed_dim=32, depth=1, num_heads=2)
    >>> decoder.grid_size
    (4, 2, 3)
    >>> decoder(torch.zeros(2, 3)).shape
    torch.Size([2, 1, 16, 8, 12])
    """

    def __init__(self, spatial_shape, patch_size, in_features, out_channels=1,
                 embed_dim=768, depth=12, num_heads=12, mlp_ratio=4.0,
                 qkv_bias=True, qk_norm=False, proj_bias=True, pos_embed="learned",
                 drop_path_rate=0.0, norm_layer=nn.LayerNorm, act_layer=nn.GELU):
        super().__init__()
        if isinstance(spatial_shape, int):
            spatial_shape = (spatial_shape,) * 3
        self.patch_size = _triple(patch_size, "patch_size")

        def shapes_of(shape):
            return [shape, tuple(s // p for s, p in zip(shape, self.patch_size))]

        self.spatial_shape, self.encoder_shapes = check_decoder_arguments(
            spatial_shape, in_features, out_channels, shapes_of,
            "this Vision Transformer decoder",
        )
        if any(s % p for s, p in zip(self.spatial_shape, self.patch_size)):
            raise ValueError(
                f"spatial_shape={self.spatial_shape} must be a multiple of "
                f"patch_size={self.patch_size} along every axis, as for the "
                "encoder; crop or pad the volumes (nidl.transforms.CropOrPad)."
            )
        if pos_embed not in POS_EMBEDS[:2]:
            raise ValueError(
                f"pos_embed={pos_embed!r} is not one of {POS_EMBEDS[:2]}; the "
                "decoder needs position embeddings to tell the patches apart."
            )
        self.in_features = in_features
        self.out_channels = out_channels
        self.embed_dim = embed_dim
        self.grid_size = self.encoder_shapes[1]
        self.num_patches = math.prod(self.grid_size)
        self.embed = nn.Linear(in_features, embed_dim)
        if pos_embed == "learned":
            self.pos_embed = nn.Parameter(torch.zeros(1, self.num_patches, embed_dim))
        else:
            pos = build_3d_sincos_posemb(*self.grid_size, embed_dim=embed_dim)
            self.register_buffer("pos_embed", pos.flatten(2).transpose(1, 2),
                                 persistent=False)
        rates = _drop_path_rates(drop_path_rate, depth)
        self.blocks = nn.Sequential(*[
            Block(embed_dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                  qk_norm=qk_norm, proj_bias=proj_bias, drop_path=rates[index],
                  norm_layer=norm_layer, act_layer=act_layer, depth=index)
            for index in range(depth)
        ])
        self.norm = norm_layer(embed_dim)
        self.unpatch = nn.ConvTranspose3d(embed_dim, out_channels,
                                          kernel_size=self.patch_size,
                                          stride=self.patch_size)
        _init_vit_weights(self, (self.pos_embed,))

    def forward(self, z):
        """Decode a batch ``(batch, in_features)`` into volumes
        ``(batch, out_channels, *spatial_shape)``."""
        x = self.embed(z)[:, None, :] + self.pos_embed
        x = self.norm(self.blocks(x))
        x = x.transpose(1, 2).reshape(z.shape[0], self.embed_dim, *self.grid_size)
        return self.unpatch(x)


def _decoder_preset(in_features, out_channels, kwargs, **defaults):
    return VisionTransformer3DDecoder(
        in_features=in_features, out_channels=out_channels, **{**defaults, **kwargs}
    )


def vit_small_patch16_128_decoder(in_features, out_channels=1, **kwargs):
    """Decoder that mirrors :func:`vit_small_patch16_128` back to 128-voxel cubes.

    Parameters
    ----------
    in_features : int
        Number of input features (a VAE's ``latent_dim``).
    out_channels : int, default=1
        Number of channels of the output.
    **kwargs
        Other arguments of :class:`VisionTransformer3DDecoder`; they may
        replace the preset's (``spatial_shape``, ``patch_size``...).

    Returns
    -------
    decoder : VisionTransformer3DDecoder

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import vit_small_patch16_128_decoder
    >>> with torch.device("meta"):
    ...     decoder = vit_small_patch16_128_decoder(16)
    >>> decoder.spatial_shape, decoder.grid_size, len(decoder.blocks)
    ((128, 128, 128), (8, 8, 8), 12)
    """
    return _decoder_preset(in_features, out_channels, kwargs, spatial_shape=128,
                           patch_size=16, embed_dim=384, depth=12, num_heads=6)


def vit_base_patch16_128_decoder(in_features, out_channels=1, **kwargs):
    """Decoder that mirrors :func:`vit_base_patch16_128` back to 128-voxel cubes.

    Parameters
    ----------
    in_features : int
        Number of input features (a VAE's ``latent_dim``).
    out_channels : int, default=1
        Number of channels of the output.
    **kwargs
        Other arguments of :class:`VisionTransformer3DDecoder`; they may
        replace the preset's.

    Returns
    -------
    decoder : VisionTransformer3DDecoder

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import vit_base_patch16_128_decoder
    >>> with torch.device("meta"):
    ...     decoder = vit_base_patch16_128_decoder(16, depth=4)
    >>> decoder.embed_dim, len(decoder.blocks)
    (768, 4)
    """
    return _decoder_preset(in_features, out_channels, kwargs, spatial_shape=128,
                           patch_size=16, embed_dim=768, depth=12, num_heads=12)


def vit_large_patch16_128_decoder(in_features, out_channels=1, **kwargs):
    """Decoder that mirrors :func:`vit_large_patch16_128` back to 128-voxel cubes.

    Parameters
    ----------
    in_features : int
        Number of input features (a VAE's ``latent_dim``).
    out_channels : int, default=1
        Number of channels of the output.
    **kwargs
        Other arguments of :class:`VisionTransformer3DDecoder`; they may
        replace the preset's.

    Returns
    -------
    decoder : VisionTransformer3DDecoder

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import vit_large_patch16_128_decoder
    >>> with torch.device("meta"):
    ...     decoder = vit_large_patch16_128_decoder(16)
    >>> decoder.embed_dim, len(decoder.blocks)
    (1024, 24)
    """
    return _decoder_preset(in_features, out_channels, kwargs, spatial_shape=128,
                           patch_size=16, embed_dim=1024, depth=24, num_heads=16)
