"""What the contrastive losses share: input checks and the similarity logits.

InfoNCE, DCL and y-Aware InfoNCE all compare the ``2N`` views of a batch of
``N`` samples, ``u = [z1; z2]``: the positive of view ``i`` is ``i + N`` (or
``i - N``), and a view is never compared with itself. They differ only in
how they weight the other ``2N - 1`` views.
"""

import numbers

import torch
import torch.nn.functional as F
from sklearn.utils import check_scalar

from ._distributed import gather_batch


def check_positive(value, name):
    """Raise unless ``value`` is a real number > 0 (``temperature``, ``sigma``)."""
    check_scalar(value, name, numbers.Real, min_val=0, include_boundaries="neither")


def check_views(z1, z2, loss):
    """Raise a clear error unless ``z1`` and ``z2`` are two views of one batch.

    Parameters
    ----------
    z1, z2 : torch.Tensor, shape (batch_size, n_features)
        Embeddings of the two views; row ``i`` of each comes from sample ``i``.
    loss : str
        Name of the loss, for the messages.
    """
    for name, z in (("z1", z1), ("z2", z2)):
        if not isinstance(z, torch.Tensor):
            raise TypeError(
                f"{loss} expects torch tensors of embeddings; got {name} of type "
                f"{type(z).__name__}. Convert it with torch.as_tensor."
            )
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(
            f"{loss} expects z1 and z2 of the same shape (batch_size, n_features), "
            f"row i of both views coming from sample i; got z1 of shape "
            f"{tuple(z1.shape)} and z2 of shape {tuple(z2.shape)}. Flatten the "
            "embeddings to 2-D and give both views of every sample."
        )


def check_batch_size(n_samples, loss):
    """Raise unless the (global) batch holds at least 2 samples.

    A sample's negatives are the other samples of the batch: a batch of one
    has none, and the loss would be meaningless.
    """
    if n_samples < 2:
        raise ValueError(
            f"{loss} needs at least 2 samples per batch (over all processes): the "
            "negatives of a sample are the other samples of its batch, and a batch "
            f"of {n_samples} has none. Use a batch size of at least 2 (and "
            "drop_last=True where the last batch could hold a single sample)."
        )


def global_views(z1, z2, *others, loss):
    """Check the views, gather them (and ``others``) over processes, check N.

    Returns
    -------
    gathered : tuple of torch.Tensor
        ``(z1, z2, *others)`` of the global batch (the inputs themselves in a
        single process).
    """
    check_views(z1, z2, loss)
    gathered = gather_batch(z1, z2, *others)
    check_batch_size(len(gathered[0]), loss)
    return gathered


def contrastive_logits(z1, z2, temperature):
    """Cosine similarities between the ``2N`` views, without self-pairs.

    Parameters
    ----------
    z1, z2 : torch.Tensor, shape (N, n_features)
        Embeddings of the two views.
    temperature : float
        The similarities are divided by it.

    Returns
    -------
    logits : torch.Tensor, shape (2N, 2N - 1)
        Row ``i`` holds ``cos(u_i, u_k) / temperature`` for every ``k != i``
        in increasing order of ``k``, where ``u = [z1; z2]``.
    positive : torch.Tensor of int64, shape (2N,)
        Column of row ``i`` that holds its positive, view ``(i + N) mod 2N``.

    Examples
    --------
    >>> import torch
    >>> from nidl.losses._contrastive import contrastive_logits
    >>> logits, positive = contrastive_logits(torch.eye(2), torch.eye(2), 1.0)
    >>> logits
    tensor([[0., 1., 0.],
            [0., 0., 1.],
            [1., 0., 0.],
            [0., 1., 0.]])
    >>> positive
    tensor([1, 2, 0, 1])
    """
    n_views = 2 * len(z1)
    u = F.normalize(torch.cat([z1, z2]), dim=1)
    similarity = u @ u.T / temperature
    others = ~torch.eye(n_views, dtype=torch.bool, device=u.device)
    logits = similarity[others].view(n_views, n_views - 1)
    rows = torch.arange(n_views, device=u.device)
    partner = (rows + len(z1)) % n_views
    # Columns after the diagonal move one place to the left.
    return logits, partner - (partner > rows).long()
