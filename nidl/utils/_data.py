"""Turn what users pass to ``fit`` and ``transform`` into batches.

Estimators never branch on input types: they ask this module for a loader and
for the input tensor of a batch. Arrays and tensors are served by slicing one
contiguous float32 tensor, so no batch is assembled sample by sample.
"""

from collections.abc import Mapping

import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    TensorDataset,
    default_collate,
)


def batch_input(batch, key=None):
    """Return the input tensor of a batch.

    A batch is the input itself, a tuple or list ``(x, y, ...)`` whose first
    element is the input, or a dictionary (the batches of MONAI and TorchIO
    datasets) holding the input at ``key``. A TorchIO image at that key (a
    dictionary with a ``"data"`` entry) gives its data. Tensor subclasses
    that carry metadata (MONAI's ``MetaTensor``) are read as plain tensors.

    Parameters
    ----------
    batch : torch.Tensor, tuple, list or dict
        A batch as a loader yields it.
    key : str or tuple of str, default=None
        Where the input is in a dictionary batch; a tuple is a path through
        nested dictionaries, such as ``("t1", "data")``.

    Returns
    -------
    x : torch.Tensor
        The input part of the batch.

    Raises
    ------
    ValueError
        If a dictionary batch has no ``key``, or no key was named.

    Examples
    --------
    >>> import torch
    >>> from nidl.utils import batch_input
    >>> x, y = torch.zeros(4, 2), torch.arange(4)
    >>> batch_input((x, y)) is x, batch_input(x) is x
    (True, True)
    >>> batch_input({"image": x, "label": y}, key="image") is x
    True
    >>> batch_input({"t1": {"data": x, "path": ["a.nii"] * 4}}, key="t1") is x
    True
    >>> batch_input({"image": x}, key="img")
    Traceback (most recent call last):
    ...
    ValueError: the batches are dictionaries without the key 'img' named by
    input_key; their keys are 'image'. Set input_key to the key of the input.
    """
    if isinstance(batch, Mapping):
        x = _read_key(batch, key)
    elif isinstance(batch, (tuple, list)):
        x = batch[0]
    else:
        return batch
    if isinstance(x, torch.Tensor) and type(x) is not torch.Tensor:
        x = x.as_subclass(torch.Tensor)
    return x


def _read_key(batch, key):
    """The input of a dictionary batch at ``key`` (see :func:`batch_input`)."""
    if key is None:
        raise ValueError(
            "the batches are dictionaries, with the keys "
            f"{_key_list(batch)}; name the key of the input on the estimator, "
            "for example input_key='image' (MONAI) or input_key='t1' (TorchIO)."
        )
    value = batch
    for part in (key,) if isinstance(key, str) else tuple(key):
        if not isinstance(value, Mapping) or part not in value:
            present = _key_list(value) if isinstance(value, Mapping) else "none"
            raise ValueError(
                f"the batches are dictionaries without the key {part!r} named by "
                f"input_key; their keys are {present}. Set input_key to the key "
                "of the input."
            )
        value = value[part]
    if isinstance(value, Mapping) and "data" in value:
        value = value["data"]
    return value


def plain_mappings(batch):
    """The batch with its dictionaries (of any dictionary type) as plain dicts.

    The batches of TorchIO are dictionary subclasses (subjects, images) that
    cannot be rebuilt from their items, which moving a batch to a device
    does; as plain dictionaries they move like any other.

    Examples
    --------
    >>> from collections import OrderedDict
    >>> from nidl.utils._data import plain_mappings
    >>> type(plain_mappings(OrderedDict(a=OrderedDict(b=1)))["a"])
    <class 'dict'>
    """
    if isinstance(batch, Mapping):
        return {key: plain_mappings(value) for key, value in batch.items()}
    return batch


def _key_list(mapping):
    return ", ".join(repr(name) for name in mapping)


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
    as_list : bool, default=False
        Give every batch as a list with one entry per tensor, as the default
        collation of a ``TensorDataset``'s samples does.

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

    def __init__(self, *tensors, as_list=False):
        self.tensors = tensors
        self.as_list = as_list

    def __len__(self):
        return len(self.tensors[0])

    def _take(self, index):
        taken = [tensor[index] for tensor in self.tensors]
        if self.as_list:
            return taken
        return tuple(taken) if len(taken) > 1 else taken[0]

    def __getitem__(self, index):
        return self._take(index)

    def __getitems__(self, indices):
        start, stop = indices[0], indices[-1] + 1
        if stop - start == len(indices) and list(indices) == list(range(start, stop)):
            return self._take(slice(start, stop))
        return self._take(torch.as_tensor(indices))


