"""3-D Vision Transformer, built from ``torch.nn`` only.

The modules keep the attribute names of the usual 2-D Vision Transformers
(``patch_embed``, ``cls_token``, ``pos_embed``, ``blocks``, ``norm``,
``head``, ``blocks[i].attn.qkv``, ``blocks[i].mlp.fc1``...), so that their
state dictionaries map one to one and estimators that drive a ViT token by
token (I-JEPA, masked autoencoders) find what they expect.
"""

import math
import numbers
from collections import OrderedDict

import torch
import torch.nn.functional as F
from sklearn.utils import check_scalar
from torch import nn

from ._vit_layers import (
    Attention,
    Block,
    DropPath,
    LayerScale,
    Mlp,
    PatchEmbed3D,
    _drop_path_rates,
    _init_vit_weights,
)
from .utils.pos_embed import build_3d_sincos_posemb

__all__ = [
    "Attention",
    "Block",
    "DropPath",
    "LayerScale",
    "Mlp",
    "PatchEmbed3D",
    "VisionTransformer3D",
    "checkpoint_filter_fn",
    "vit_base_patch16_128",
    "vit_large_patch16_128",
    "vit_small_patch16_128",
]

GLOBAL_POOLS = ("cls_token", "avg", "max", "avgmax", "")
POS_EMBEDS = ("learned", "sincos", "none")


