"""Fixed sine-cosine position embeddings for sequences, images and volumes."""

import math
import numbers

import torch
from sklearn.utils import check_scalar

__all__ = [
    "build_1d_sincos_posemb",
    "build_2d_sincos_posemb",
    "build_3d_sincos_posemb",
]


def _frequencies(n_frequencies, temperature):
    """``temperature ** (-j / n_frequencies)`` for ``j = 0 .. n_frequencies - 1``."""
    exponents = torch.arange(n_frequencies, dtype=torch.float32) / n_frequencies
    return 1.0 / (temperature**exponents)


def _sincos_grid(sizes, embed_dim, temperature, n_frequencies):
    """Sine-cosine codes of a grid: ``(1, embed_dim, *sizes)``, float32.

    Axis ``i`` of the grid is coded by the channel blocks ``2 i`` (sines)
    and ``2 i + 1`` (cosines), each of ``n_frequencies`` channels; the
    channels beyond ``embed_dim`` are dropped.
    """
    omega = _frequencies(n_frequencies, temperature)
    # indexing="ij": coordinate i varies along axis i of the grid, whatever
    # the sizes, so that each block codes its own axis on non-cubic grids.
    coordinates = torch.meshgrid(
        *[torch.arange(size, dtype=torch.float32) for size in sizes], indexing="ij"
    )
    blocks = []
    for coordinate in coordinates:
        angles = coordinate[..., None] * omega  # (*sizes, n_frequencies)
        blocks += [torch.sin(angles), torch.cos(angles)]
    codes = torch.cat(blocks, dim=-1)[..., :embed_dim]
    return codes.movedim(-1, 0).unsqueeze(0).contiguous()


def _check_sizes(sizes, names, embed_dim, temperature):
    for size, name in zip(sizes, names):
        check_scalar(size, name, numbers.Integral, min_val=1)
    check_scalar(embed_dim, "embed_dim", numbers.Integral, min_val=1)
    check_scalar(temperature, "temperature", numbers.Real, min_val=0,
                 include_boundaries="neither")


def build_3d_sincos_posemb(h, w, d, embed_dim=1024, temperature=10000.0):
    """Fixed sine-cosine position embeddings of a 3-D grid of patches.

    With ``P = ceil(embed_dim / 6)`` frequencies
    ``omega_j = temperature ** (-j / P)``, the channels hold six blocks of
    ``P`` values: the sines and cosines of ``i * omega`` for the index
    ``i`` along the first axis, then along the second, then along the
    third; the channels beyond ``embed_dim`` are dropped. Each block codes
    its own axis on any grid, cubic or not.

    Parameters
    ----------
    h, w, d : int
        Size of the grid along its first, second and third axes.
    embed_dim : int, default=1024
        Number of channels of each embedding.
    temperature : float, default=10000.0
        Base of the geometric sequence of frequencies; the lowest one is
        about ``1 / temperature``.

    Returns
    -------
    pos_embed : torch.Tensor
        float32 tensor of shape ``(1, embed_dim, h, w, d)``. Flatten it with
        ``pos_embed.flatten(2).transpose(1, 2)`` to get one embedding per
        patch, in the order of :class:`~nidl.backbones.volume.PatchEmbed3D`'s
        tokens.

    See Also
    --------
    build_2d_sincos_posemb : The same for 2-D grids.
    nidl.backbones.volume.VisionTransformer3D : Uses it with
        ``pos_embed="sincos"``.

    Notes
    -----
    Some implementations build the grid in ``(w, h, d)`` order and read it
    back as ``(h, w, d)``, which is the same thing on grids with ``h == w``
    only; here the first blocks always code the first axis.

    References
    ----------
    .. [1] X. Chen, S. Xie and K. He, "An Empirical Study of Training
       Self-Supervised Vision Transformers", ICCV 2021.

    Examples
    --------
    >>> from nidl.backbones.volume.utils import build_3d_sincos_posemb
    >>> pos = build_3d_sincos_posemb(4, 2, 3, embed_dim=12)
    >>> pos.shape, pos.dtype
    (torch.Size([1, 12, 4, 2, 3]), torch.float32)
    >>> pos[0, 0, :, 0, 0]  # sin(i) for the first axis, i = 0..3
    tensor([0.0000, 0.8415, 0.9093, 0.1411])
    """
    _check_sizes((h, w, d), ("h", "w", "d"), embed_dim, temperature)
    return _sincos_grid((h, w, d), embed_dim, temperature, math.ceil(embed_dim / 6))


