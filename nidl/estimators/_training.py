"""Training bookkeeping: seeding, a quiet Trainer, epoch means, non-finite values.

What ``fit`` needs around Lightning's loop and what every step does besides
the model's own work: the Trainer built from the estimator's options, the
memory format of volumes, the epoch means of the loss terms, the checks of
the batches that ``fit`` did not check in full and the check that stops
training at the first non-finite loss.
"""

import copy
import inspect
import logging
import math
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from functools import partial

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities.warnings import PossibleUserWarning

from ..utils import batch_input
from ..utils._data import plain_mappings
from ..utils.validation import check_batch, non_finite_batch_error
from ._checkpoints import fitted_attributes, set_fitted_attributes

#: Keyword arguments that ``pytorch_lightning.Trainer`` accepts.
TRAINER_ARGUMENTS = frozenset(inspect.signature(pl.Trainer.__init__).parameters) - {
    "self"
}

# Lightning's advice on logging intervals is noise for nidl's epoch means;
# a fit without validation data skipping the validation loop is expected;
# the deprecation notice comes from Lightning's own internals. Its advice on
# loader workers is silenced for nidl's in-memory loaders only (see
# silence_lightning): a loader reading files needs it.
_QUIET_WARNINGS = (
    r".*smaller than the logging interval.*",
    r".*but have no `val_dataloader`.*",
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
)
_LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric")

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
    cuda = torch.cuda.is_available()
    cuda_devices = list(range(torch.cuda.device_count())) if cuda else []
    with torch.random.fork_rng(devices=cuda_devices):
        # The generators of the devices in use, not torch.manual_seed: that
        # also queues seeds for every other backend, at a cost per call that
        # shows in a fast transform.
        torch.default_generator.manual_seed(seed)
        if cuda:
            torch.cuda.manual_seed_all(seed)
        yield



def silence_lightning(in_memory_loaders=()):
    """Raise Lightning's log level to warnings; ignore its noise warnings.

    Parameters
    ----------
    in_memory_loaders : tuple of str, default=()
        Names of the Trainer's loaders ("train_dataloader",
        "val_dataloader") that nidl slices from tensors in memory, for which
        the advice to use loader workers is silenced too.
    """
    for name in _LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    for name in in_memory_loaders:
        warnings.filterwarnings(
            "ignore",
            message=f"The '{name}' does not have many workers",
            category=PossibleUserWarning,
        )


@contextmanager
def quiet_lightning(in_memory_loaders=()):
    """Silence Lightning's banners and tips inside the block only.

    ``in_memory_loaders`` as for :func:`silence_lightning`.
    """
    loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    try:
        with warnings.catch_warnings():
            silence_lightning(in_memory_loaders)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


#: Steps whose terms ``log_epoch_means`` keeps before adding them to its sums.
_STEPS_PER_SUM = 64

#: Checks of finite values kept on an accelerator before they are read.
_CHECKS_PER_READ = 100


def _add_steps_to_sums(epoch):
    """Add the batch-size-weighted terms of the kept steps to the epoch's sums."""
    steps, epoch["steps"] = epoch["steps"], []
    if not steps:
        return
    rows, sizes = zip(*steps)
    device = next((v.device for v in rows[0] if isinstance(v, torch.Tensor)), None)
    columns = []
    for column in zip(*rows):
        if all(isinstance(value, torch.Tensor) for value in column):
            columns.append(torch.stack(column).to(torch.float32))
        else:
            columns.append(torch.tensor([float(value) for value in column], device=device))
    weights = torch.tensor(sizes, dtype=torch.float32, device=device)
    epoch["sums"] = epoch["sums"] + (torch.stack(columns, dim=1) * weights[:, None]).sum(dim=0)
    epoch["n_samples"] += sum(sizes)



