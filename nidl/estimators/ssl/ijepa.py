"""I-JEPA: a vision transformer that predicts the features of hidden blocks."""

import math
import numbers

import numpy as np
import torch
from sklearn.utils import check_scalar
from torch import nn
from torch.nn import functional as F
from torch.nn.parameter import is_lazy

from ..._docstrings import fill_doc
from ...backbones.volume import Block
from ...backbones.volume._vit_layers import _init_vit_weights
from ...backbones.volume.utils import build_2d_sincos_posemb, build_3d_sincos_posemb
from .._mixins import TransformerMixin
from ..base import BaseEstimator
from ._moving_average import MovingAverageMixin, frozen_copy
from ._steps import estimator_optimizers, log_loss
from .utils.momentum import MomentumUpdater

__all__ = ["IJEPA"]

#: What I-JEPA needs of a vision transformer given as encoder.
VIT_ATTRIBUTES = ("patch_embed", "blocks", "norm", "embed_dim")

#: Placements of a context block tried before fewer target blocks are cut
#: out of it (see :meth:`MultiBlockMasker.context`).
PLACEMENT_TRIES = 20


def gather_tokens(tokens, indices):
    """The tokens at ``indices``: ``(B, N, C)`` and ``(B, K)`` give ``(B, K, C)``."""
    index = indices.unsqueeze(-1).expand(-1, -1, tokens.shape[-1])
    return torch.gather(tokens, 1, index)


class PatchTokens(nn.Module):
    """The output tokens of a vision transformer for all its patches, or some.

    The patches are embedded and given their positions as the transformer
    does, then only the kept ones go through its blocks, after its prefix
    tokens (class, registers) if it has any: the context encoder of I-JEPA
    sees the context block alone. The output holds the patch tokens only.

    Parameters
    ----------
    vit : torch.nn.Module
        A vision transformer with ``patch_embed`` (returning ``(B, N, C)``
        tokens), ``blocks``, ``norm`` and optionally ``pos_embed``,
        ``cls_token``, ``reg_token``, ``no_embed_class``, ``pos_drop`` and
        ``norm_pre``, as :class:`~nidl.backbones.volume.VisionTransformer3D`.
    """

    def __init__(self, vit):
        super().__init__()
        self.vit = vit

    def forward(self, x, keep=None):
        """Tokens ``(B, N, C)`` of every patch, or ``(B, K, C)`` of ``keep``."""
        vit = self.vit
        tokens = vit.patch_embed(x)
        prefix = [
            token.expand(len(tokens), -1, -1)
            for token in (getattr(vit, "cls_token", None),
                          getattr(vit, "reg_token", None))
            if token is not None
        ]
        prefix = torch.cat(prefix, dim=1) if prefix else tokens[:, :0]
        n_prefix = prefix.shape[1]
        positions = getattr(vit, "pos_embed", None)
        if positions is not None:
            if getattr(vit, "no_embed_class", False):
                tokens = tokens + positions
            else:
                # The positions hold a row per prefix token, then the patches.
                prefix = prefix + positions[:, :n_prefix]
                tokens = tokens + positions[:, n_prefix:]
        if keep is not None:
            tokens = gather_tokens(tokens, keep)
        tokens = torch.cat([prefix, tokens], dim=1)
        for name in ("pos_drop", "norm_pre"):
            module = getattr(vit, name, None)
            if module is not None:
                tokens = module(tokens)
        for block in vit.blocks:
            tokens = block(tokens)
        return vit.norm(tokens)[:, n_prefix:]


def sincos_positions(grid_size, embed_dim):
    """Fixed sine-cosine positions of a 2-D or 3-D grid, ``(1, N, embed_dim)``,
    in the row-major order of the patch tokens."""
    if len(grid_size) == 3:
        grid = build_3d_sincos_posemb(*grid_size, embed_dim=embed_dim)
    else:
        grid = build_2d_sincos_posemb(*grid_size, embed_dim=embed_dim)
    return grid.flatten(2).transpose(1, 2)