class VisionTransformer3D(nn.Module):
    """Vision Transformer for volumes.

    The volume is cut into patches, each embedded by :class:`PatchEmbed3D`;
    a class token and ``reg_tokens`` register tokens (the *prefix*) are
    prepended, absolute position embeddings added, and the sequence goes
    through ``depth`` pre-norm transformer :class:`Block`\\ s. The output is
    the class token or a pooling of the patch tokens, followed by a linear
    head when ``num_classes > 0``: by default ``forward`` maps
    ``(batch, in_chans, H, W, D)`` to ``(batch, embed_dim)``, an encoder for
    a VAE or a self-supervised estimator.

    Parameters
    ----------
    img_size : int or tuple of 3 int
        Spatial shape of the input volumes.
    patch_size : int or tuple of 3 int
        Spatial shape of a patch; ``img_size`` must be a multiple of it.
    in_chans : int, default=1
        Number of input channels.
    num_classes : int, default=0
        Outputs of the linear head; 0 means no head.
    global_pool : {"cls_token", "avg", "max", "avgmax", ""}, default="cls_token"
        Output of the tokens: the class token, the mean, the maximum or the
        average of both over the patch tokens; ``""`` keeps the whole
        sequence, for :meth:`forward_features` users (``forward`` then
        raises).
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
    scale_attn_norm, scale_mlp_norm : bool, default=False
        Whether to normalise inside the attention and the MLP (see
        :class:`Block`).
    proj_bias : bool, default=True
        Whether the output projections have biases.
    class_token : bool, default=True
        Whether to prepend a learned class token.
    reg_tokens : int, default=0
        Number of learned register tokens, after the class token.
    no_embed_class : bool, default=False
        Whether position embeddings cover the patch tokens only; by
        default the prefix tokens have theirs too.
    pre_norm : bool, default=False
        Whether to normalise the tokens before the blocks (the patch
        projection then has no bias).
    final_norm : bool, default=True
        Whether to normalise the tokens after the blocks.
    fc_norm : bool, default=None
        Whether to normalise after pooling instead of before; None means
        True for the "avg", "max" and "avgmax" poolings.
    dynamic_img_size : bool, default=False
        Whether to accept any input shape that is a multiple of the patch
        size: learned position embeddings are then resampled (trilinear
        interpolation) to the input's grid, sine-cosine ones are rebuilt
        for it.
    pos_embed : {"learned", "sincos", "none"}, default="learned"
        Position embeddings: a learned parameter, fixed sine-cosine codes
        (:func:`~nidl.backbones.volume.utils.build_3d_sincos_posemb`,
        a non-persistent buffer, zero for the prefix tokens), or none.
    drop_rate : float, default=0.0
        Dropout rate before the head.
    pos_drop_rate : float, default=0.0
        Dropout rate after the position embeddings.
    proj_drop_rate, attn_drop_rate : float, default=0.0
        Dropout rates in the blocks (see :class:`Block`).
    drop_path_rate : float, default=0.0
        Stochastic depth rate of the last block; it rises linearly from 0
        at the first block.
    embed_layer : callable, default=PatchEmbed3D
        Class of the patch embedding.
    norm_layer : callable, default=torch.nn.LayerNorm
        Normalisation layer.
    act_layer : callable, default=torch.nn.GELU
        Activation of the MLPs.
    block_fn : callable, default=Block
        Class of the blocks; it is given the block options, ``attn_layer``,
        ``mlp_layer`` and ``depth`` (the block's index).
    mlp_layer : callable, default=Mlp
        Class of the MLPs.
    attn_layer : callable, default=Attention
        Class of the attention.

    Attributes
    ----------
    patch_embed : PatchEmbed3D
        The patch embedding; ``patch_embed.grid_size`` and
        ``patch_embed.num_patches`` describe the grid of patches.
    cls_token, reg_token : torch.nn.Parameter or None
        The prefix tokens, ``(1, 1, embed_dim)`` and
        ``(1, reg_tokens, embed_dim)``.
    pos_embed : torch.nn.Parameter, torch.Tensor or None
        Position embeddings, ``(1, n_patches + num_prefix_tokens, embed_dim)``
        or ``(1, n_patches, embed_dim)`` with ``no_embed_class``.
    blocks : torch.nn.Sequential
        The transformer blocks.
    norm, fc_norm : torch.nn.Module
        Normalisations before and after pooling (one is an identity).
    head : torch.nn.Module
        The linear head, or an identity.
    num_prefix_tokens : int
        Number of class and register tokens.
    embed_dim, num_features : int
        Number of channels of the tokens.

    Raises
    ------
    ValueError
        If ``global_pool`` or ``pos_embed`` is unknown, if ``img_size`` is
        not a multiple of ``patch_size`` or ``embed_dim`` of ``num_heads``;
        in ``forward``, if the input's shape is not the one the model was
        built for, or if the class token is pooled without one.

    See Also
    --------
    vit_small_patch16_128, vit_base_patch16_128, vit_large_patch16_128 : Presets.
    VisionTransformer3DDecoder : A decoder that mirrors it, for VAEs.
    checkpoint_filter_fn : Adapt a 2-D or 3-D checkpoint to a model.

    References
    ----------
    .. [1] A. Dosovitskiy et al., "An Image is Worth 16x16 Words:
       Transformers for Image Recognition at Scale", ICLR 2021.
    .. [2] T. Darcet, M. Oquab, J. Mairal and P. Bojanowski, "Vision
       Transformers Need Registers", ICLR 2024.

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import VisionTransformer3D
    >>> vit = VisionTransformer3D(img_size=(16, 8, 12), patch_size=4, embed_dim=32,
    ...                           depth=2, num_heads=2)
    >>> vit.patch_embed.grid_size
    (4, 2, 3)
    >>> x = torch.zeros(2, 1, 16, 8, 12)
    >>> vit(x).shape
    torch.Size([2, 32])
    >>> vit.forward_features(x).shape  # the class token and 24 patch tokens
    torch.Size([2, 25, 32])
    """

    def __init__(self, img_size, patch_size, in_chans=1, num_classes=0,
                 global_pool="cls_token", embed_dim=768, depth=12, num_heads=12,
                 mlp_ratio=4.0, qkv_bias=True, qk_norm=False, scale_attn_norm=False,
                 scale_mlp_norm=False, proj_bias=True, class_token=True,
                 reg_tokens=0, no_embed_class=False, pre_norm=False,
                 final_norm=True, fc_norm=None, dynamic_img_size=False,
                 pos_embed="learned", drop_rate=0.0, pos_drop_rate=0.0,
                 proj_drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.0,
                 embed_layer=PatchEmbed3D, norm_layer=nn.LayerNorm,
                 act_layer=nn.GELU, block_fn=Block, mlp_layer=Mlp,
                 attn_layer=Attention):
        super().__init__()
        _check_global_pool(global_pool)
        if pos_embed not in POS_EMBEDS:
            raise ValueError(
                f"pos_embed={pos_embed!r} is not one of {POS_EMBEDS}."
            )
        check_scalar(num_classes, "num_classes", numbers.Integral, min_val=0)
        check_scalar(embed_dim, "embed_dim", numbers.Integral, min_val=1)
        check_scalar(depth, "depth", numbers.Integral, min_val=0)
        check_scalar(reg_tokens, "reg_tokens", numbers.Integral, min_val=0)
        self.num_classes = int(num_classes)
        self.global_pool = global_pool
        self.embed_dim = self.num_features = self.head_hidden_size = int(embed_dim)
        self.has_class_token = bool(class_token)
        self.num_reg_tokens = int(reg_tokens)
        self.num_prefix_tokens = int(self.has_class_token) + self.num_reg_tokens
        self.no_embed_class = bool(no_embed_class)
        self.dynamic_img_size = bool(dynamic_img_size)
        self.pos_embed_type = pos_embed

        embed_args = {}
        if self.dynamic_img_size:
            # Keep the grid so that positions can be resampled to it.
            embed_args["output_fmt"] = "NHWDC"
        self.patch_embed = embed_layer(
            img_size=img_size, patch_size=patch_size, in_chans=in_chans,
            embed_dim=embed_dim, bias=not pre_norm,
            strict_img_size=not self.dynamic_img_size, **embed_args,
        )
        self.grid_size = tuple(self.patch_embed.grid_size)
        self.num_patches = self.patch_embed.num_patches

        self.cls_token = (nn.Parameter(torch.zeros(1, 1, embed_dim))
                          if class_token else None)
        self.reg_token = (nn.Parameter(torch.zeros(1, self.num_reg_tokens, embed_dim))
                          if self.num_reg_tokens else None)
        embed_len = self.num_patches + (0 if no_embed_class else self.num_prefix_tokens)
        if pos_embed == "learned":
            self.pos_embed = nn.Parameter(torch.zeros(1, embed_len, embed_dim))
        elif pos_embed == "sincos":
            self.register_buffer(
                "pos_embed", self._sincos_embed(self.grid_size), persistent=False
            )
        else:
            self.pos_embed = None
        self.pos_drop = nn.Dropout(pos_drop_rate)
        self.patch_drop = nn.Identity()
        self.norm_pre = norm_layer(embed_dim) if pre_norm else nn.Identity()

        rates = _drop_path_rates(drop_path_rate, depth)
        self.blocks = nn.Sequential(*[
            block_fn(
                dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias, qk_norm=qk_norm, scale_attn_norm=scale_attn_norm,
                scale_mlp_norm=scale_mlp_norm, proj_bias=proj_bias,
                proj_drop=proj_drop_rate, attn_drop=attn_drop_rate,
                drop_path=rates[index], norm_layer=norm_layer, act_layer=act_layer,
                mlp_layer=mlp_layer, attn_layer=attn_layer, depth=index,
            )
            for index in range(depth)
        ])
        use_fc_norm = (global_pool in ("avg", "avgmax", "max")
                       if fc_norm is None else bool(fc_norm))
        self.norm = (norm_layer(embed_dim) if final_norm and not use_fc_norm
                     else nn.Identity())
        self.fc_norm = norm_layer(embed_dim) if use_fc_norm else nn.Identity()
        self.head_drop = nn.Dropout(drop_rate)
        self.head = (nn.Linear(embed_dim, num_classes) if num_classes > 0
                     else nn.Identity())
        self.init_weights()

    def _sincos_embed(self, grid_size):
        """Sine-cosine positions of a grid, zero rows for the prefix tokens."""
        pos = build_3d_sincos_posemb(*grid_size, embed_dim=self.embed_dim)
        pos = pos.flatten(2).transpose(1, 2)
        if not self.no_embed_class and self.num_prefix_tokens:
            prefix = pos.new_zeros(1, self.num_prefix_tokens, self.embed_dim)
            pos = torch.cat([prefix, pos], dim=1)
        return pos

    def init_weights(self):
        """Initialise the weights: truncated normal (std 0.02) for the
        tokens, the learned positions and the linear weights; zero biases;
        unit layer norms."""
        _init_vit_weights(self, (self.cls_token, self.reg_token, self.pos_embed))

    def _grid_pos_embed(self, grid_size):
        """Position embeddings for another grid (``dynamic_img_size``)."""
        if self.pos_embed_type == "sincos":
            return self._sincos_embed(grid_size).to(self.pos_embed)
        n_prefix = 0 if self.no_embed_class else self.num_prefix_tokens
        prefix, grid = self.pos_embed[:, :n_prefix], self.pos_embed[:, n_prefix:]
        grid = grid.reshape(1, *self.grid_size, -1).permute(0, 4, 1, 2, 3)
        grid = F.interpolate(grid, size=grid_size, mode="trilinear",
                             align_corners=False)
        grid = grid.flatten(2).transpose(1, 2)
        return torch.cat([prefix, grid], dim=1)

    def _pos_embed(self, x):
        """Prepend the prefix tokens and add the position embeddings.

        ``x`` holds patch tokens ``(batch, n_patches, embed_dim)``, or the
        grid ``(batch, H', W', D', embed_dim)`` with ``dynamic_img_size``;
        the result is ``(batch, num_prefix_tokens + n_patches, embed_dim)``.
        """
        pos_embed = self.pos_embed
        if x.ndim == 5:
            grid_size = tuple(x.shape[1:4])
            x = x.flatten(1, 3)
            if pos_embed is not None and grid_size != self.grid_size:
                pos_embed = self._grid_pos_embed(grid_size)
        prefix = [token.expand(x.shape[0], -1, -1)
                  for token in (self.cls_token, self.reg_token) if token is not None]
        if not self.no_embed_class:
            x = torch.cat([*prefix, x], dim=1)
        if pos_embed is not None:
            if x.shape[1] != pos_embed.shape[1]:
                raise ValueError(
                    f"{x.shape[1]} tokens get {pos_embed.shape[1]} position "
                    "embeddings; give the model inputs of its img_size or build "
                    "it with dynamic_img_size=True."
                )
            x = x + pos_embed
        if self.no_embed_class:
            x = torch.cat([*prefix, x], dim=1)
        return self.pos_drop(x)

    def forward_features(self, x):
        """Tokens after the blocks and the final norm.

        Parameters
        ----------
        x : torch.Tensor
            Volumes ``(batch, in_chans, H, W, D)``.

        Returns
        -------
        tokens : torch.Tensor
            ``(batch, num_prefix_tokens + n_patches, embed_dim)``: the class
            token, the register tokens, then the patch tokens in row-major
            order over the grid of patches.
        """
        x = self.patch_embed(x)
        x = self._pos_embed(x)
        x = self.patch_drop(x)
        x = self.norm_pre(x)
        x = self.blocks(x)
        return self.norm(x)

    def pool(self, x, pool_type=None):
        """Pool a sequence of tokens into one vector per sample.

        Parameters
        ----------
        x : torch.Tensor
            Tokens ``(batch, num_prefix_tokens + n_patches, embed_dim)``.
        pool_type : str, default=None
            One of ``global_pool``'s values; None means ``global_pool``.

        Returns
        -------
        pooled : torch.Tensor
            ``(batch, embed_dim)``, or ``x`` itself for ``""``.
        """
        pool_type = self.global_pool if pool_type is None else pool_type
        _check_global_pool(pool_type, "pool_type")
        if pool_type == "":
            return x
        if pool_type == "cls_token":
            if not self.has_class_token:
                raise ValueError(
                    "global_pool='cls_token' needs a class token but the model was "
                    "built with class_token=False; use global_pool='avg' instead."
                )
            return x[:, 0]
        patches = x[:, self.num_prefix_tokens:]
        if pool_type == "avg":
            return patches.mean(dim=1)
        if pool_type == "max":
            return patches.amax(dim=1)
        return 0.5 * (patches.mean(dim=1) + patches.amax(dim=1))

    def forward_head(self, x, pre_logits=False):
        """Pool the tokens of :meth:`forward_features` and apply the head.

        Parameters
        ----------
        x : torch.Tensor
            Tokens ``(batch, num_prefix_tokens + n_patches, embed_dim)``.
        pre_logits : bool, default=False
            Whether to stop before the head.

        Returns
        -------
        out : torch.Tensor
            ``(batch, num_classes)``, or ``(batch, embed_dim)`` without a head
            or with ``pre_logits``.
        """
        x = self.pool(x)
        if x.ndim != 2:
            raise ValueError(
                "global_pool='' keeps the whole sequence of tokens, which the head "
                "cannot take; call forward_features for the tokens, or set "
                "global_pool to 'cls_token', 'avg', 'max' or 'avgmax'."
            )
        x = self.head_drop(self.fc_norm(x))
        return x if pre_logits else self.head(x)

    def forward(self, x):
        """Map volumes ``(batch, in_chans, H, W, D)`` to ``(batch, num_classes)``
        (``(batch, embed_dim)`` without a head)."""
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(self, x, indices=(-1,), norm=False, output_fmt="NLC",
                              intermediates_only=False):
        """Outputs of some blocks, and the final tokens.

        Parameters
        ----------
        x : torch.Tensor
            Volumes ``(batch, in_chans, H, W, D)``.
        indices : int or sequence of int, default=(-1,)
            Indices of the blocks whose outputs to return (negative ones
            count from the end).
        norm : bool, default=False
            Whether to apply the final norm to the returned outputs.
        output_fmt : {"NLC", "NCHWD"}, default="NLC"
            Layout of the returned outputs: the whole sequence of tokens
            ``(batch, num_prefix_tokens + n_patches, embed_dim)``, or the
            patch tokens as maps ``(batch, embed_dim, H', W', D')``.
        intermediates_only : bool, default=False
            Whether to return the block outputs only.

        Returns
        -------
        tokens : torch.Tensor
            The output of :meth:`forward_features`; not returned with
            ``intermediates_only``.
        intermediates : list of torch.Tensor
            The block outputs, in the order of the blocks.
        """
        if output_fmt not in ("NLC", "NCHWD"):
            raise ValueError(
                f"output_fmt={output_fmt!r} is not supported; use 'NLC' for "
                "sequences of tokens or 'NCHWD' for maps of patch tokens."
            )
        n_blocks = len(self.blocks)
        indices = [indices] if isinstance(indices, numbers.Integral) else indices
        wanted = set()
        for index in indices:
            if not -n_blocks <= index < n_blocks:
                raise ValueError(
                    f"block index {index} is out of range for a model of "
                    f"{n_blocks} blocks."
                )
            wanted.add(index % n_blocks)
        x = self.patch_embed(x)
        grid_size = tuple(x.shape[1:4]) if x.ndim == 5 else self.grid_size
        x = self._pos_embed(x)
        x = self.norm_pre(self.patch_drop(x))
        intermediates = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in wanted:
                y = self.norm(x) if norm else x
                if output_fmt == "NCHWD":
                    y = y[:, self.num_prefix_tokens:].transpose(1, 2)
                    y = y.reshape(y.shape[0], -1, *grid_size)
                intermediates.append(y)
        if intermediates_only:
            return intermediates
        return self.norm(x), intermediates

    def reset_classifier(self, num_classes, global_pool=None):
        """Replace the head by a new one.

        Parameters
        ----------
        num_classes : int
            Outputs of the new linear head; 0 means no head.
        global_pool : str, default=None
            New pooling, if not None.
        """
        check_scalar(num_classes, "num_classes", numbers.Integral, min_val=0)
        if global_pool is not None:
            _check_global_pool(global_pool)
            self.global_pool = global_pool
        self.num_classes = int(num_classes)
        if num_classes > 0:
            reference = next(self.parameters())
            self.head = nn.Linear(self.embed_dim, num_classes).to(reference)
            nn.init.trunc_normal_(self.head.weight, std=0.02)
            nn.init.zeros_(self.head.bias)
        else:
            self.head = nn.Identity()

    def get_classifier(self):
        """The head: a ``torch.nn.Linear``, or an identity without one."""
        return self.head

    def no_weight_decay(self):
        """Names of the parameters usually trained without weight decay.

        Returns
        -------
        names : set of str
            Among ``cls_token``, ``reg_token`` and ``pos_embed`` (when
            learned), those the model has.
        """
        names = {name for name in ("cls_token", "reg_token")
                 if getattr(self, name) is not None}
        if isinstance(self.pos_embed, nn.Parameter):
            names.add("pos_embed")
        return names


