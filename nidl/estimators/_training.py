"""Training around Lightning's loop: seeding, a quiet Trainer, memory formats.

What ``fit`` needs besides the model's own steps: the Trainer built from
the estimator's options, seeded random streams, the memory format of
volumes, and the callback that watches each fit (see :mod:`._monitor`).
"""

import copy
import inspect
from collections.abc import Mapping
from contextlib import contextmanager

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from ..utils import batch_input
from ..utils._data import plain_mappings
from ._monitor import FitMonitor
from ._quiet import quiet_lightning

#: Keyword arguments that ``pytorch_lightning.Trainer`` accepts.
TRAINER_ARGUMENTS = frozenset(inspect.signature(pl.Trainer.__init__).parameters) - {
    "self"
}

#: nidl's own options, passed (and cloned, and set) like Trainer options,
#: with their defaults: ``compile`` compiles the training forward pass with
#: ``torch.compile``; ``channels_last`` stores volumes (5-D batches) and the
#: model in the ``channels_last_3d`` memory format ("auto": training on CPU
#: and CUDA devices; True: inference too); ``input_key`` is where dictionary
#: batches (MONAI's, TorchIO's) hold the input.
ENGINE_OPTIONS = {"compile": False, "channels_last": "auto", "input_key": None}


@contextmanager
def seeded(seed):
    """Seed torch's global generators inside the block and restore them after.

    Everything a fit draws (head initialisation, shuffling, dropout, posterior
    samples) comes from torch's global generators; forking them makes a seeded
    fit reproducible without changing the user's own random stream. With
    ``seed=None`` the global generators are used as they are.

    Parameters
    ----------
    seed : int or None
        The seed.

    Examples
    --------
    >>> import torch
    >>> from nidl.estimators.base import seeded
    >>> with seeded(0):
    ...     a = torch.rand(2)
    >>> with seeded(0):
    ...     b = torch.rand(2)
    >>> bool((a == b).all())
    True
    """
    if seed is None:
        yield
        return
    with forked_rng(seed):
        yield


@contextmanager
def forked_rng(seed=None):
    """Draw from a copy of torch's global generators inside the block.

    The user's random streams are as they were after the block, whatever it
    draws. With a seed, the copy is seeded; without, it continues from the
    current state.

    Parameters
    ----------
    seed : int or None, default=None
        The seed.
    """
    cuda = torch.cuda.is_available()
    cuda_devices = list(range(torch.cuda.device_count())) if cuda else []
    with torch.random.fork_rng(devices=cuda_devices):
        if seed is not None:
            # The generators of the devices in use, not torch.manual_seed:
            # that also queues seeds for every other backend, at a cost per
            # call that shows in a fast transform.
            torch.default_generator.manual_seed(seed)
            if cuda:
                torch.cuda.manual_seed_all(seed)
        yield


class TrainingMixin:
    """Training hooks of :class:`~nidl.estimators.base.BaseEstimator`.

    Builds the Trainer that ``fit`` runs, applies nidl's speed options
    (``compile``, ``channels_last``, ``input_key``) and gives every Trainer
    a :class:`~nidl.estimators._monitor.FitMonitor`.
    """

    def _engine_option(self, name):
        """Value of one of nidl's speed options (see ``ENGINE_OPTIONS``)."""
        return self._trainer_kwargs.get(name, ENGINE_OPTIONS[name])

    def _memory_format(self, device, training=True):
        """Memory format for batches and weights on ``device``, or None.

        "auto" uses ``channels_last_3d`` for training volumes on CPU and CUDA
        devices; inference stays in the default format. True uses it for
        both.
        """
        option = self._engine_option("channels_last")
        volumes = len(getattr(self, "sample_shape_", ())) == 4
        if not volumes or option is False:
            return None
        if option == "auto" and (
            not training or torch.device(device).type not in ("cpu", "cuda")
        ):
            return None
        return torch.channels_last_3d

    def _batch_input(self, batch):
        """The input tensor of a batch, at ``input_key`` for dictionary batches."""
        return batch_input(batch, self._engine_option("input_key"))

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        # Dictionary subclasses (TorchIO's subjects) move as plain dicts.
        if isinstance(batch, Mapping) and type(batch) is not dict:
            batch = plain_mappings(batch)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def _format_batch(self, batch, memory_format):
        """The batch with its input in ``memory_format`` (None: unchanged)."""
        if memory_format is None or isinstance(batch, Mapping):
            # Dictionary batches keep their format: it is a speed option.
            return batch
        if isinstance(batch, (tuple, list)):
            first = batch[0].contiguous(memory_format=memory_format)
            return type(batch)([first, *batch[1:]])
        return batch.contiguous(memory_format=memory_format)

    def on_after_batch_transfer(self, batch, dataloader_idx):
        return self._format_batch(batch, self._memory_format(self.device))

    def _make_trainer(self, monitor):
        """The Trainer of a fit, and the copies of the ``callbacks`` it trains with.

        The Trainer has the estimator's options, and ``monitor`` among its
        callbacks.
        """
        kwargs = {
            name: value
            for name, value in self._trainer_kwargs.items()
            if name not in ENGINE_OPTIONS
        }
        callbacks = self._callbacks()
        # A fit must not change the callbacks given as parameters (early
        # stopping counters, best scores): each fit trains with fresh copies.
        copies = copy.deepcopy(callbacks)
        # The monitor first: the epoch means it logs at the end of an epoch
        # are there for the callbacks that read them then.
        kwargs["callbacks"] = [monitor, *copies]
        kwargs.setdefault("logger", False)
        kwargs.setdefault("enable_model_summary", False)
        kwargs.setdefault(
            "enable_checkpointing",
            any(isinstance(callback, ModelCheckpoint) for callback in callbacks),
        )
        with quiet_lightning():
            return pl.Trainer(**kwargs), copies

    def _callbacks(self):
        """The ``callbacks`` option as a list (one callback may be given alone)."""
        callbacks = self._trainer_kwargs.get("callbacks") or []
        return list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]

    def configure_callbacks(self):
        """A :class:`FitMonitor` for a Trainer of the user's; ``fit`` gives its own.

        Returns
        -------
        callbacks : list of pytorch_lightning.Callback
        """
        if any(isinstance(callback, FitMonitor) for callback in self.trainer.callbacks):
            return []
        return [FitMonitor(adopt_training_data=True)]

    def on_fit_start(self):
        memory_format = self._memory_format(self.device)
        if memory_format is not None:
            self.to(memory_format=memory_format)

    def on_train_end(self):
        if self._memory_format(self.device) is not None:
            # Weights go back to the default format, the one inference uses.
            self.to(memory_format=torch.contiguous_format)