class IJEPAPredictor(nn.Module):
    """The narrow transformer that predicts the target tokens from the context.

    The context tokens are mapped to ``predictor_embed_dim`` channels and
    given their positions; for each target block, one learnt mask token per
    target patch, given that patch's position, is appended; the blocks run
    over both, and the outputs at the mask tokens are mapped back to the
    encoder's channels.

    Parameters
    ----------
    grid_size : tuple of int
        The encoder's grid of patches (2 or 3 sizes).
    embed_dim : int
        Channels of the encoder's tokens.
    predictor_embed_dim : int
        Channels of the predictor's tokens.
    depth : int
        Number of transformer blocks.
    num_heads : int
        Attention heads of each block.
    """

    def __init__(self, grid_size, embed_dim, predictor_embed_dim, depth, num_heads):
        super().__init__()
        self.embed = nn.Linear(embed_dim, predictor_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, predictor_embed_dim))
        self.register_buffer(
            "pos_embed", sincos_positions(grid_size, predictor_embed_dim),
            persistent=False,
        )
        self.blocks = nn.ModuleList(
            Block(predictor_embed_dim, num_heads, qkv_bias=True) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(predictor_embed_dim)
        self.proj = nn.Linear(predictor_embed_dim, embed_dim)
        _init_vit_weights(self, (self.mask_token,))

    def forward(self, context, context_indices, target_indices):
        """Predicted tokens ``(M * B, Kt, embed_dim)`` of the target blocks.

        Parameters
        ----------
        context : torch.Tensor, shape (B, Kc, embed_dim)
            The context encoder's tokens.
        context_indices : torch.Tensor of int64, shape (B, Kc)
            Their patches.
        target_indices : torch.Tensor of int64, shape (M, B, Kt)
            The patches of the ``M`` target blocks of each sample.
        """
        n_blocks, batch_size, n_targets = target_indices.shape
        positions = self.pos_embed.expand(batch_size * n_blocks, -1, -1)
        x = self.embed(context) + gather_tokens(positions[:batch_size], context_indices)
        x = x.repeat(n_blocks, 1, 1)
        queries = self.mask_token + gather_tokens(
            positions, target_indices.reshape(n_blocks * batch_size, n_targets)
        )
        x = torch.cat([x, queries], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.proj(self.norm(x[:, -n_targets:]))


class MultiBlockMasker:
    """Draws I-JEPA's context and target blocks of patches for a batch.

    The sizes of the blocks are drawn once per batch and their places once
    per sample. A target block covers a fraction of the patches drawn in
    ``target_block_scale``, with its sides' aspect drawn in
    ``aspect_ratio`` (height over width, and in 3-D depth over width too);
    the context block covers a fraction drawn in ``context_block_scale``
    with equal sides, and loses the patches of the target blocks unless
    ``allow_overlap``. Every sample of a batch keeps the same number of
    context patches (a random subset where it has more), so that the
    indices make one tensor.

    Parameters
    ----------
    grid_size : tuple of int
        The grid of patches, 2 or 3 sizes.
    context_block_scale, target_block_scale, aspect_ratio : (float, float)
        Ranges of the blocks' fractions and aspects.
    num_target_blocks : int
        Target blocks per sample.
    min_keep : int
        Each block must keep more patches than this.
    allow_overlap : bool
        Whether the context may hold patches of the targets.
    """

    def __init__(self, grid_size, context_block_scale, target_block_scale,
                 aspect_ratio, num_target_blocks, min_keep, allow_overlap):
        self.grid_size = tuple(int(size) for size in grid_size)
        self.context_block_scale = context_block_scale
        self.target_block_scale = target_block_scale
        self.aspect_ratio = aspect_ratio
        self.num_target_blocks = num_target_blocks
        self.min_keep = min_keep
        self.allow_overlap = allow_overlap
        # The grid coordinates of every patch, in the row-major order of the
        # patch tokens: one (n_patches,) tensor per axis.
        self._coordinates = [
            axis.flatten()
            for axis in torch.meshgrid(
                *(torch.arange(size) for size in self.grid_size), indexing="ij"
            )
        ]

    @property
    def n_patches(self):
        return math.prod(self.grid_size)

    def block_shape(self, scale, aspect_ratio, generator):
        """Sides of a block covering a fraction in ``scale`` of the grid."""
        low, high = scale
        fraction = low + (high - low) * float(torch.rand(1, generator=generator))
        volume = fraction * self.n_patches
        low, high = aspect_ratio
        aspects = low + (high - low) * torch.rand(len(self.grid_size) - 1,
                                                  generator=generator)
        # Sides proportional to (aspect_1, 1) in 2-D and (aspect_1, 1,
        # aspect_2) in 3-D, scaled to the block's volume.
        ratios = [float(aspects[0]), 1.0, *(float(a) for a in aspects[1:])]
        unit = (volume / math.prod(ratios)) ** (1 / len(ratios))
        # A block leaves at least one row of patches out, as in the paper,
        # unless the grid has a single row.
        return tuple(
            min(max(1, round(unit * ratio)), max(1, size - 1))
            for ratio, size in zip(ratios, self.grid_size)
        )

    def place(self, shape, count, generator):
        """Masks ``(count, n_patches)`` of blocks of ``shape`` at random places.

        All the blocks are drawn at once: a patch is in a block when each of
        its grid coordinates lies within the block's span on that axis.
        """
        inside = torch.ones(count, self.n_patches, dtype=torch.bool)
        for coordinate, size, side in zip(self._coordinates, self.grid_size, shape):
            start = torch.randint(0, size - side + 1, (count, 1), generator=generator)
            inside &= (coordinate >= start) & (coordinate < start + side)
        return inside

    def check(self):
        """Refuse target blocks too small for ``min_keep`` (no draw can pass)."""
        smallest = self.block_shape(
            (self.target_block_scale[0],) * 2, (1.0, 1.0), torch.Generator()
        )
        if math.prod(smallest) <= self.min_keep:
            raise ValueError(
                f"target blocks of {self.target_block_scale[0]} of the "
                f"{self.n_patches} patches ({math.prod(smallest)} patches) do not "
                f"keep more than min_keep={self.min_keep} patches; lower min_keep "
                "or raise target_block_scale, or use smaller patches."
            )

    def __call__(self, batch_size, generator=None):
        """Context indices ``(B, Kc)`` and target indices ``(M, B, Kt)``."""
        target_shape = self.block_shape(
            self.target_block_scale, self.aspect_ratio, generator
        )
        context_shape = self.block_shape(
            self.context_block_scale, (1.0, 1.0), generator
        )
        n_blocks = self.num_target_blocks
        targets = self.place(target_shape, batch_size * n_blocks, generator)
        targets = targets.view(batch_size, n_blocks, -1)
        contexts = self.place(context_shape, batch_size, generator)
        if not self.allow_overlap:
            contexts &= ~targets.any(dim=1)
        # The rare samples left with too few context patches draw again.
        for sample in (contexts.sum(dim=1) <= self.min_keep).nonzero()[:, 0]:
            contexts[sample] = self.context(context_shape, targets[sample], generator)
        # Every sample keeps a random subset of the smallest context's size.
        n_context = int(contexts.sum(dim=1).min())
        scores = torch.rand(contexts.shape, generator=generator)
        scores[~contexts] = 2.0  # after every kept patch
        kept = scores.topk(n_context, dim=1, largest=False).indices
        context = kept.sort(dim=1).values
        # Every target block has the same shape and lies inside the grid: the
        # same number of patches, listed in order by nonzero.
        target = targets.nonzero()[:, 2].view(batch_size, n_blocks, -1)
        return context, target.transpose(0, 1)

    def context(self, shape, blocks, generator):
        """Mask ``(n_patches,)`` of a context block, less the target ``blocks``.

        A place that leaves ``min_keep`` patches or fewer is drawn again;
        after :data:`PLACEMENT_TRIES` places, one target block fewer is cut
        out, as in the paper's implementation.
        """
        for n_cut in range(len(blocks), -1, -1):
            for _ in range(PLACEMENT_TRIES):
                mask = self.place(shape, 1, generator)[0]
                if not self.allow_overlap:
                    mask &= ~blocks[:n_cut].any(dim=0)
                if int(mask.sum()) > self.min_keep:
                    return mask
        return mask


def check_range(value, name, positive=True, maximum=None):
    """A pair ``(low, high)`` of numbers with ``0 < low <= high (<= maximum)``."""
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, numbers.Real) for v in value)
    ):
        raise TypeError(f"{name} must be a pair of numbers (low, high), got {value!r}.")
    low, high = (float(v) for v in value)
    if not (0 < low <= high) or (maximum is not None and high > maximum):
        bound = f" <= {maximum}" if maximum is not None else ""
        raise ValueError(f"{name}={value!r} must satisfy 0 < low <= high{bound}.")
    return low, high


