"""Decoupled contrastive losses: DCL and its von Mises-Fisher weighted DCLW."""

import torch
import torch.nn.functional as F
from torch import nn

from ._contrastive import check_positive, contrastive_logits, global_views


class DCLLoss(nn.Module):
    r"""Decoupled contrastive loss (DCL): InfoNCE without the positive below.

    Yeh et al. [1]_ show that the positive pair in the denominator of
    InfoNCE couples the positive and negative gradients, which makes the
    loss need large batches; DCL removes it. Of the ``2N`` views
    ``u = [z1; z2]`` of a batch of ``N`` samples, view ``i`` has positive
    ``p(i) = (i + N) mod 2N`` and the ``2N - 2`` other views as negatives:

    .. math::

        \mathcal{L} = \frac{1}{2N} \sum_{i=1}^{2N} \Big[
            -w_i \, s_{i, p(i)} + \log \sum_{k \notin \{i, p(i)\}}
            \exp(s_{ik}) \Big],
        \qquad s_{ik} = \frac{\cos(u_i, u_k)}{\tau}.

    The weights :math:`w_i` of the positives are 1 unless ``pos_weight_fn``
    is given. Without the positive in the denominator, the loss can be
    negative.

    Parameters
    ----------
    temperature : float, default=0.1
        Temperature :math:`\tau > 0` the cosine similarities are divided by.
    pos_weight_fn : callable, default=None
        Weights of the positive pairs: called as ``pos_weight_fn(z1, z2)``
        with the L2-normalised embeddings of the two views (of the global
        batch under DDP), it returns a tensor of shape ``(N,)``; weight
        ``i`` applies to sample ``i`` in both directions. None weights every
        positive by 1.

    Raises
    ------
    ValueError
        If ``temperature`` is not > 0, or ``pos_weight_fn`` is neither None
        nor a callable.

    See Also
    --------
    nidl.losses.DCLWLoss : DCL with von Mises-Fisher weights.
    nidl.losses.InfoNCE : The coupled loss, with the positive below.

    Notes
    -----
    The paper's code sums the two directions (``loss(z1, z2) +
    loss(z2, z1)``); here the mean is over the ``2N`` views, so that DCL is on
    the scale of :class:`~nidl.losses.InfoNCE`. Under ``torch.distributed``
    (DDP), the embeddings of every process are gathered with their gradients
    and the loss is that of the global batch; a global batch of one sample
    has no negatives and is refused.

    References
    ----------
    .. [1] C.-H. Yeh, C.-Y. Hong, Y.-C. Hsu, T.-L. Liu, Y. Chen and Y. LeCun,
       "Decoupled Contrastive Learning", ECCV 2022.

    Examples
    --------
    Two samples with orthogonal embeddings, each view identical to its
    partner: every view has similarity 1 with its positive and 0 with its two
    negatives, so the loss is :math:`-1 + \log 2` at temperature 1.

    >>> import torch
    >>> from nidl.losses import DCLLoss
    >>> z = torch.eye(2)
    >>> round(float(DCLLoss(temperature=1.0)(z, z)), 4)
    -0.3069

    Positives weighted by hand, the first twice as much as the second: the
    mean weight is 1.5, so the loss is :math:`-1.5 + \log 2`.

    >>> weighted = DCLLoss(temperature=1.0,
    ...                    pos_weight_fn=lambda z1, z2: torch.tensor([2.0, 1.0]))
    >>> round(float(weighted(z, z)), 4)
    -0.8069
    """

    def __init__(self, temperature=0.1, pos_weight_fn=None):
        super().__init__()
        check_positive(temperature, "temperature")
        if pos_weight_fn is not None and not callable(pos_weight_fn):
            raise ValueError(
                f"pos_weight_fn must be None or a callable (z1, z2) -> weights of "
                f"shape (batch_size,); got {pos_weight_fn!r} of type "
                f"{type(pos_weight_fn).__name__}."
            )
        self.temperature = temperature
        self.pos_weight_fn = pos_weight_fn

    def forward(self, z1, z2):
        """DCL of a batch seen through two views.

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
            If ``z1`` and ``z2`` differ in shape or are not 2-D, if the batch
            holds a single sample, or if ``pos_weight_fn`` does not return
            one weight per sample.
        """
        z1, z2 = global_views(z1, z2, loss=type(self).__name__)
        logits, positive = contrastive_logits(z1, z2, self.temperature)
        is_positive = F.one_hot(positive, logits.shape[1]).bool()
        positive_logit = logits[is_positive]
        negatives = torch.logsumexp(logits.masked_fill(is_positive, -torch.inf), 1)
        if self.pos_weight_fn is not None:
            weights = self.pos_weight_fn(F.normalize(z1, dim=1), F.normalize(z2, dim=1))
            if not isinstance(weights, torch.Tensor) or weights.shape != (len(z1),):
                shape = getattr(weights, "shape", type(weights).__name__)
                raise ValueError(
                    f"pos_weight_fn must return a tensor of shape ({len(z1)},), one "
                    f"weight per sample of the batch; got {shape}."
                )
            positive_logit = positive_logit * torch.cat([weights, weights])
        return (negatives - positive_logit).mean()

    def extra_repr(self):
        return (
            f"temperature={self.temperature!r}, pos_weight_fn={self.pos_weight_fn!r}"
        )