def in_memory_loader(loader):
    """Whether ``loader`` is one of nidl's loaders slicing tensors in memory.

    Those are the loaders :func:`make_loader` builds over
    :class:`TensorBatches`: each batch is one indexing operation in the main
    process, which loader workers would only slow down.

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> from nidl.utils._data import in_memory_loader, make_loader
    >>> in_memory_loader(make_loader(torch.zeros(4, 2), batch_size=2))
    True
    >>> in_memory_loader(DataLoader(TensorDataset(torch.zeros(4, 2)), collate_fn=list))
    False
    """
    return isinstance(loader, DataLoader) and isinstance(loader.dataset, TensorBatches)


def _identity(batch):
    # Module level, not a lambda, so that loaders pickle for worker processes.
    return batch


def collate(items):
    """Stack the items of a batch as torch does, keeping fields that are None.

    A dataset whose items are ``(image, None)`` (no label) gives batches
    ``(images, None)``, where torch's default collation refuses None.

    Examples
    --------
    >>> import torch
    >>> from nidl.utils._data import collate
    >>> images, labels = collate([(torch.zeros(2), None), (torch.ones(2), None)])
    >>> images.shape, labels
    (torch.Size([2, 2]), None)
    """
    first = items[0]
    if isinstance(first, (tuple, list)) and any(field is None for field in first):
        return type(first)(
            None
            if first[index] is None
            else default_collate([item[index] for item in items])
            for index in range(len(first))
        )
    return default_collate(items)


def make_loader(X, y=None, *, batch_size, shuffle=False):
    """Return a loader over ``X``.

    Parameters
    ----------
    X : DataLoader, Dataset or torch.Tensor
        A ``DataLoader`` is returned as it is, except one over a
        ``TensorDataset`` with the default collation, replaced by a loader
        giving the same batches in the same order by indexing the dataset's
        tensors instead of stacking samples one by one; a ``Dataset`` is
        wrapped in a loader, likewise; a tensor is served in slices (see
        :class:`TensorBatches`).
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
    if is_dataset(X):
        X = DataLoader(X, batch_size=batch_size, shuffle=shuffle, collate_fn=collate)
    if is_loader(X):
        return _sliced_loader(X) or X
    tensors = (X,) if y is None else (X, y)
    return DataLoader(
        TensorBatches(*tensors),
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=_identity,
    )


def _sliced_loader(loader):
    """A loader giving the batches of ``loader`` by indexing its tensors, or None.

    A loader over a ``TensorDataset`` with the default collation, sampling
    in order or in a random order (``shuffle=True``) in batches, stacks its
    batches one sample at a time; the loader returned takes each batch with
    one indexing operation per tensor (a view for consecutive samples), in
    the same order, drawn by the same kind of sampler with the same
    generator, and gives it in the same form (a list with one entry per
    tensor). Any other loader gives None: it is used as it is.
    """
    dataset, sampler = loader.dataset, loader.sampler
    plain = (
        type(dataset) is TensorDataset
        and loader.batch_size is not None
        and loader.collate_fn in (default_collate, collate)
        and type(loader.batch_sampler) is BatchSampler
    )
    shuffled = type(sampler) is RandomSampler
    if shuffled:
        every_sample_once = sampler.num_samples == len(dataset)
        plain = plain and not sampler.replacement and every_sample_once
    else:
        plain = plain and type(sampler) is SequentialSampler
    if not plain:
        return None
    return DataLoader(
        TensorBatches(*dataset.tensors, as_list=True),
        batch_size=loader.batch_size,
        shuffle=shuffled,
        drop_last=loader.drop_last,
        generator=sampler.generator if shuffled else None,
        pin_memory=loader.pin_memory,
        collate_fn=_identity,
    )


def iterate_batches(X, y=None, *, batch_size):
    """Batches of ``X`` in order, for inference.

    The data goes through :func:`make_loader` without shuffling. Where that
    gives in-memory tensors read in order (a tensor, or a loader over a
    ``TensorDataset``), the batches are cut as consecutive slices directly
    (views, no copy), without the loader's per-batch machinery.

    Examples
    --------
    >>> import torch
    >>> from nidl.utils._data import iterate_batches
    >>> [len(batch) for batch in iterate_batches(torch.zeros(5, 2), batch_size=2)]
    [2, 2, 1]
    """
    loader = make_loader(X, y, batch_size=batch_size)
    dataset, size = loader.dataset, loader.batch_size
    in_order = type(loader.sampler) is SequentialSampler
    if not (isinstance(dataset, TensorBatches) and in_order):
        return iter(loader)
    stop = len(dataset) - len(dataset) % size if loader.drop_last else len(dataset)
    return (dataset[start : start + size] for start in range(0, stop, size))


def first_input(X, key=None):
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
        x = batch_input(next(iter(X)), key)
    else:
        x = batch_input(X[0], key)
        x = x[None] if isinstance(x, torch.Tensor) else np.asarray(x)[None]
    if not isinstance(x, (torch.Tensor, np.ndarray)):
        raise TypeError(
            f"batches must hold tensors or arrays, got {type(x).__name__}; make "
            "the dataset return a tensor (or a tuple whose first element is one)."
        )
    return x