@fill_doc
class IJEPA(MovingAverageMixin, TransformerMixin, BaseEstimator):
    """I-JEPA, a joint-embedding predictive architecture trained by Lightning.

    I-JEPA [1]_ trains a vision transformer without views or augmentations:
    from the patches of one large block of an image (the context), a narrow
    transformer, the predictor, predicts the features of a few other blocks
    (the targets), as a target encoder computes them from the whole image.
    The context encoder (``encoder``) and the predictor learn by gradient
    descent on the smooth L1 distance between predicted and target
    features; the target encoder is the context encoder's exponential
    moving average, ``theta_t <- lambda * theta_t + (1 - lambda) * theta_c``,
    with ``lambda`` rising from ``ema_start`` to ``ema_end`` on a cosine
    over training (logged as ``"lambda"``). Target features are layer-normed
    before the loss. ``transform`` returns the mean of the context
    encoder's tokens over all patches.

    ``fit`` accepts an array or tensor of images or volumes, or a Dataset
    or DataLoader of ``x`` or ``(x, y)`` items (``y`` unused). The blocks
    are drawn on the encoder's grid of patches: two sizes for images
    (``dim=2``), three for volumes (``dim=3``).

    Parameters
    ----------
    encoder : torch.nn.Module
        A vision transformer, trained in place as the context encoder: it
        has ``patch_embed`` (with ``grid_size``, mapping a batch to
        ``(batch, n_patches, embed_dim)`` tokens), ``blocks``, ``norm`` and
        ``embed_dim``, as
        :class:`~nidl.backbones.volume.VisionTransformer3D`.
    dim : {2, 3}, default=3
        Number of axes of the grid of patches.
    context_block_scale : (float, float), default=(0.85, 1.0)
        Range of the fraction of the patches that the context block covers.
    target_block_scale : (float, float), default=(0.15, 0.2)
        Range of the fraction of the patches that each target block covers.
    aspect_ratio : (float, float), default=(0.75, 1.5)
        Range of the aspect of the target blocks.
    num_target_blocks : int, default=4
        Number of target blocks per sample.
    min_keep : int, default=4
        Every block keeps more patches than this.
    allow_overlap : bool, default=False
        Whether the context may hold patches of the target blocks.
    predictor_embed_dim : int, default=384
        Channels of the predictor's tokens.
    predictor_depth_pred : int, default=6
        Number of transformer blocks of the predictor.
    optimizer : {"adam", "adamW", "sgd"} or torch.optim.Optimizer, \
default="adamW"
        The optimiser, named or as an instance (see
        :func:`~nidl.estimators.ssl.utils.optimizer.configure_ssl_optimizers`).
    learning_rate : float, default=3e-4
        Learning rate of a named optimiser; the peak of the schedule.
    weight_decay : float, default=5e-4
        Weight decay of a named optimiser.
    exclude_bias_and_norm_wd : bool, default=True
        Whether biases and normalisation weights have no weight decay.
    ema_start : float, default=0.996
        Momentum of the target encoder at the first step.
    ema_end : float, default=1.0
        Momentum of the target encoder at the last step.
    optimizer_kwargs : dict, default=None
        Other arguments of a named optimiser.
    lr_scheduler : {"warmup_cosine", "none"}, LRScheduler or None, \
default="warmup_cosine"
        The learning-rate schedule: a linear warm-up then a cosine decay
        over the whole training, a constant rate, or a scheduler instance.
    lr_scheduler_kwargs : dict, default=None
        Settings of the schedule: ``warmup_epochs`` (10), ``interval``
        ("step"), ``warmup_start_lr`` (1e-6), ``min_lr`` (0).
    %(random_state)s
    %(batch_size)s
    %(trainer_kwargs)s

    Attributes
    ----------
    context_encoder : torch.nn.Module
        The encoder's tokens of the kept patches (it shares the encoder's
        weights).
    target_encoder : torch.nn.Module
        The moving average of the context encoder, never trained by
        gradient.
    predictor : torch.nn.Module
        The predictor of the target tokens.
    masker : callable
        Draws the context and target blocks of a batch:
        ``masker(batch_size)`` returns the context patch indices
        ``(batch_size, n_context)`` and the target ones
        ``(num_target_blocks, batch_size, n_target)``.
    momentum_updater : MomentumUpdater
        The target encoder's moving average and its momentum schedule.
    loss : torch.nn.SmoothL1Loss
        The loss.
    n_features_in_ : int
        Number of features of a training sample.
    sample_shape_ : tuple of int
        Shape of a training sample.
    history_ : dict of str to list of float
        Epoch means of ``train/loss`` (and ``val/loss`` with validation).

    Notes
    -----
    Unlike upstream nidl, whose estimator keeps no ``encoder`` attribute,
    ``encoder`` is stored as given, as scikit-learn's ``get_params`` and
    ``clone`` need; ``context_encoder`` wraps it. Where samples of a batch
    have context blocks of different sizes, each keeps a random subset of
    the smallest size (the paper's implementation keeps the first
    patches, a bias towards the top of the grid).

    References
    ----------
    .. [1] M. Assran, Q. Duval, I. Misra, P. Bojanowski, P. Vincent,
       M. Rabbat, Y. LeCun and N. Ballas, "Self-Supervised Learning from
       Images with a Joint-Embedding Predictive Architecture", ICCV 2023.

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.backbones.volume import VisionTransformer3D
    >>> from nidl.estimators.ssl import IJEPA
    >>> vit = VisionTransformer3D(img_size=8, patch_size=2, embed_dim=16,
    ...                           depth=1, num_heads=2)
    >>> X = np.random.default_rng(0).normal(size=(8, 1, 8, 8, 8)).astype("float32")
    >>> model = IJEPA(vit, predictor_embed_dim=16, predictor_depth_pred=1,
    ...               min_keep=1, lr_scheduler="none", batch_size=4,
    ...               random_state=0, max_epochs=1, enable_progress_bar=False)
    >>> model.fit(X).transform(X).shape
    (8, 16)
    """

    _logs_epoch_means = True
    _user_modules = ("encoder",)

    def __init__(
        self, encoder, dim=3, context_block_scale=(0.85, 1.0),
        target_block_scale=(0.15, 0.2), aspect_ratio=(0.75, 1.5),
        num_target_blocks=4, min_keep=4, allow_overlap=False,
        predictor_embed_dim=384, predictor_depth_pred=6, optimizer="adamW",
        learning_rate=3e-4, weight_decay=5e-4, exclude_bias_and_norm_wd=True,
        ema_start=0.996, ema_end=1.0, optimizer_kwargs=None,
        lr_scheduler="warmup_cosine", lr_scheduler_kwargs=None,
        random_state=None, batch_size=128, **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.dim = dim
        self.context_block_scale = context_block_scale
        self.target_block_scale = target_block_scale
        self.aspect_ratio = aspect_ratio
        self.num_target_blocks = num_target_blocks
        self.min_keep = min_keep
        self.allow_overlap = allow_overlap
        self.predictor_embed_dim = predictor_embed_dim
        self.predictor_depth_pred = predictor_depth_pred
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.exclude_bias_and_norm_wd = exclude_bias_and_norm_wd
        self.ema_start = ema_start
        self.ema_end = ema_end
        self.optimizer_kwargs = optimizer_kwargs
        self.lr_scheduler = lr_scheduler
        self.lr_scheduler_kwargs = lr_scheduler_kwargs
        self.random_state = random_state
        self.batch_size = batch_size
        # Last, once every parameter of the estimator is stored.
        self._build_initial_modules()

    # ------------------------------------------------------------------
    # Parameters and modules
    # ------------------------------------------------------------------
    def _grid_size(self):
        return tuple(int(size) for size in self.encoder.patch_embed.grid_size)

    def _num_heads(self):
        """The encoder's attention heads, which the predictor's blocks use."""
        attention = getattr(self.encoder.blocks[0], "attn", None)
        return int(getattr(attention, "num_heads", 1))

    def _check_params(self):
        if not isinstance(self.encoder, nn.Module):
            raise TypeError(
                "encoder must be a vision transformer (a torch.nn.Module), got "
                f"{type(self.encoder).__name__}."
            )
        missing = [name for name in VIT_ATTRIBUTES if not hasattr(self.encoder, name)]
        if not missing and not hasattr(self.encoder.patch_embed, "grid_size"):
            missing = ["patch_embed.grid_size"]
        if missing:
            raise TypeError(
                f"IJEPA needs a vision transformer as encoder, but "
                f"{type(self.encoder).__name__} has no {', '.join(missing)}; use "
                "nidl.backbones.volume.VisionTransformer3D or a module with "
                f"{', '.join(VIT_ATTRIBUTES)} (and patch_embed.grid_size)."
            )
        if getattr(self.encoder, "dynamic_img_size", False):
            raise ValueError(
                "IJEPA draws its blocks on one grid of patches: build the encoder "
                "with dynamic_img_size=False, for the size of the training images."
            )
        super()._check_params()
        if self.dim not in (2, 3):
            raise ValueError(
                f"dim must be 2 (images) or 3 (volumes), got {self.dim!r}."
            )
        if len(self._grid_size()) != self.dim:
            raise ValueError(
                f"dim={self.dim} but the encoder's grid of patches "
                f"{self._grid_size()} has {len(self._grid_size())} axes; set "
                f"dim={len(self._grid_size())}."
            )
        check_range(self.context_block_scale, "context_block_scale", maximum=1.0)
        check_range(self.target_block_scale, "target_block_scale", maximum=1.0)
        check_range(self.aspect_ratio, "aspect_ratio")
        check_scalar(self.num_target_blocks, "num_target_blocks", numbers.Integral,
                     min_val=1)
        check_scalar(self.min_keep, "min_keep", numbers.Integral, min_val=0)
        if not isinstance(self.allow_overlap, (bool, np.bool_)):
            raise TypeError(
                f"allow_overlap must be True or False, got {self.allow_overlap!r}."
            )
        check_scalar(self.predictor_embed_dim, "predictor_embed_dim",
                     numbers.Integral, min_val=1)
        check_scalar(self.predictor_depth_pred, "predictor_depth_pred",
                     numbers.Integral, min_val=1)
        heads = self._num_heads()
        if self.predictor_embed_dim % heads:
            raise ValueError(
                f"predictor_embed_dim={self.predictor_embed_dim} must be a "
                f"multiple of the encoder's {heads} attention heads, which the "
                "predictor's blocks use."
            )
        if self.dim == 2 and self.predictor_embed_dim % 4:
            raise ValueError(
                f"predictor_embed_dim={self.predictor_embed_dim} must be a "
                "multiple of 4 for images, whose sine-cosine positions take 4 "
                "channel blocks."
            )
        check_scalar(self.ema_start, "ema_start", numbers.Real, min_val=0, max_val=1)
        check_scalar(self.ema_end, "ema_end", numbers.Real, min_val=0, max_val=1)
        if self.ema_start > self.ema_end:
            raise ValueError(
                f"ema_start={self.ema_start} is larger than ema_end={self.ema_end}; "
                "the momentum must not decrease during training."
            )

    def _build_modules(self, facts):
        self.context_encoder = PatchTokens(self.encoder)
        self.target_encoder = frozen_copy(self.context_encoder)
        self.predictor = IJEPAPredictor(
            self._grid_size(), int(self.encoder.embed_dim),
            self.predictor_embed_dim, self.predictor_depth_pred, self._num_heads(),
        )
        self._masker = MultiBlockMasker(
            self._grid_size(), check_range(self.context_block_scale, "scale"),
            check_range(self.target_block_scale, "scale"),
            check_range(self.aspect_ratio, "aspect_ratio"),
            int(self.num_target_blocks), int(self.min_keep), bool(self.allow_overlap),
        )
        self._momentum_updater = MomentumUpdater(self.ema_start, self.ema_end)
        self.loss = nn.SmoothL1Loss()

    @property
    def masker(self):
        """Draws the context and target blocks of a batch."""
        return self._masker

    def _check_modules(self, x):
        self.masker.check()
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                try:
                    tokens = self.context_encoder(x)
                except RuntimeError as error:
                    raise ValueError(
                        f"the encoder failed on samples of shape "
                        f"{tuple(x.shape[1:])} ({error}); make it take the data."
                    ) from error
        finally:
            self.train(was_training)
        expected = (self.masker.n_patches, int(self.encoder.embed_dim))
        if tokens.ndim != 3 or tuple(tokens.shape[1:]) != expected:
            raise ValueError(
                f"the encoder's patch tokens have shape {tuple(tokens.shape[1:])} "
                f"per sample, but its grid {self._grid_size()} and embed_dim "
                f"call for {expected}; check its patch_embed."
            )

    def _n_outputs(self):
        return int(self.encoder.embed_dim)

    # ------------------------------------------------------------------
    # Lightning steps and hooks
    # ------------------------------------------------------------------
    def _step(self, batch, stage):
        x = self._batch_input(batch)
        context_indices, target_indices = (
            indices.to(x.device) for indices in self.masker(len(x))
        )
        n_blocks, batch_size, n_targets = target_indices.shape
        context = self.context_encoder(x, keep=context_indices)
        if any(is_lazy(parameter) for parameter in self.target_encoder.parameters()):
            # The encoder's lazy layers are initialised now: the target
            # encoder starts from a copy of them, as it would have without.
            self.target_encoder = frozen_copy(self.context_encoder)
        with torch.no_grad():
            tokens = self.target_encoder(x)
            tokens = F.layer_norm(tokens, tokens.shape[-1:])
            z_target = gather_tokens(
                tokens.repeat(n_blocks, 1, 1),
                target_indices.reshape(n_blocks * batch_size, n_targets),
            )
        z_pred = self.predictor(context, context_indices, target_indices)
        loss = self.loss(z_pred, z_target)
        log_loss(self, loss, stage, batch_size)
        return {"loss": loss, "z_pred": z_pred.detach(), "z_target": z_target}

    def training_step(self, batch, batch_idx, dataloader_idx=0):
        """Loss of one batch, logged as ``loss/train``.

        Parameters
        ----------
        batch : torch.Tensor or tuple
            ``x`` or ``(x, y)``.
        batch_idx : int
            Index of the batch; ignored.
        dataloader_idx : int, default=0
            Index of the loader; ignored.

        Returns
        -------
        outputs : dict
            ``"loss"``, the predicted tokens ``"z_pred"`` and the target
            tokens ``"z_target"``, both of shape
            (num_target_blocks * batch_size, n_target, embed_dim) and
            detached.
        """
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        """Loss of one validation batch, logged as ``loss/val`` and ``val/loss``.

        Parameters
        ----------
        batch : torch.Tensor or tuple
            ``x`` or ``(x, y)``.
        batch_idx : int
            Index of the batch; ignored.
        dataloader_idx : int, default=0
            Index of the loader; ignored.

        Returns
        -------
        outputs : dict
            As :meth:`training_step` returns them.
        """
        return self._step(batch, "val")

    @fill_doc
    def transform_step(self, batch, batch_idx, dataloader_idx=0):
        """Mean of the context encoder's tokens over every patch.

        %(step_parameters)s

        Returns
        -------
        features : torch.Tensor, shape (batch_size, embed_dim)
        """
        return self.context_encoder(self._batch_input(batch)).mean(dim=1)

    def configure_optimizers(self):
        """The optimiser (and schedule) of the context encoder and the predictor.

        Returns
        -------
        optimizers
            What
            :func:`~nidl.estimators.ssl.utils.optimizer.configure_ssl_optimizers`
            returns for the groups ``"backbone"`` and ``"predictor"``.
        """
        return estimator_optimizers(
            self, {"backbone": self.encoder, "predictor": self.predictor}
        )

    def _moving_average_pairs(self):
        return [(self.context_encoder, self.target_encoder)]
