"""Projection heads: the MLPs between an encoder and a self-supervised loss."""

import numbers

import torch
from sklearn.utils import check_scalar
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

__all__ = [
    "BarlowTwinsProjectionHead",
    "DINOProjectionHead",
    "ProjectionHead",
    "SimCLRProjectionHead",
    "YAwareProjectionHead",
]


def _check_dims(**dims):
    for name, value in dims.items():
        check_scalar(value, name, numbers.Integral, min_val=1)


class ProjectionHead(nn.Module):
    """A multi-layer perceptron built from a list of blocks.

    Self-supervised methods compute their loss on a projection of the
    encoder's features rather than on the features themselves; the
    projection is a small MLP that is thrown away after training. Each block
    is a linear layer, optionally followed by a normalisation and an
    activation. A linear layer followed by a normalisation has no bias (the
    normalisation would remove it).

    Parameters
    ----------
    blocks : sequence of tuple
        One ``(in_features, out_features, norm, activation)`` tuple per
        block: ``nn.Linear(in_features, out_features, bias=norm is None)``,
        then ``norm`` and ``activation`` (modules) unless they are None. The
        ``in_features`` of a block is the ``out_features`` of the previous
        one.

    Attributes
    ----------
    layers : torch.nn.Sequential
        The layers of all blocks, in order.
    input_dim : int
        Number of input features, the ``in_features`` of the first block.
    output_dim : int
        Number of output features.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from nidl.estimators.ssl.utils import ProjectionHead
    >>> head = ProjectionHead(
    ...     [(16, 8, nn.BatchNorm1d(8), nn.ReLU()), (8, 4, None, None)])
    >>> head.layers
    Sequential(
      (0): Linear(in_features=16, out_features=8, bias=False)
      (1): BatchNorm1d(8, eps=1e-05, momentum=0.1, affine=True, ...)
      (2): ReLU()
      (3): Linear(in_features=8, out_features=4, bias=True)
    )
    >>> head(torch.randn(5, 16)).shape
    torch.Size([5, 4])
    """

    def __init__(self, blocks):
        super().__init__()
        blocks = list(blocks)
        if not blocks:
            raise ValueError(
                "blocks is empty; pass at least one (in_features, out_features, "
                "norm, activation) tuple."
            )
        layers = []
        for index, block in enumerate(blocks):
            if not isinstance(block, (tuple, list)) or len(block) != 4:
                raise ValueError(
                    f"blocks[{index}]={block!r} is not an (in_features, "
                    "out_features, norm, activation) tuple; use None for no "
                    "norm or no activation."
                )
            in_features, out_features, norm, activation = block
            check_scalar(
                in_features, f"blocks[{index}] in_features", numbers.Integral, min_val=1
            )
            check_scalar(
                out_features,
                f"blocks[{index}] out_features",
                numbers.Integral,
                min_val=1,
            )
            if index > 0 and in_features != blocks[index - 1][1]:
                raise ValueError(
                    f"blocks[{index}] takes {in_features} features but "
                    f"blocks[{index - 1}] gives {blocks[index - 1][1]}; set the "
                    f"in_features of blocks[{index}] to {blocks[index - 1][1]}."
                )
            for name, module in (("norm", norm), ("activation", activation)):
                if module is not None and not isinstance(module, nn.Module):
                    raise TypeError(
                        f"blocks[{index}] has {name}={module!r}; pass an "
                        "nn.Module instance or None."
                    )
            layers.append(nn.Linear(in_features, out_features, bias=norm is None))
            layers += [module for module in (norm, activation) if module is not None]
        self.layers = nn.Sequential(*layers)
        self.input_dim = int(blocks[0][0])
        self.output_dim = int(blocks[-1][1])

    def _check_input(self, x):
        if x.ndim < 2:
            raise ValueError(
                f"{type(self).__name__} expects a batch of shape (batch, "
                f"{self.input_dim}) but got a tensor of shape {tuple(x.shape)}; "
                "add a batch axis, e.g. x.unsqueeze(0) for a single sample."
            )
        if x.shape[-1] != self.input_dim:
            raise ValueError(
                f"{type(self).__name__} expects {self.input_dim} input features "
                f"but got {x.shape[-1]} (input of shape {tuple(x.shape)}); set "
                f"the head's input_dim to {x.shape[-1]}, the encoder's output "
                "size."
            )

    def forward(self, x):
        """Project a batch of features.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, input_dim)
            Features, usually an encoder's output.

        Returns
        -------
        projections : torch.Tensor, shape (batch, output_dim)
        """
        self._check_input(x)
        return self.layers(x)


