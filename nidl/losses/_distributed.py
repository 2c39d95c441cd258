"""The global batch of a distributed run, for losses that compare samples.

A contrastive loss compares every sample with the others of its batch; under
a DDP strategy each process holds only its share of the batch. The losses
therefore gather the embeddings of every process, with their gradients, and
compute the loss of the global batch in every process. With one process, or
when ``torch.distributed`` is not initialised, every helper here is the
identity.

Gradients: every process computes the same global loss ``L`` and
back-propagates it; the backward pass of :func:`gather_batch` sums, over the
processes, the gradients that reach each process's rows. A process's
embeddings therefore receive ``world_size * dL/dz``, and DDP's averaging of
the parameter gradients then gives exactly the gradient of ``L`` that one
process would compute on the global batch.
"""

import torch
import torch.distributed as dist

from ..utils._distributed import process_group_size


class _GatherRows(torch.autograd.Function):
    """All-gather along the first dimension, shares of any size, with gradients.

    Built from the public collectives ``all_gather`` and ``all_reduce``
    (``torch.distributed.nn.functional.all_gather`` does the same but is
    deprecated, and the replacement it names is private).
    """

    @staticmethod
    def forward(ctx, rows, sizes, rank):
        # The collective needs one shape: pad each share to the largest.
        padded = rows.new_zeros((max(sizes), *rows.shape[1:]))
        padded[: len(rows)] = rows
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded)
        ctx.sizes, ctx.rank = sizes, rank
        return torch.cat([part[:size] for part, size in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad):
        # Every process's loss depends on this process's rows: sum the
        # gradients that all processes computed for them.
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start : start + ctx.sizes[ctx.rank]], None, None


def gather_batch(*tensors):
    """The tensors of every process, concatenated along dim 0 in rank order.

    Parameters
    ----------
    *tensors : torch.Tensor
        This process's tensors, all with the same first dimension (the
        process's batch size, which may differ between processes).

    Returns
    -------
    gathered : tuple of torch.Tensor
        One tensor per input, holding the rows of every process in rank
        order; the input tensors themselves without a process group of
        several processes. Gradients flow back to every process's rows.

    Examples
    --------
    >>> import torch
    >>> from nidl.losses._distributed import gather_batch
    >>> z = torch.ones(3, 2)
    >>> gather_batch(z)[0] is z  # a single process: nothing to gather
    True
    """
    group = process_group_size()
    if group is None:
        return tensors
    rank, world_size = group
    first = tensors[0]
    size = torch.tensor([len(first)], device=first.device)
    sizes = [torch.empty_like(size) for _ in range(world_size)]
    dist.all_gather(sizes, size)
    sizes = [int(s) for s in sizes]
    return tuple(
        _GatherRows.apply(tensor.contiguous(), sizes, rank) for tensor in tensors
    )


@torch.no_grad()
def sum_over_processes(tensor):
    """Sum of ``tensor`` over the processes, without gradients.

    Parameters
    ----------
    tensor : torch.Tensor
        This process's value; it is not modified.

    Returns
    -------
    total : torch.Tensor
        The element-wise sum over every process; ``tensor`` itself without a
        process group of several processes.

    Examples
    --------
    >>> import torch
    >>> from nidl.losses._distributed import sum_over_processes
    >>> sum_over_processes(torch.tensor([1.0, 2.0]))
    tensor([1., 2.])
    """
    if process_group_size() is None:
        return tensor
    total = tensor.clone(memory_format=torch.contiguous_format)
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total
