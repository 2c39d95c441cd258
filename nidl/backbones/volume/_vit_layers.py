"""Transformer layers that the 3-D Vision Transformer and its decoder share.

The layers keep the attribute names of the usual 2-D Vision Transformers
(``proj``, ``attn.qkv``, ``attn.proj``, ``mlp.fc1``, ``mlp.fc2``, ``ls1``,
``drop_path1``...), so that their state dictionaries map one to one onto
those of 2-D checkpoints.
"""

import math
import numbers

import torch
import torch.nn.functional as F
from sklearn.utils import check_scalar
from torch import nn


def _triple(value, name):
    """An int or a sequence of 3 ints as a tuple of 3 positive ints."""
    if isinstance(value, numbers.Integral):
        value = (value,) * 3
    value = tuple(value)
    if len(value) != 3 or not all(
        isinstance(v, numbers.Integral) and v >= 1 for v in value
    ):
        raise ValueError(
            f"{name}={value} must be a positive int or 3 positive ints "
            "(one per spatial axis)."
        )
    return tuple(int(v) for v in value)


def _drop_path_rates(drop_path_rate, depth):
    """Stochastic depth rates of ``depth`` blocks, rising linearly from 0.

    Plain floats, so that the model can be built on the meta device.
    """
    return [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]


def _init_vit_weights(model, tokens):
    """Truncated normal (std 0.02) for the learned ``tokens`` and the linear
    weights; zero biases; unit layer norms.

    ``tokens`` may hold None or buffers (fixed positions), which are skipped.
    """
    for token in tokens:
        if isinstance(token, nn.Parameter):
            nn.init.trunc_normal_(token, std=0.02)
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm) and module.elementwise_affine:
            nn.init.ones_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


