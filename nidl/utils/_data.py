"""Turn what users pass to ``fit`` and ``transform`` into batches.

Estimators never branch on input types: they ask this module for a loader and
for the input tensor of a batch. Arrays and tensors are served by slicing one
contiguous float32 tensor, so no batch is assembled sample by sample.
"""

import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    SequentialSampler,
    TensorDataset,
    default_collate,
)


def batch_input(batch):
    """Return the input tensor of a batch: ``x`` itself, or ``x`` of ``(x, y, ...)``.

    Parameters
    ----------
    batch : torch.Tensor or tuple or list
        A batch as a loader yields it.

    Returns
    -------
    x : torch.Tensor
        The input part of the batch.

    Examples
    --------
    >>> import torch
    >>> from nidl.utils import batch_input
    >>> x, y = torch.zeros(4, 2), torch.arange(4)
    >>> batch_input((x, y)) is x, batch_input(x) is x
    (True, True)
    """
    if isinstance(batch, (tuple, list)):
        return batch[0]
    return batch


def is_loader(X):
    """Whether ``X`` is a ``DataLoader``, used as it is."""
    return isinstance(X, DataLoader)


def is_dataset(X):
    """Whether ``X`` is a torch ``Dataset`` (and not a ``DataLoader``)."""
    return isinstance(X, Dataset)


def n_samples(X):
    """Number of samples in ``X``, or None for data of unknown length.

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> from nidl.utils._data import n_samples
    >>> n_samples(DataLoader(TensorDataset(torch.zeros(10, 2)), batch_size=4))
    10
    """
    data = X.dataset if is_loader(X) else X
    try:
        return len(data)
    except TypeError:  # iterable datasets need not know their length
        return None


def returns_numpy(X):
    """Whether outputs for ``X`` are NumPy arrays (array-like input).

    Tensors, Datasets and DataLoaders give CPU tensors; anything else (NumPy
    arrays, lists, data frames) gives NumPy arrays, as the next step of a
    scikit-learn pipeline expects.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from nidl.utils import returns_numpy
    >>> returns_numpy(np.zeros((2, 3))), returns_numpy(torch.zeros(2, 3))
    (True, False)
    """
    return not isinstance(X, (torch.Tensor, Dataset, DataLoader))


class TensorBatches(Dataset):
    """Samples of one or more tensors, fetched a whole batch at a time.

    A ``DataLoader`` calls ``__getitems__`` with a batch's indices; a run of
    consecutive indices (sequential loading) is served as a slice, a view
    with no copy, and any other set of indices (shuffling, a distributed
    sampler) by one indexing operation. Used with :func:`_identity` as the
    loader's ``collate_fn``.

    Parameters
    ----------
    *tensors : torch.Tensor, shape (n_samples, ...)
        The samples; with more than one tensor (inputs and targets), a batch
        is a tuple with one entry per tensor.

    Examples
    --------
    >>> import torch
    >>> from nidl.utils._data import TensorBatches
    >>> batches = TensorBatches(torch.arange(10.0))
    >>> batches.__getitems__([2, 3, 4])
    tensor([2., 3., 4.])
    >>> TensorBatches(torch.zeros(4, 2), torch.arange(4)).__getitems__([3, 0])[1]
    tensor([3, 0])
    """

    def __init__(self, *tensors):
        self.tensors = tensors

    def __len__(self):
        return len(self.tensors[0])

    def _take(self, index):
        taken = tuple(tensor[index] for tensor in self.tensors)
        return taken if len(taken) > 1 else taken[0]

    def __getitem__(self, index):
        return self._take(index)

    def __getitems__(self, indices):
        start, stop = indices[0], indices[-1] + 1
        if stop - start == len(indices) and list(indices) == list(range(start, stop)):
            return self._take(slice(start, stop))
        return self._take(torch.as_tensor(indices))


def _identity(batch):
    # Module level, not a lambda, so that loaders pickle for worker processes.
    return batch