def _check_global_pool(value, name="global_pool"):
    if value not in GLOBAL_POOLS:
        raise ValueError(f"{name}={value!r} is not one of {GLOBAL_POOLS}.")


def _resize_2d_pos_embed(pos_embed, n_prefix, grid_size):
    """Square 2-D grid of positions resized to the model's 3-D grid.

    Bicubic resizing to the first two axes, then repeated over the third
    and divided by its size, so that a sum over the depth keeps the 2-D
    scale.
    """
    side = math.isqrt(pos_embed.shape[1] - n_prefix)
    prefix, grid = pos_embed[:, :n_prefix], pos_embed[:, n_prefix:]
    channels = grid.shape[-1]
    grid = grid.reshape(1, side, side, channels).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=grid_size[:2], mode="bicubic",
                         align_corners=False).to(pos_embed.dtype)
    depth = grid_size[2]
    grid = grid.unsqueeze(-1).expand(-1, -1, -1, -1, depth) / depth
    grid = grid.permute(0, 2, 3, 4, 1).reshape(1, -1, channels)
    return torch.cat([prefix, grid], dim=1)


def _adapt_pos_embed(value, current, model):
    """2-D positions of a checkpoint on the model's grid and prefix rows.

    The checkpoint's prefix rows are those of the model, one (a class
    token) or none, whichever leaves a square grid; the model's prefix rows
    it has no counterpart for keep their current values.
    """
    n_prefix = current.shape[1] - model.num_patches
    for source_prefix in dict.fromkeys((n_prefix, 1, 0)):
        n_grid = value.shape[1] - source_prefix
        if n_grid > 0 and math.isqrt(n_grid) ** 2 == n_grid:
            grid = _resize_2d_pos_embed(value, source_prefix, model.grid_size)
            prefix = current[:, :n_prefix].clone().to(value.dtype)
            shared = min(source_prefix, n_prefix)
            prefix[:, :shared] = value[:, :shared]
            return torch.cat([prefix, grid[:, source_prefix:]], dim=1)
    return value