class DCLWLoss(DCLLoss):
    r"""Weighted decoupled contrastive loss (DCLW).

    DCL [1]_ whose positives are weighted by a negative von Mises-Fisher
    weighting: the pairs whose two views are already close weigh less, the
    hard positives more,

    .. math::

        w_i = 2 - \frac{\exp(\cos(z^1_i, z^2_i) / \sigma)}
            {\frac{1}{N} \sum_{j=1}^{N} \exp(\cos(z^1_j, z^2_j) / \sigma)}
            = 2 - N \operatorname{softmax}_i
            \Big(\frac{\cos(z^1_i, z^2_i)}{\sigma}\Big),

    which average 1 over the batch. See :class:`DCLLoss` for the loss.

    Parameters
    ----------
    sigma : float, default=0.5
        Concentration :math:`\sigma > 0` of the weighting; small values
        weight the pairs more unequally.
    temperature : float, default=0.1
        Temperature :math:`\tau > 0` the cosine similarities are divided by.

    Raises
    ------
    ValueError
        If ``sigma`` or ``temperature`` is not > 0.

    See Also
    --------
    nidl.losses.DCLLoss : The unweighted loss.

    Notes
    -----
    As in the paper's code, the weights are not detached: gradients also
    flow through them.

    References
    ----------
    .. [1] C.-H. Yeh, C.-Y. Hong, Y.-C. Hsu, T.-L. Liu, Y. Chen and Y. LeCun,
       "Decoupled Contrastive Learning", ECCV 2022.

    Examples
    --------
    When the two views of every sample are equally close, every weight is 1
    and DCLW equals DCL:

    >>> import torch
    >>> from nidl.losses import DCLLoss, DCLWLoss
    >>> z = torch.eye(2)
    >>> loss = DCLWLoss(sigma=0.5, temperature=1.0)
    >>> loss
    DCLWLoss(sigma=0.5, temperature=1.0)
    >>> loss.von_mises_fisher_weights(z, z)
    tensor([1., 1.])
    >>> float(loss(z, z)) == float(DCLLoss(temperature=1.0)(z, z))
    True
    """

    def __init__(self, sigma=0.5, temperature=0.1):
        check_positive(sigma, "sigma")
        super().__init__(temperature=temperature,
                         pos_weight_fn=self.von_mises_fisher_weights)
        self.sigma = sigma

    def von_mises_fisher_weights(self, z1, z2):
        """Weights of the positive pairs, ``2 - N softmax(cos(z1_i, z2_i) / sigma)``.

        Parameters
        ----------
        z1, z2 : torch.Tensor, shape (batch_size, n_features)
            Embeddings of the two views.

        Returns
        -------
        weights : torch.Tensor, shape (batch_size,)
            They average 1.
        """
        cosine = F.cosine_similarity(z1, z2, dim=1)
        return 2 - len(z1) * torch.softmax(cosine / self.sigma, dim=0)

    def extra_repr(self):
        return f"sigma={self.sigma!r}, temperature={self.temperature!r}"