def make_loader(X, y=None, *, batch_size, shuffle=False):
    """Return a loader over ``X``.

    Parameters
    ----------
    X : DataLoader, Dataset or torch.Tensor
        A ``DataLoader`` is returned as it is; a ``Dataset`` is wrapped in a
        loader; a tensor is served in slices (see :class:`TensorBatches`).
    y : torch.Tensor, default=None
        Targets of a tensor ``X``; batches are then ``(x, y)`` tuples.
    batch_size : int
        Batch size of the loaders made here.
    shuffle : bool, default=False
        Whether a loader made here draws samples in a random order.

    Returns
    -------
    loader : torch.utils.data.DataLoader

    Examples
    --------
    >>> import torch
    >>> from nidl.utils import make_loader
    >>> loader = make_loader(torch.zeros(10, 3), batch_size=4)
    >>> [tuple(batch.shape) for batch in loader]
    [(4, 3), (4, 3), (2, 3)]
    """
    if is_loader(X):
        return X
    if is_dataset(X):
        return DataLoader(X, batch_size=batch_size, shuffle=shuffle)
    tensors = (X,) if y is None else (X, y)
    return DataLoader(
        TensorBatches(*tensors), batch_size=batch_size, shuffle=shuffle, collate_fn=_identity
    )


def _tensors_read_in_order(X):
    """The tensors of a ``TensorDataset``, or of a plain loader reading one in order.

    A ``DataLoader`` qualifies when its batches are exactly consecutive
    slices of the tensors: sequential sampling in batches, the default
    collation, no dropped last batch. Anything else gives None.
    """
    loader = X if is_loader(X) else None
    dataset = X if loader is None else loader.dataset
    if type(dataset) is not TensorDataset:
        return None
    if loader is not None and not (
        loader.batch_size is not None
        and not loader.drop_last
        and loader.collate_fn is default_collate
        and type(loader.sampler) is SequentialSampler
        and type(loader.batch_sampler) is BatchSampler
    ):
        return None
    return dataset.tensors


def iterate_batches(X, *, batch_size):
    """Batches of ``X`` in order, for inference.

    A tensor is cut into consecutive slices (views, no copy, no loader). So
    are the tensors of a ``TensorDataset``, and of a ``DataLoader`` that
    reads one in order with the default collation, in the loader's batch
    size: the batches it would give, without assembling them sample by
    sample. Anything else goes through :func:`make_loader` without
    shuffling.

    Examples
    --------
    >>> import torch
    >>> from nidl.utils._data import iterate_batches
    >>> [len(batch) for batch in iterate_batches(torch.zeros(5, 2), batch_size=2)]
    [2, 2, 1]
    """
    if isinstance(X, torch.Tensor):
        return (X[start : start + batch_size] for start in range(0, len(X), batch_size))
    tensors = _tensors_read_in_order(X)
    if tensors is not None:
        size = X.batch_size if is_loader(X) else batch_size
        return (
            [tensor[start : start + size] for tensor in tensors]
            for start in range(0, len(tensors[0]), size)
        )
    return iter(make_loader(X, batch_size=batch_size))


def first_input(X):
    """Input tensor of the first sample(s) of a Dataset or DataLoader.

    For a ``Dataset``, the first sample with a batch dimension of one; for a
    ``DataLoader``, the input of its first batch.

    Raises
    ------
    ValueError
        If ``X`` holds no sample.
    TypeError
        If the input is not a tensor or an array.
    """
    if is_loader(X) or is_dataset(X):
        try:
            size = len(X)
        except TypeError:  # iterable datasets need not know their length
            size = None
        if size == 0:
            kind = "DataLoader" if is_loader(X) else "Dataset"
            raise ValueError(
                f"Found an empty {kind} (0 samples); pass data with at least "
                "one sample."
            )
    if is_loader(X):
        x = batch_input(next(iter(X)))
    else:
        x = batch_input(X[0])
        x = x[None] if isinstance(x, torch.Tensor) else np.asarray(x)[None]
    if not isinstance(x, (torch.Tensor, np.ndarray)):
        raise TypeError(
            f"batches must hold tensors or arrays, got {type(x).__name__}; make "
            "the dataset return a tensor (or a tuple whose first element is one)."
        )
    return x