def checkpoint_filter_fn(state_dict, model):
    """Adapt a 2-D or 3-D Vision Transformer checkpoint to a model.

    Keeps the entries the model has with the model's shapes, after two
    conversions of 2-D weights:

    - a 2-D patch kernel ``(C, in, kH, kW)`` is inflated along the first
      spatial axis to ``(C, in, pH, kH, kW)`` (repeated ``pH`` times and
      divided by ``pH``, so that a volume constant along that axis gives
      the 2-D response);
    - a square 2-D grid of learned positions is resized (bicubic) to the
      model's first two grid axes, repeated along the third and divided
      by its size; a class-token row is kept if the model has one, and the
      model's other prefix rows (register tokens) keep their values.

    Other entries of another shape (a head for other classes, for instance)
    are dropped, as are entries the model does not have. Load the result
    with ``model.load_state_dict(filtered, strict=False)``.

    Parameters
    ----------
    state_dict : dict of str to torch.Tensor
        The checkpoint's weights.
    model : VisionTransformer3D
        The model to load them into.

    Returns
    -------
    filtered : collections.OrderedDict
        The weights the model can load.

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import VisionTransformer3D
    >>> from nidl.backbones.volume.vit import checkpoint_filter_fn
    >>> model = VisionTransformer3D(8, 4, embed_dim=16, depth=1, num_heads=2)
    >>> weights_2d = {"patch_embed.proj.weight": torch.ones(16, 1, 4, 4),
    ...               "head.weight": torch.ones(10, 16)}
    >>> filtered = checkpoint_filter_fn(weights_2d, model)
    >>> list(filtered), filtered["patch_embed.proj.weight"].shape
    (['patch_embed.proj.weight'], torch.Size([16, 1, 4, 4, 4]))
    """
    target = model.state_dict()
    filtered = OrderedDict()
    for key, value in state_dict.items():
        if key not in target:
            continue
        shape = target[key].shape
        if key == "patch_embed.proj.weight" and value.ndim == 4 and len(shape) == 5:
            depth = shape[2]
            value = value.unsqueeze(2).expand(-1, -1, depth, -1, -1) / depth
        elif key == "pos_embed" and value.shape != shape and value.ndim == 3:
            value = _adapt_pos_embed(value, target[key], model)
        if value.shape == shape:
            filtered[key] = value.contiguous()
    return filtered