class PatchEmbed3D(nn.Module):
    """Cut a volume into non-overlapping patches and embed each one.

    A ``Conv3d`` whose kernel and stride are the patch size maps a batch
    ``(batch, in_chans, H, W, D)`` to one ``embed_dim`` vector per patch.
    The tokens are listed in row-major order over the grid of patches
    ``(H', W', D') = (H / pH, W / pW, D / pD)``: the last axis varies
    fastest.

    Parameters
    ----------
    img_size : int or tuple of 3 int
        Spatial shape of the input volumes; an int for a cube.
    patch_size : int or tuple of 3 int
        Spatial shape of a patch; each axis of ``img_size`` must be a
        multiple of it.
    in_chans : int, default=1
        Number of channels of the input.
    embed_dim : int, default=768
        Number of channels of each token.
    bias : bool, default=True
        Whether the projection has a bias.
    strict_img_size : bool, default=True
        Whether inputs must have exactly ``img_size``. If False, any shape
        that is a multiple of the patch size is accepted.
    flatten : bool, default=True
        Whether to return tokens. If False, the projected map
        ``(batch, embed_dim, H', W', D')`` is returned.
    output_fmt : {"NLC", "NHWDC"}, default="NLC"
        Layout of the output when ``flatten`` is True: tokens
        ``(batch, n_patches, embed_dim)``, or the grid with channels last
        ``(batch, H', W', D', embed_dim)`` (what
        :class:`VisionTransformer3D` uses with ``dynamic_img_size=True``).

    Attributes
    ----------
    img_size, patch_size, grid_size : tuple of 3 int
        Shapes of the input, of a patch and of the grid of patches.
    num_patches : int
        Number of patches of an input of ``img_size``.
    proj : torch.nn.Conv3d
        The projection.

    Raises
    ------
    ValueError
        If ``img_size`` is not a multiple of ``patch_size``, or, in
        ``forward``, if the input is not 5-D or has another spatial shape
        than ``img_size`` (when ``strict_img_size``) or than a multiple of
        ``patch_size``.

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import PatchEmbed3D
    >>> embed = PatchEmbed3D((16, 8, 12), 4, embed_dim=10)
    >>> embed.grid_size, embed.num_patches
    ((4, 2, 3), 24)
    >>> embed(torch.zeros(2, 1, 16, 8, 12)).shape
    torch.Size([2, 24, 10])
    """

    def __init__(self, img_size, patch_size, in_chans=1, embed_dim=768, bias=True,
                 strict_img_size=True, flatten=True, output_fmt="NLC"):
        super().__init__()
        self.img_size = _triple(img_size, "img_size")
        self.patch_size = _triple(patch_size, "patch_size")
        if any(i % p for i, p in zip(self.img_size, self.patch_size)):
            raise ValueError(
                f"img_size={self.img_size} must be a multiple of "
                f"patch_size={self.patch_size} along every axis; crop or pad the "
                "volumes (nidl.transforms.CropOrPad) or change the patch size."
            )
        if output_fmt not in ("NLC", "NHWDC"):
            raise ValueError(
                f"output_fmt={output_fmt!r} is not supported; use 'NLC' for tokens "
                "or 'NHWDC' for the grid with channels last."
            )
        self.grid_size = tuple(i // p for i, p in zip(self.img_size, self.patch_size))
        self.num_patches = math.prod(self.grid_size)
        self.strict_img_size = strict_img_size
        self.flatten = flatten
        self.output_fmt = output_fmt
        self.proj = nn.Conv3d(in_chans, embed_dim, kernel_size=self.patch_size,
                              stride=self.patch_size, bias=bias)

    def forward(self, x):
        """Embed the patches of ``x``, a batch ``(batch, in_chans, H, W, D)``."""
        if x.ndim != 5:
            raise ValueError(
                f"PatchEmbed3D expects a batch of volumes (batch, channels, H, W, D); "
                f"got a tensor of shape {tuple(x.shape)}."
            )
        shape = tuple(x.shape[2:])
        if self.strict_img_size and shape != self.img_size:
            raise ValueError(
                f"input volumes have shape {shape} but the model was built for "
                f"img_size={self.img_size}; resize the input or build the model "
                "with dynamic_img_size=True."
            )
        if any(s % p for s, p in zip(shape, self.patch_size)):
            raise ValueError(
                f"input volumes have shape {shape}, not a multiple of "
                f"patch_size={self.patch_size}; crop or pad them."
            )
        x = self.proj(x)
        if not self.flatten:
            return x
        if self.output_fmt == "NHWDC":
            return x.permute(0, 2, 3, 4, 1)
        return x.flatten(2).transpose(1, 2)


class DropPath(nn.Module):
    """Drop the residual branch of whole samples (stochastic depth).

    In training, each sample's input is zeroed with probability
    ``drop_prob`` and scaled by ``1 / (1 - drop_prob)`` otherwise, so that
    its expectation is unchanged; in evaluation the input passes unchanged.

    Parameters
    ----------
    drop_prob : float, default=0.0
        Probability of dropping a sample, in [0, 1).

    References
    ----------
    .. [1] G. Huang, Y. Sun, Z. Liu, D. Sedra and K. Weinberger, "Deep
       Networks with Stochastic Depth", ECCV 2016.

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume.vit import DropPath
    >>> _ = torch.manual_seed(0)
    >>> drop = DropPath(0.5).train()
    >>> drop(torch.ones(4, 2))  # a sample is kept (x 2) or dropped (0)
    tensor([[0., 0.],
            [0., 0.],
            [2., 2.],
            [0., 0.]])
    """

    def __init__(self, drop_prob=0.0):
        super().__init__()
        check_scalar(drop_prob, "drop_prob", numbers.Real, min_val=0, max_val=1,
                     include_boundaries="left")
        self.drop_prob = float(drop_prob)

    def forward(self, x):
        """Drop whole samples of ``x`` in training; identity in evaluation."""
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        # Scale the per-sample mask, not the whole activation.
        return x * mask.div_(keep)

    def extra_repr(self):
        return f"drop_prob={self.drop_prob}"


class LayerScale(nn.Module):
    """Multiply each channel by a learned scale, initialised to ``init_values``.

    Parameters
    ----------
    dim : int
        Number of channels.
    init_values : float, default=1e-5
        Initial scale.

    References
    ----------
    .. [1] H. Touvron et al., "Going deeper with Image Transformers",
       ICCV 2021.

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume.vit import LayerScale
    >>> LayerScale(3, init_values=0.5)(torch.ones(1, 3))
    tensor([[0.5000, 0.5000, 0.5000]], grad_fn=<MulBackward0>)
    """

    def __init__(self, dim, init_values=1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_values)))

    def forward(self, x):
        """Scale the last axis of ``x``."""
        return x * self.gamma


