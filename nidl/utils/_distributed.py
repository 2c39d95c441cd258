"""Inference split across the processes of a distributed run, gathered exactly.

Under a DDP strategy every process runs the user's script, so every process
calls ``transform``. Each process then computes one contiguous share of the
samples, and the shares are gathered back in rank order: the rows come out
in input order, each exactly once, whatever the number of samples.
"""

import torch
import torch.distributed as dist
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    IterableDataset,
    SequentialSampler,
    Subset,
    TensorDataset,
)

from ._data import is_dataset, is_loader


def process_group_size():
    """``(rank, world_size)`` of the default process group, or None without one.

    Examples
    --------
    >>> from nidl.utils._distributed import process_group_size
    >>> process_group_size() is None  # a single process
    True
    """
    if not (dist.is_available() and dist.is_initialized()):
        return None
    world_size = dist.get_world_size()
    return None if world_size < 2 else (dist.get_rank(), world_size)


def share_bounds(n_samples, rank, world_size):
    """First and last-plus-one sample of a process's contiguous share.

    Shares differ in size by one sample at most: with 101 samples and two
    processes, 50 and 51.

    Examples
    --------
    >>> from nidl.utils._distributed import share_bounds
    >>> share_bounds(101, 0, 2), share_bounds(101, 1, 2)
    ((0, 50), (50, 101))
    """
    return n_samples * rank // world_size, n_samples * (rank + 1) // world_size


def _dataset_share(dataset, start, stop):
    if type(dataset) is TensorDataset:
        # Slices keep the loaders' fast path for in-memory tensors.
        return TensorDataset(*(tensor[start:stop] for tensor in dataset.tensors))
    return Subset(dataset, range(start, stop))


def _shareable_length(X):
    """Number of samples of ``X`` if it can be split in order, else None.

    Tensors, map-style Datasets and DataLoaders that read such a dataset in
    order, in batches, keeping the last one, can; any other loader (a custom
    sampler, an iterable dataset) gives its batches in an order only it
    knows, and is read whole by every process.
    """
    if isinstance(X, torch.Tensor):
        return len(X)
    dataset = X.dataset if is_loader(X) else X
    if not is_dataset(dataset) or isinstance(dataset, IterableDataset):
        return None
    if is_loader(X) and not (
        type(X.sampler) is SequentialSampler
        and type(X.batch_sampler) is BatchSampler
        and not X.drop_last
    ):
        return None
    try:
        return len(dataset)
    except TypeError:
        return None


def process_share(X, y=None):
    """This process's share of ``X`` (and of its targets ``y``) for inference.

    Parameters
    ----------
    X : torch.Tensor, Dataset or DataLoader
        Checked data, as the estimators receive it.
    y : torch.Tensor, default=None
        Targets of a tensor ``X``.

    Returns
    -------
    share : tuple or None
        ``(X_share, y_share, sizes)``, where ``sizes`` lists the number of
        samples of every process in rank order; None when there is no
        process group, or when ``X`` cannot be split in order (or holds
        fewer samples than there are processes): every process then reads
        all of it.
    """
    group = process_group_size()
    if group is None:
        return None
    rank, world_size = group
    n_samples = _shareable_length(X)
    if n_samples is None or n_samples < world_size:
        return None
    sizes = [stop - start for start, stop in (
        share_bounds(n_samples, r, world_size) for r in range(world_size)
    )]
    start, stop = share_bounds(n_samples, rank, world_size)
    if isinstance(X, torch.Tensor):
        return X[start:stop], (None if y is None else y[start:stop]), sizes
    if is_loader(X):
        share = DataLoader(
            _dataset_share(X.dataset, start, stop),
            batch_size=X.batch_size,
            collate_fn=X.collate_fn,
            num_workers=X.num_workers,
            pin_memory=X.pin_memory,
            worker_init_fn=X.worker_init_fn,
            multiprocessing_context=X.multiprocessing_context,
            persistent_workers=X.persistent_workers,
        )
        return share, None, sizes
    return _dataset_share(X, start, stop), None, sizes


def gather_shares(rows, sizes):
    """Concatenate every process's rows in rank order, in every process.

    Parameters
    ----------
    rows : torch.Tensor, shape (sizes[rank], ...)
        This process's outputs, on the CPU.
    sizes : list of int
        Number of rows of each process.

    Returns
    -------
    all_rows : torch.Tensor, shape (sum(sizes), ...)
        On the CPU. Shares are padded to the largest for the collective
        operation, and the padding is cut off again.
    """
    device = torch.device("cpu")
    if dist.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    largest = max(sizes)
    padded = rows.new_zeros((largest, *rows.shape[1:]), device=device)
    padded[: len(rows)] = rows.to(device)
    gathered = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(gathered, padded)
    return torch.cat([part[:size].cpu() for part, size in zip(gathered, sizes)])