def _preset(kwargs, **defaults):
    return VisionTransformer3D(**{**defaults, **kwargs})


def vit_small_patch16_128(**kwargs):
    """ViT-S/16 for 128-voxel cubes: 384 channels, 12 blocks of 6 heads.

    8 x 8 x 8 = 512 patches of 16 voxels; 23,064,960 parameters with the
    defaults (22,867,968 with ``pos_embed="sincos"`` or ``"none"``).

    Parameters
    ----------
    **kwargs
        Other arguments of :class:`VisionTransformer3D`; they may also
        replace the preset's (``img_size``, ``patch_size``...).

    Returns
    -------
    model : VisionTransformer3D

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import vit_small_patch16_128
    >>> with torch.device("meta"):  # no memory, no initialisation
    ...     model = vit_small_patch16_128()
    >>> sum(p.numel() for p in model.parameters())
    23064960
    """
    return _preset(kwargs, img_size=128, patch_size=16, embed_dim=384, depth=12,
                   num_heads=6, mlp_ratio=4.0)


def vit_base_patch16_128(**kwargs):
    """ViT-B/16 for 128-voxel cubes: 768 channels, 12 blocks of 12 heads.

    8 x 8 x 8 = 512 patches of 16 voxels; 88,597,248 parameters with the
    defaults (88,203,264 with ``pos_embed="sincos"`` or ``"none"``).

    Parameters
    ----------
    **kwargs
        Other arguments of :class:`VisionTransformer3D`; they may also
        replace the preset's.

    Returns
    -------
    model : VisionTransformer3D

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import vit_base_patch16_128
    >>> with torch.device("meta"):
    ...     model = vit_base_patch16_128(num_classes=2)
    >>> model.head
    Linear(in_features=768, out_features=2, bias=True)
    """
    return _preset(kwargs, img_size=128, patch_size=16, embed_dim=768, depth=12,
                   num_heads=12, mlp_ratio=4.0)


def vit_large_patch16_128(**kwargs):
    """ViT-L/16 for 128-voxel cubes: 1024 channels, 24 blocks of 16 heads.

    8 x 8 x 8 = 512 patches of 16 voxels; 307,033,088 parameters with the
    defaults (306,507,776 with ``pos_embed="sincos"`` or ``"none"``).

    Parameters
    ----------
    **kwargs
        Other arguments of :class:`VisionTransformer3D`; they may also
        replace the preset's.

    Returns
    -------
    model : VisionTransformer3D

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import vit_large_patch16_128
    >>> with torch.device("meta"):
    ...     model = vit_large_patch16_128(global_pool="avg")
    >>> len(model.blocks), model.embed_dim
    (24, 1024)
    """
    return _preset(kwargs, img_size=128, patch_size=16, embed_dim=1024, depth=24,
                   num_heads=16, mlp_ratio=4.0)
