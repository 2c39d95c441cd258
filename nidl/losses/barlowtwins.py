"""The Barlow Twins loss: redundancy reduction between two views."""

import numbers

import torch
import torch.nn.functional as F
from sklearn.utils import check_scalar
from torch import nn

from ._contrastive import check_views
from ._distributed import gather_batch


class BarlowTwinsLoss(nn.Module):
    r"""Barlow Twins loss: the cross-correlation of two views made the identity.

    Zbontar et al. [1]_ learn embeddings invariant to the augmentations
    without negatives: the cross-correlation matrix :math:`C` of the two
    views' embeddings, computed over the batch, is pushed to the identity.
    Its diagonal to 1 makes the embedding invariant; its off-diagonal to 0
    decorrelates the features (reduces redundancy):

    .. math::

        \mathcal{L} = \sum_i (1 - C_{ii})^2
            + \lambda \sum_i \sum_{j \neq i} C_{ij}^2,
        \qquad C_{ij} = \frac{\sum_b \tilde z^1_{bi} \tilde z^2_{bj}}{N - 1},

    where :math:`\tilde z` is an embedding standardised over the :math:`N`
    samples of the batch (unbiased standard deviation), so that :math:`C`
    is the matrix of Pearson correlations.

    Parameters
    ----------
    lambd : float, default=5e-3
        Weight :math:`\lambda \geq 0` of the redundancy-reduction term (the
        paper's value for 8192 features).

    Raises
    ------
    ValueError
        If ``lambd`` is negative.

    Notes
    -----
    The paper standardises with a batch-normalisation layer (biased variance
    plus ``1e-5``) and divides by :math:`N`; both give the correlation
    matrix, here without the ``1e-5``. A feature constant over the batch has
    no correlation: its row and column of :math:`C` are 0. A batch of one
    sample is therefore accepted and gives :math:`\mathcal{L} = D`, the
    number of features, with no gradient.

    Under ``torch.distributed`` (DDP), the embeddings of every process are
    gathered with their gradients: :math:`C` is the correlation over the
    global batch, as in the paper.

    References
    ----------
    .. [1] J. Zbontar, L. Jing, I. Misra, Y. LeCun and S. Deny, "Barlow Twins:
       Self-Supervised Learning via Redundancy Reduction", ICML 2021 (PMLR 139).

    Examples
    --------
    Identical views have a unit diagonal; these two features have
    correlation -1, so each off-diagonal entry costs ``lambd``:

    >>> import torch
    >>> from nidl.losses import BarlowTwinsLoss
    >>> z = torch.tensor([[1.0, -1.0], [2.0, -2.0], [3.0, -3.0]])
    >>> loss = BarlowTwinsLoss(lambd=0.01)
    >>> loss
    BarlowTwinsLoss(lambd=0.01)
    >>> round(float(loss(z, z)), 6)
    0.02
    """

    def __init__(self, lambd=5e-3):
        super().__init__()
        check_scalar(lambd, "lambd", numbers.Real, min_val=0)
        self.lambd = lambd

    def forward(self, z1, z2):
        """Barlow Twins loss of a batch seen through two views.

        Parameters
        ----------
        z1, z2 : torch.Tensor, shape (batch_size, n_features)
            Embeddings of the two views; row ``i`` of both comes from sample
            ``i``.

        Returns
        -------
        loss : torch.Tensor
            0-dim tensor.

        Raises
        ------
        ValueError
            If ``z1`` and ``z2`` differ in shape or are not 2-D.
        """
        check_views(z1, z2, type(self).__name__)
        z1, z2 = gather_batch(z1, z2)
        # Centred columns of unit norm: their products are the correlations.
        z1 = F.normalize(z1 - z1.mean(dim=0), dim=0)
        z2 = F.normalize(z2 - z2.mean(dim=0), dim=0)
        correlation = z1.T @ z2
        on_diagonal = (1 - torch.diagonal(correlation)).pow(2).sum()
        off = ~torch.eye(len(correlation), dtype=torch.bool, device=z1.device)
        return on_diagonal + self.lambd * correlation[off].pow(2).sum()

    def extra_repr(self):
        return f"lambd={self.lambd!r}"