class Attention(nn.Module):
    """Multi-head self-attention over a sequence of tokens.

    Parameters
    ----------
    dim : int
        Number of channels of the tokens, a multiple of ``num_heads``.
    num_heads : int, default=8
        Number of attention heads.
    qkv_bias : bool, default=False
        Whether the query-key-value projection has a bias.
    qk_norm : bool, default=False
        Whether to normalise queries and keys (per head) before their dot
        products, which keeps attention logits bounded.
    scale_norm : bool, default=False
        Whether to normalise the heads' output before the output projection.
    proj_bias : bool, default=True
        Whether the output projection has a bias.
    attn_drop : float, default=0.0
        Dropout rate of the attention weights.
    proj_drop : float, default=0.0
        Dropout rate after the output projection.
    norm_layer : callable, default=None
        Normalisation of ``qk_norm`` and ``scale_norm``; None means
        ``torch.nn.LayerNorm``.

    Attributes
    ----------
    num_heads, head_dim : int
        Number of heads and channels per head.
    qkv, proj : torch.nn.Linear
        Query-key-value and output projections.

    References
    ----------
    .. [1] A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017.

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume.vit import Attention
    >>> Attention(16, num_heads=4)(torch.zeros(2, 5, 16)).shape
    torch.Size([2, 5, 16])
    """

    def __init__(self, dim, num_heads=8, qkv_bias=False, qk_norm=False,
                 scale_norm=False, proj_bias=True, attn_drop=0.0, proj_drop=0.0,
                 norm_layer=None):
        super().__init__()
        check_scalar(num_heads, "num_heads", numbers.Integral, min_val=1)
        if dim % num_heads:
            raise ValueError(
                f"embed_dim={dim} must be a multiple of num_heads={num_heads}; "
                "each head gets embed_dim / num_heads channels."
            )
        norm_layer = norm_layer or nn.LayerNorm
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.q_norm = norm_layer(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = norm_layer(self.head_dim) if qk_norm else nn.Identity()
        self.attn_drop = nn.Dropout(attn_drop)
        self.norm = norm_layer(dim) if scale_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x, attn_mask=None):
        """Attend over ``x`` ``(batch, n_tokens, dim)``.

        ``attn_mask`` is passed to
        :func:`torch.nn.functional.scaled_dot_product_attention` (True or
        0 where a query may attend to a key).
        """
        batch, n_tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, n_tokens, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        x = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask,
            dropout_p=self.attn_drop.p if self.training else 0.0,
        )
        x = x.transpose(1, 2).reshape(batch, n_tokens, dim)
        x = self.norm(x)
        return self.proj_drop(self.proj(x))


