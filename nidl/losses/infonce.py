"""The InfoNCE (NT-Xent) loss of SimCLR."""

import torch.nn.functional as F
from torch import nn

from ._contrastive import check_positive, contrastive_logits, global_views


class InfoNCE(nn.Module):
    r"""InfoNCE loss, in its normalised temperature-scaled form (NT-Xent).

    The contrastive loss of SimCLR [1]_, an instance of InfoNCE [2]_ (the
    multi-class N-pair loss of [3]_). Each of the ``N`` samples of a batch
    is seen through two views, embedded as ``z1[i]`` and ``z2[i]``; of the
    ``2N`` views ``u = [z1; z2]``, view ``i`` must recognise its partner
    ``p(i) = (i + N) mod 2N`` among the ``2N - 1`` others:

    .. math::

        \mathcal{L} = \frac{1}{2N} \sum_{i=1}^{2N} -\log
            \frac{\exp(s_{i, p(i)})}{\sum_{k \neq i} \exp(s_{ik})},
        \qquad s_{ik} = \frac{\cos(u_i, u_k)}{\tau}.

    The positive stays in the denominator, so the loss is non-negative.

    Parameters
    ----------
    temperature : float, default=0.1
        Temperature :math:`\tau > 0` the cosine similarities are divided by.
        Low values weight the hardest negatives most.

    Raises
    ------
    ValueError
        If ``temperature`` is not > 0.

    See Also
    --------
    nidl.losses.DCLLoss : The same comparison without the positive in the
        denominator.
    nidl.losses.YAwareInfoNCE : InfoNCE whose positives are weighted by the
        similarity of the samples' labels.

    Notes
    -----
    Under ``torch.distributed`` (DDP), the embeddings of every process are
    gathered with their gradients: every sample is contrasted with the whole
    global batch, and the loss is that of the global batch in every process.
    A global batch of one sample has no negatives and is refused.

    References
    ----------
    .. [1] T. Chen, S. Kornblith, M. Norouzi and G. Hinton, "A Simple Framework
       for Contrastive Learning of Visual Representations", ICML 2020.
    .. [2] A. van den Oord, Y. Li and O. Vinyals, "Representation Learning with
       Contrastive Predictive Coding", arXiv:1807.03748, 2018.
    .. [3] K. Sohn, "Improved Deep Metric Learning with Multi-class N-pair Loss
       Objective", NIPS 2016.

    Examples
    --------
    Two samples with orthogonal embeddings, each view identical to its
    partner: every view has similarity 1 with its positive and 0 with the two
    others, so the loss is :math:`-1 + \log(e + 2)` at temperature 1.

    >>> import torch
    >>> from nidl.losses import InfoNCE
    >>> z = torch.eye(2)
    >>> loss = InfoNCE(temperature=1.0)
    >>> loss
    InfoNCE(temperature=1.0)
    >>> round(float(loss(z, z)), 4)
    0.5514
    """

    def __init__(self, temperature=0.1):
        super().__init__()
        check_positive(temperature, "temperature")
        self.temperature = temperature

    def forward(self, z1, z2):
        """InfoNCE of a batch seen through two views.

        Parameters
        ----------
        z1, z2 : torch.Tensor, shape (batch_size, n_features)
            Embeddings of the two views; row ``i`` of both comes from sample
            ``i``. A batch (over all processes) needs at least 2 samples.

        Returns
        -------
        loss : torch.Tensor
            0-dim tensor, the mean over the ``2 * batch_size`` views.

        Raises
        ------
        ValueError
            If ``z1`` and ``z2`` differ in shape or are not 2-D, or if the
            batch holds a single sample.
        """
        z1, z2 = global_views(z1, z2, loss=type(self).__name__)
        logits, positive = contrastive_logits(z1, z2, self.temperature)
        return F.cross_entropy(logits, positive)

    def extra_repr(self):
        return f"temperature={self.temperature!r}"