class SimCLRProjectionHead(ProjectionHead):
    """Projection head of SimCLR: Linear, ReLU, Linear.

    Parameters
    ----------
    input_dim : int, default=2048
        Number of input features (the encoder's output size).
    hidden_dim : int, default=2048
        Number of hidden features.
    output_dim : int, default=128
        Number of output features, on which the loss is computed.

    References
    ----------
    .. [1] T. Chen, S. Kornblith, M. Norouzi and G. Hinton, "A Simple
       Framework for Contrastive Learning of Visual Representations",
       ICML 2020.

    Examples
    --------
    >>> import torch
    >>> from nidl.estimators.ssl.utils import SimCLRProjectionHead
    >>> head = SimCLRProjectionHead(input_dim=32, hidden_dim=16, output_dim=8)
    >>> head(torch.randn(4, 32)).shape
    torch.Size([4, 8])
    """

    def __init__(self, input_dim=2048, hidden_dim=2048, output_dim=128):
        _check_dims(input_dim=input_dim, hidden_dim=hidden_dim, output_dim=output_dim)
        super().__init__(
            [
                (input_dim, hidden_dim, None, nn.ReLU()),
                (hidden_dim, output_dim, None, None),
            ]
        )


class YAwareProjectionHead(SimCLRProjectionHead):
    """Projection head of y-Aware contrastive learning: Linear, ReLU, Linear.

    The head of :class:`SimCLRProjectionHead` with a smaller hidden layer.

    Parameters
    ----------
    input_dim : int, default=2048
        Number of input features (the encoder's output size).
    hidden_dim : int, default=512
        Number of hidden features.
    output_dim : int, default=128
        Number of output features, on which the loss is computed.

    References
    ----------
    .. [1] B. Dufumier et al., "Contrastive learning with continuous proxy
       meta-data for 3D MRI classification", MICCAI 2021.

    Examples
    --------
    >>> import torch
    >>> from nidl.estimators.ssl.utils import YAwareProjectionHead
    >>> head = YAwareProjectionHead(input_dim=32)
    >>> head(torch.randn(4, 32)).shape
    torch.Size([4, 128])
    """

    def __init__(self, input_dim=2048, hidden_dim=512, output_dim=128):
        super().__init__(input_dim, hidden_dim, output_dim)


class BarlowTwinsProjectionHead(ProjectionHead):
    """Projection head of Barlow Twins: two Linear-BatchNorm-ReLU blocks, Linear.

    Barlow Twins decorrelates the features of its output, which works best
    with a wide projection (8192 features in the paper).

    Parameters
    ----------
    input_dim : int, default=2048
        Number of input features (the encoder's output size).
    hidden_dim : int, default=8192
        Number of features of the two hidden layers.
    output_dim : int, default=8192
        Number of output features, on which the loss is computed.

    References
    ----------
    .. [1] J. Zbontar, L. Jing, I. Misra, Y. LeCun and S. Deny, "Barlow
       Twins: Self-Supervised Learning via Redundancy Reduction", ICML 2021.

    Examples
    --------
    >>> import torch
    >>> from nidl.estimators.ssl.utils import BarlowTwinsProjectionHead
    >>> head = BarlowTwinsProjectionHead(input_dim=32, hidden_dim=64, output_dim=64)
    >>> head(torch.randn(4, 32)).shape
    torch.Size([4, 64])
    """

    def __init__(self, input_dim=2048, hidden_dim=8192, output_dim=8192):
        _check_dims(input_dim=input_dim, hidden_dim=hidden_dim, output_dim=output_dim)
        super().__init__(
            [
                (input_dim, hidden_dim, nn.BatchNorm1d(hidden_dim), nn.ReLU()),
                (hidden_dim, hidden_dim, nn.BatchNorm1d(hidden_dim), nn.ReLU()),
                (hidden_dim, output_dim, None, None),
            ]
        )