class Mlp(nn.Module):
    """Two-layer perceptron applied to each token.

    Parameters
    ----------
    in_features : int
        Number of input channels.
    hidden_features : int, default=None
        Number of hidden channels; None means ``in_features``.
    out_features : int, default=None
        Number of output channels; None means ``in_features``.
    act_layer : callable, default=torch.nn.GELU
        Activation between the layers.
    norm_layer : callable, default=None
        Normalisation of the hidden channels, if any.
    bias : bool, default=True
        Whether the layers have biases.
    drop : float, default=0.0
        Dropout rate after the activation and after the second layer.

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume.vit import Mlp
    >>> Mlp(8, hidden_features=32)(torch.zeros(2, 5, 8)).shape
    torch.Size([2, 5, 8])
    """

    def __init__(self, in_features, hidden_features=None, out_features=None,
                 act_layer=nn.GELU, norm_layer=None, bias=True, drop=0.0):
        super().__init__()
        hidden_features = hidden_features or in_features
        out_features = out_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features, bias=bias)
        self.act = act_layer()
        self.drop1 = nn.Dropout(drop)
        self.norm = norm_layer(hidden_features) if norm_layer else nn.Identity()
        self.fc2 = nn.Linear(hidden_features, out_features, bias=bias)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x):
        """Apply the perceptron to the last axis of ``x``."""
        x = self.drop1(self.act(self.fc1(x)))
        return self.drop2(self.fc2(self.norm(x)))


class Block(nn.Module):
    """Pre-norm transformer block: attention then MLP, each residual.

    ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``, each branch with
    an optional layer scale and stochastic depth.

    Parameters
    ----------
    dim : int
        Number of channels of the tokens.
    num_heads : int
        Number of attention heads.
    mlp_ratio : float, default=4.0
        Hidden channels of the MLP per channel of the tokens.
    qkv_bias, qk_norm : bool, default=False
        As for :class:`Attention`.
    scale_attn_norm : bool, default=False
        Whether to normalise the heads' output before the attention's
        output projection.
    scale_mlp_norm : bool, default=False
        Whether to normalise the MLP's hidden channels.
    proj_bias : bool, default=True
        Whether the output projections of the attention and the MLP have
        biases.
    proj_drop : float, default=0.0
        Dropout rate after the projections.
    attn_drop : float, default=0.0
        Dropout rate of the attention weights.
    init_values : float, default=None
        Initial layer scale of both branches; None means no layer scale.
    drop_path : float, default=0.0
        Stochastic depth rate of both branches.
    act_layer : callable, default=torch.nn.GELU
        Activation of the MLP.
    norm_layer : callable, default=torch.nn.LayerNorm
        Normalisation layer.
    mlp_layer : callable, default=Mlp
        Class of the MLP.
    attn_layer : callable, default=Attention
        Class of the attention.
    depth : int, default=0
        Index of the block in its network; accepted so that custom
        ``block_fn`` may depend on it, unused here.

    Examples
    --------
    >>> import torch
    >>> from nidl.backbones.volume import Block
    >>> block = Block(16, num_heads=2, qk_norm=True, drop_path=0.1)
    >>> block(torch.zeros(2, 5, 16)).shape
    torch.Size([2, 5, 16])
    """

    def __init__(self, dim, num_heads, mlp_ratio=4.0, qkv_bias=False, qk_norm=False,
                 scale_attn_norm=False, scale_mlp_norm=False, proj_bias=True,
                 proj_drop=0.0, attn_drop=0.0, init_values=None, drop_path=0.0,
                 act_layer=nn.GELU, norm_layer=nn.LayerNorm, mlp_layer=Mlp,
                 attn_layer=Attention, depth=0):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = attn_layer(
            dim, num_heads=num_heads, qkv_bias=qkv_bias, qk_norm=qk_norm,
            scale_norm=scale_attn_norm, proj_bias=proj_bias, attn_drop=attn_drop,
            proj_drop=proj_drop, norm_layer=norm_layer,
        )
        self.ls1 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.drop_path1 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = mlp_layer(
            in_features=dim, hidden_features=int(dim * mlp_ratio),
            act_layer=act_layer, norm_layer=norm_layer if scale_mlp_norm else None,
            bias=proj_bias, drop=proj_drop,
        )
        self.ls2 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.drop_path2 = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x, attn_mask=None):
        """Transform the tokens ``x`` ``(batch, n_tokens, dim)``."""
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x), attn_mask=attn_mask)))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))