class TrainingMixin:
    """Training hooks of :class:`~nidl.estimators.base.BaseEstimator`.

    Holds the Trainer that ``fit`` builds, nidl's speed options, the epoch
    means of the logged loss terms, the checks of every batch that ``fit``
    did not check in full (the batches of a Dataset or DataLoader) and the
    check that stops training at the first non-finite loss term.
    """

    def _engine_option(self, name):
        """Value of one of nidl's speed options (see ``ENGINE_OPTIONS``)."""
        return self._trainer_kwargs.get(name, ENGINE_OPTIONS[name])

    def _memory_format(self, device, training=True):
        """Memory format for batches and weights on ``device``, or None.

        "auto" uses ``channels_last_3d`` for training volumes on CPU and CUDA
        devices; inference stays in the default format, which measured
        faster for a 3-D convolutional VAE on a 2-core CPU (see
        ``benchmarks/``). True uses it for both.
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
            return type(batch)([batch[0].contiguous(memory_format=memory_format), *batch[1:]])
        return batch.contiguous(memory_format=memory_format)

    def on_after_batch_transfer(self, batch, dataloader_idx):
        return self._format_batch(batch, self._memory_format(self.device))

    def _make_trainer(self):
        kwargs = {
            name: value
            for name, value in self._trainer_kwargs.items()
            if name not in ENGINE_OPTIONS
        }
        callbacks = kwargs.get("callbacks") or []
        if not isinstance(callbacks, (list, tuple)):
            callbacks = [callbacks]
        # A fit must not change the callbacks given as parameters (early
        # stopping counters, best scores): each fit trains with fresh copies.
        kwargs["callbacks"] = copy.deepcopy(list(callbacks))
        kwargs.setdefault("logger", False)
        kwargs.setdefault("enable_model_summary", False)
        kwargs.setdefault(
            "enable_checkpointing",
            any(isinstance(callback, ModelCheckpoint) for callback in callbacks),
        )
        with quiet_lightning():
            return pl.Trainer(**kwargs)

    def log_epoch_means(self, terms, batch_size, batch_idx, prefix="train"):
        """Accumulate a training step's scalar terms; log their epoch means.

        A call to ``self.log`` costs more than a whole step of a small model,
        so the terms are kept on their device and logged once per epoch as
        ``<prefix>/<name>``, means weighted by the batch sizes, at the
        epoch's last batch, so that callbacks (early stopping, checkpoints)
        find them at the end of the epoch. Use it from ``training_step``.

        Parameters
        ----------
        terms : dict of str to torch.Tensor or float
            Scalars of this step.
        batch_size : int
            Number of samples in the step.
        batch_idx : int
            Index of the batch in the epoch.
        prefix : str, default="train"
            Prefix of the logged names.
        """
        names = tuple(terms)
        epoch = self.__dict__.get("_epoch_terms")
        if epoch is None:
            epoch = {"names": names, "prefix": prefix, "steps": [], "sums": 0, "n_samples": 0}
            self.__dict__["_epoch_terms"] = epoch
        elif epoch["names"] != names:
            raise ValueError(
                f"log_epoch_means got the terms {names} after {epoch['names']} in the "
                "same epoch; log the same terms at every step."
            )
        # A step only keeps references: the sums are formed every
        # _STEPS_PER_SUM steps, a few operations for all of those steps.
        epoch["steps"].append((
            [value.detach() if isinstance(value, torch.Tensor) else value for value in terms.values()],
            batch_size,
        ))
        if len(epoch["steps"]) == _STEPS_PER_SUM:
            _add_steps_to_sums(epoch)
        if batch_idx + 1 == self.trainer.num_training_batches:
            self._log_accumulated_means()

    def _log_accumulated_means(self):
        epoch = self.__dict__.pop("_epoch_terms", None)
        if epoch is None:
            return
        _add_steps_to_sums(epoch)
        means = epoch["sums"] / epoch["n_samples"]
        self.log_dict(
            {f"{epoch['prefix']}/{name}": mean for name, mean in zip(epoch["names"], means)},
            on_step=False,
            on_epoch=True,
            batch_size=epoch["n_samples"],
            sync_dist=True,
        )

    def __setstate__(self, state):
        super().__setstate__(state)
        # Worker processes of a spawning strategy unpickle the estimator
        # before Lightning sets up; they do not run inside fit's quiet block,
        # so silence Lightning's banners there.
        if torch.multiprocessing.current_process().name != "MainProcess":
            silence_lightning(self.__dict__.get("_in_memory_loaders", ()))

    def on_fit_start(self):
        memory_format = self._memory_format(self.device)
        if memory_format is not None:
            self.to(memory_format=memory_format)
        # fit says which data it checked in full (arrays and tensors); the
        # batches of the rest are checked as they come, from the sanity
        # check's validation batches on. A fit run by a user's Trainer
        # checks its batches once the first one has set sample_shape_.
        checked = self.__dict__.get("_data_checked_by_fit")
        self.__dict__["_stages_to_check"] = (
            set() if checked is None else {stage for stage, full in checked.items() if not full}
        )
        self.__dict__["_kept_checks"] = []

    def on_fit_end(self):
        self.__dict__.pop("_stages_to_check", None)

    def on_train_start(self):
        # A fit's record is made at its end; until then there is none, in
        # the checkpoints written during training too.
        self._training_record = None
        self._fitted_by_trainer = "_data_checked_by_fit" not in self.__dict__

    def _check_batch(self, batch, batch_idx, stage):
        """Check the input of a batch of data that ``fit`` did not check in full.

        Type, dtype and sample shape fail at once, before the batch's step;
        NaN and infinite values are told by the batch's sum, read like the
        loss terms (see ``_check_finite``).
        """
        if stage not in self.__dict__.get("_stages_to_check", ()):
            return
        prefix = "" if stage == "train" else f"{stage} "
        where = f"{prefix}batch {batch_idx} of epoch {self.current_epoch}"
        x = self._batch_input(batch)
        total = check_batch(x, self.sample_shape_, where)
        # The input is kept for the message only where the check is read at
        # once; an accelerator must not hold on to its batches.
        self._check_finite(
            [total], partial(self._raise_bad_batch, where, x if x.device.type == "cpu" else None)
        )

    @staticmethod
    def _raise_bad_batch(where, x, index, value):
        error = non_finite_batch_error(where, x)
        if error is not None:
            raise error

    def on_validation_batch_start(self, batch, batch_idx, dataloader_idx=0):
        self._check_batch(batch, batch_idx, "validation")

    def on_validation_epoch_end(self):
        self._read_kept_checks()

    def on_train_end(self):
        # Checks kept on an accelerator since the last read fail the fit
        # before its record is made.
        self._read_kept_checks()
        if self._memory_format(self.device) is not None:
            # Weights go back to the default format, the one inference uses.
            self.to(memory_format=torch.contiguous_format)
        # The fitted attributes, recorded by the process that trains and
        # carried back to the calling process in the state dict (see
        # get_extra_state), spawned or not.
        self._training_record = {
            **fitted_attributes(self),
            "n_epochs_": self.current_epoch,
            "n_steps_": self.global_step,
        }
        set_fitted_attributes(self, self._training_record)
        self._fit_device = str(self.device)
        # A compiled forward pass does not pickle; it is rebuilt when needed.
        self.__dict__.pop("_compiled_forward", None)

    def on_train_epoch_end(self):
        # Epochs cut short (max_steps, loaders of unknown length) end here.
        self._log_accumulated_means()
        self._read_kept_checks()

    def on_train_batch_start(self, batch, batch_idx):
        # The optimiser step a batch's losses belong to, for error messages.
        self._batch_start_step = self.global_step
        if self._fitted_by_trainer:
            self._fitted_by_trainer = False
            self._adopt_training_data(batch)
            self.__dict__["_stages_to_check"] = {"train", "validation"}
        self._check_batch(batch, batch_idx, "train")

    def on_train_batch_end(self, outputs, batch, batch_idx):
        """Stop training with an error when a loss term is not finite."""
        if not isinstance(outputs, dict):
            return
        terms = {
            key: value.detach()
            for key, value in outputs.items()
            if isinstance(value, torch.Tensor) and value.ndim == 0
        }
        if terms:
            self._check_finite(
                list(terms.values()),
                partial(
                    self._raise_not_finite,
                    list(terms),
                    self.current_epoch,
                    batch_idx,
                    self._batch_start_step,
                ),
            )

    def _check_finite(self, values, report):
        """Call ``report(index, value)`` at the first non-finite of ``values``.

        ``values`` are 0-d tensors of one step (loss terms, a batch's sum).
        On the CPU they are read at once, which costs less than one tensor
        operation. On an accelerator, reading a value would make the host
        wait for the device at every step, so they are kept on the device
        and read together every ``_CHECKS_PER_READ`` checks and at the end
        of each epoch: a failure there stops training a few steps late, and
        the failed fit leaves the estimator as it was all the same.
        """
        if values[0].device.type == "cpu":
            for index, value in enumerate(values):
                value = value.item()
                if not math.isfinite(value):
                    report(index, value)
            return
        kept = self.__dict__.setdefault("_kept_checks", [])
        kept.append((torch.stack(values).float(), report))
        if len(kept) == _CHECKS_PER_READ:
            self._read_kept_checks()

    def _read_kept_checks(self):
        """Read the checks kept on the device, in order; report the first failure."""
        kept, self.__dict__["_kept_checks"] = self.__dict__.get("_kept_checks") or [], []
        if not kept:
            return
        # One read for all of them.
        values = torch.cat([step_values for step_values, _ in kept]).tolist()
        start = 0
        for step_values, report in kept:
            for index, value in enumerate(values[start : start + len(step_values)]):
                if not math.isfinite(value):
                    report(index, value)
            start += len(step_values)

    @staticmethod
    def _raise_not_finite(names, epoch, batch_idx, step, index, value):
        raise FloatingPointError(
            f"the training loss term {names[index]!r} is not finite at step {step} "
            f"(epoch {epoch}, batch {batch_idx}); lower the learning rate, "
            "check the data for extreme values or use a more stable likelihood."
        )