def build_2d_sincos_posemb(h, w, embed_dim=1024, temperature=10000.0):
    """Fixed sine-cosine position embeddings of a 2-D grid of patches.

    With ``P = embed_dim / 4`` frequencies
    ``omega_j = temperature ** (-j / P)``, the channels hold four blocks of
    ``P`` values: the sines and cosines of ``i * omega`` for the index
    ``i`` along the first axis, then along the second.

    Parameters
    ----------
    h, w : int
        Size of the grid along its first and second axes.
    embed_dim : int, default=1024
        Number of channels of each embedding, a multiple of 4.
    temperature : float, default=10000.0
        Base of the geometric sequence of frequencies.

    Returns
    -------
    pos_embed : torch.Tensor
        float32 tensor of shape ``(1, embed_dim, h, w)``.

    Raises
    ------
    ValueError
        If ``embed_dim`` is not a multiple of 4.

    See Also
    --------
    build_3d_sincos_posemb : The same for 3-D grids.

    Examples
    --------
    >>> from nidl.backbones.volume.utils import build_2d_sincos_posemb
    >>> pos = build_2d_sincos_posemb(3, 5, embed_dim=8)
    >>> pos.shape
    torch.Size([1, 8, 3, 5])
    >>> pos[0, 4, 0, :]  # sin(j) for the second axis, j = 0..4
    tensor([ 0.0000,  0.8415,  0.9093,  0.1411, -0.7568])
    """
    _check_sizes((h, w), ("h", "w"), embed_dim, temperature)
    if embed_dim % 4:
        raise ValueError(
            f"embed_dim={embed_dim} must be a multiple of 4 for 2-D sine-cosine "
            "position embeddings (a sine and a cosine block per axis)."
        )
    return _sincos_grid((h, w), embed_dim, temperature, embed_dim // 4)


def build_1d_sincos_posemb(max_seq_len, embed_dim=1024):
    """Fixed sine-cosine position embeddings of a sequence.

    The embeddings of the original transformer: channel ``2 j`` holds
    ``sin(t * omega_j)`` and channel ``2 j + 1`` holds ``cos(t * omega_j)``
    for position ``t``, with ``omega_j = 10000 ** (-2 j / embed_dim)``.

    Parameters
    ----------
    max_seq_len : int
        Number of positions.
    embed_dim : int, default=1024
        Number of channels of each embedding, even.

    Returns
    -------
    pos_embed : torch.Tensor
        float32 tensor of shape ``(1, max_seq_len, embed_dim)``, batch first.

    Raises
    ------
    ValueError
        If ``embed_dim`` is odd.

    References
    ----------
    .. [1] A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017.

    Examples
    --------
    >>> from nidl.backbones.volume.utils import build_1d_sincos_posemb
    >>> pos = build_1d_sincos_posemb(3, embed_dim=4)
    >>> pos.shape
    torch.Size([1, 3, 4])
    >>> pos[0, :, 0]  # sin(t)
    tensor([0.0000, 0.8415, 0.9093])
    """
    check_scalar(max_seq_len, "max_seq_len", numbers.Integral, min_val=1)
    check_scalar(embed_dim, "embed_dim", numbers.Integral, min_val=1)
    if embed_dim % 2:
        raise ValueError(
            f"embed_dim={embed_dim} must be even for 1-D sine-cosine position "
            "embeddings (one sine and one cosine channel per frequency)."
        )
    omega = _frequencies(embed_dim // 2, 10000.0)
    angles = torch.arange(max_seq_len, dtype=torch.float32)[:, None] * omega
    pos_embed = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1)
    return pos_embed.reshape(1, max_seq_len, embed_dim)