class DINOProjectionHead(ProjectionHead):
    """Projection head of DINO: an MLP to a bottleneck, then a normalised layer.

    Two Linear-[BatchNorm]-GELU blocks and a linear layer map the features
    to a ``bottleneck_dim`` space; the result is scaled to unit L2 norm and
    mapped to ``output_dim`` scores (the "prototypes") by ``last_layer``, a
    weight-normalised linear layer without bias. Its weight is ``g * v /
    ||v||`` row by row; with ``norm_last_layer=True`` the magnitudes ``g``
    are fixed at 1, so that every row of the weight has unit norm, which
    stabilises training.

    Parameters
    ----------
    input_dim : int, default=2048
        Number of input features (the encoder's output size).
    hidden_dim : int, default=2048
        Number of features of the two hidden layers.
    bottleneck_dim : int, default=256
        Number of features of the normalised bottleneck.
    output_dim : int, default=4096
        Number of output scores, on which the DINO loss is computed.
    batch_norm : bool, default=True
        Whether the hidden layers are batch-normalised.
    freeze_last_layer : int, default=-1
        :meth:`cancel_last_layer_gradients` drops the gradients of
        ``last_layer`` during the epochs before this one (DINO freezes it
        during the first epoch); -1 never drops them.
    norm_last_layer : bool, default=True
        Whether the rows of the weight of ``last_layer`` keep unit norm
        (their magnitude is not trained).

    Attributes
    ----------
    last_layer : torch.nn.Linear
        The weight-normalised output layer; its magnitude and direction are
        ``last_layer.parametrizations.weight.original0`` and ``original1``.

    See Also
    --------
    nidl.losses.DINOLoss : The loss computed on the output of this head.

    References
    ----------
    .. [1] M. Caron et al., "Emerging Properties in Self-Supervised Vision
       Transformers", ICCV 2021.
    .. [2] M. Caron et al., "Unsupervised Learning of Visual Features by
       Contrasting Cluster Assignments" (SwAV), NeurIPS 2020.

    Examples
    --------
    >>> import torch
    >>> from nidl.estimators.ssl.utils import DINOProjectionHead
    >>> head = DINOProjectionHead(
    ...     input_dim=32, hidden_dim=64, bottleneck_dim=16, output_dim=100)
    >>> head(torch.randn(4, 32)).shape
    torch.Size([4, 100])
    >>> row_norms = torch.linalg.norm(head.last_layer.weight, dim=1)
    >>> torch.allclose(row_norms, torch.ones(100))
    True
    """

    def __init__(
        self,
        input_dim=2048,
        hidden_dim=2048,
        bottleneck_dim=256,
        output_dim=4096,
        batch_norm=True,
        freeze_last_layer=-1,
        norm_last_layer=True,
    ):
        _check_dims(
            input_dim=input_dim,
            hidden_dim=hidden_dim,
            bottleneck_dim=bottleneck_dim,
            output_dim=output_dim,
        )
        check_scalar(freeze_last_layer, "freeze_last_layer", numbers.Integral)

        def norm():
            return nn.BatchNorm1d(hidden_dim) if batch_norm else None

        super().__init__(
            [
                (input_dim, hidden_dim, norm(), nn.GELU()),
                (hidden_dim, hidden_dim, norm(), nn.GELU()),
                (hidden_dim, bottleneck_dim, None, None),
            ]
        )
        for module in self.layers:
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02, a=-2.0, b=2.0)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        self.last_layer = weight_norm(nn.Linear(bottleneck_dim, output_dim, bias=False))
        magnitude = self.last_layer.parametrizations.weight.original0
        with torch.no_grad():
            magnitude.fill_(1.0)
        magnitude.requires_grad_(not norm_last_layer)
        self.bottleneck_dim = int(bottleneck_dim)
        self.output_dim = int(output_dim)
        self.freeze_last_layer = int(freeze_last_layer)
        self.norm_last_layer = bool(norm_last_layer)

    def forward(self, x):
        """Map a batch of features to DINO scores.

        Parameters
        ----------
        x : torch.Tensor, shape (batch, input_dim)
            Features, usually an encoder's output.

        Returns
        -------
        scores : torch.Tensor, shape (batch, output_dim)
        """
        self._check_input(x)
        bottleneck = nn.functional.normalize(self.layers(x), dim=-1, p=2)
        return self.last_layer(bottleneck)

    def cancel_last_layer_gradients(self, current_epoch):
        """Drop the gradients of ``last_layer`` before ``freeze_last_layer``.

        Call it between the backward pass and the optimiser step: while
        ``current_epoch < freeze_last_layer`` the gradients of ``last_layer``
        are set to None, so that the optimiser leaves it unchanged.

        Parameters
        ----------
        current_epoch : int
            The current training epoch (0 for the first).

        Examples
        --------
        >>> import torch
        >>> from nidl.estimators.ssl.utils import DINOProjectionHead
        >>> head = DINOProjectionHead(8, 16, 4, 10, freeze_last_layer=1)
        >>> head(torch.randn(3, 8)).sum().backward()
        >>> head.cancel_last_layer_gradients(current_epoch=0)
        >>> head.last_layer.parametrizations.weight.original1.grad is None
        True
        """
        check_scalar(current_epoch, "current_epoch", numbers.Integral, min_val=0)
        if current_epoch >= self.freeze_last_layer:
            return
        for parameter in self.last_layer.parameters():
            parameter.grad = None
