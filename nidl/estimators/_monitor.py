"""The callback that watches every fit: batch checks, finite losses, epoch means.

:class:`FitMonitor` is a Lightning callback. ``fit`` gives one to the
Trainer it builds; a Trainer of the user's gets one through the estimator's
``configure_callbacks``. It holds the state of one fit only, so a fitted
estimator holds none of it.
"""

import math
from functools import partial

import torch
from pytorch_lightning.callbacks import Callback

from ..utils.validation import check_batch, non_finite_batch_error
from ._quiet import silence_lightning

#: Checks of finite values kept on an accelerator before they are read.
_CHECKS_PER_READ = 100

#: Steps whose loss terms are kept before they are added to the epoch's sums.
_STEPS_PER_SUM = 64

#: Prefixes of the epoch means that ``history_`` keeps.
_HISTORY_PREFIXES = ("train/", "val/")


class EpochMeans:
    """Batch-size-weighted means of the scalar terms of an epoch's steps.

    A step only keeps references to its terms, on their device; every
    ``_STEPS_PER_SUM`` steps they are added to the sums in a few tensor
    operations, so that nothing waits for an accelerator at every step.
    """

    def __init__(self):
        self.names, self.steps, self.sums, self.n_samples = None, [], 0, 0

    def add(self, terms, batch_size):
        names = tuple(terms)
        if self.names is None:
            self.names = names
        elif names != self.names:
            raise ValueError(
                f"training_step returned the terms {names} after {self.names} in "
                "the same epoch; return the same terms at every step."
            )
        self.steps.append((list(terms.values()), batch_size))
        if len(self.steps) == _STEPS_PER_SUM:
            self._add_steps_to_sums()

    def _add_steps_to_sums(self):
        steps, self.steps = self.steps, []
        if not steps:
            return
        rows, sizes = zip(*steps)
        columns = [torch.stack(column).to(torch.float32) for column in zip(*rows)]
        weights = torch.tensor(sizes, dtype=torch.float32, device=columns[0].device)
        weighted = torch.stack(columns, dim=1) * weights[:, None]
        self.sums = self.sums + weighted.sum(dim=0)
        self.n_samples += sum(sizes)

    def means(self):
        """The means by name, and the number of samples; the sums start again."""
        self._add_steps_to_sums()
        if self.names is None:
            return {}, 0
        means = dict(zip(self.names, self.sums / self.n_samples))
        n_samples = self.n_samples
        self.names, self.sums, self.n_samples = None, 0, 0
        return means, n_samples


class FitMonitor(Callback):
    """Check the batches and losses of a fit; log epoch means, record history.

    The scalar terms that ``training_step`` returns (``loss``,
    ``rec_loss``, ...) are logged as ``train/<name>``, their means over the
    epoch weighted by the batch sizes, where the estimator asks for it
    (``_logs_epoch_means``): one ``log`` call per epoch rather than one per
    step, which costs more than a whole step of a small model.

    Parameters
    ----------
    stages_to_check : set of {"train", "validation"}, default=()
        Stages whose batches are checked as they come (type, sample shape,
        finite values): those ``fit`` could not check in full before
        training (a Dataset or DataLoader). Arrays and tensors are checked
        in full by ``fit``.
    adopt_training_data : bool, default=False
        Whether the fit is run by a Trainer of the user's, which ``fit``
        did not prepare: the first training batch then sets the fitted
        attributes (``n_features_in_``, ``sample_shape_``), and every batch
        is checked.
    in_memory_loaders : tuple of str, default=()
        Names of the loaders that nidl slices from memory, for which
        Lightning's advice on loader workers is silenced in worker
        processes too.

    Attributes
    ----------
    history : dict of str to list of float
        The epoch means logged under ``train/`` (one value per epoch) and
        ``val/`` (one per epoch that ran validation).
    """

    def __init__(
        self, stages_to_check=(), adopt_training_data=False, in_memory_loaders=()
    ):
        self.stages_to_check = set(stages_to_check)
        self.adopt_training_data = adopt_training_data
        self.in_memory_loaders = tuple(in_memory_loaders)
        self.history = {}
        self._kept_checks = []
        self._batch_start_step = 0
        self._validated = False
        self._epoch_means = EpochMeans()

    def state_dict(self):
        # A checkpoint carries the history of the epochs before it, so that
        # a resumed fit's history_ holds every epoch.
        return {"history": self.history}

    def load_state_dict(self, state_dict):
        history = state_dict["history"]
        self.history = {name: list(values) for name, values in history.items()}

    def __setstate__(self, state):
        vars(self).update(state)
        # Processes started by a spawning strategy unpickle the Trainer and
        # its callbacks before Lightning sets up; they do not run inside
        # fit's quiet block: silence Lightning's banners there too.
        if _started_for_the_fit():
            silence_lightning(self.in_memory_loaders)

    def teardown(self, trainer, pl_module, stage):
        # A process a spawning strategy started ends with the fit, after
        # Lightning's last collective; PyTorch asks a process to destroy its
        # process group before it exits (gloo's threads can otherwise abort
        # the interpreter's exit). A process that goes on after the fit
        # ("ddp", and the calling process) keeps its group for transform.
        if _started_for_the_fit() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    # ------------------------------------------------------------------
    # Batches
    # ------------------------------------------------------------------
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        # The optimiser step a batch's losses belong to, for error messages.
        self._batch_start_step = trainer.global_step
        if self.adopt_training_data:
            self.adopt_training_data = False
            pl_module._adopt_training_data(batch, trainer.train_dataloader)
            self.stages_to_check = {"train", "validation"}
        self._check_batch(trainer, pl_module, batch, batch_idx, "train")

    def on_validation_batch_start(
        self, trainer, pl_module, batch, batch_idx, dataloader_idx=0
    ):
        self._check_batch(trainer, pl_module, batch, batch_idx, "validation")

    def _check_batch(self, trainer, pl_module, batch, batch_idx, stage):
        """Check the input of a batch of data that ``fit`` did not check in full.

        Type, dtype and sample shape fail at once, before the batch's step;
        NaN and infinite values are told by the batch's sum, read like the
        loss terms (see ``_check_finite``).
        """
        if stage not in self.stages_to_check:
            return
        prefix = "" if stage == "train" else f"{stage} "
        where = f"{prefix}batch {batch_idx} of epoch {trainer.current_epoch}"
        x = pl_module._batch_input(batch)
        total = check_batch(x, pl_module.sample_shape_, where)
        # The input is kept for the message only where the check is read at
        # once; an accelerator must not hold on to its batches.
        kept_input = x if x.device.type == "cpu" else None
        self._check_finite([total], partial(_raise_bad_batch, where, kept_input))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        """Stop training with an error when a loss term is not finite."""
        if not isinstance(outputs, dict):
            return
        terms = {
            key: value.detach()
            for key, value in outputs.items()
            if isinstance(value, torch.Tensor) and value.ndim == 0
        }
        if not terms:
            return
        where = (list(terms), trainer.current_epoch, batch_idx, self._batch_start_step)
        self._check_finite(list(terms.values()), partial(_raise_not_finite, *where))
        if pl_module._logs_epoch_means:
            self._epoch_means.add(terms, len(pl_module._batch_input(batch)))

    # ------------------------------------------------------------------
    # Epochs and the end of training
    # ------------------------------------------------------------------
    def on_validation_epoch_end(self, trainer, pl_module):
        self._read_kept_checks()
        if not trainer.sanity_checking:
            self._validated = True

    def on_train_epoch_end(self, trainer, pl_module):
        self._read_kept_checks()
        self._log_epoch_means(pl_module)
        # Validation may not run every epoch: its means are recorded for the
        # epochs it ran, not repeated.
        prefixes = _HISTORY_PREFIXES if self._validated else ("train/",)
        self._validated = False
        for name, value in trainer.callback_metrics.items():
            if name.startswith(prefixes):
                self.history.setdefault(name, []).append(float(value))

    def _log_epoch_means(self, pl_module):
        if not pl_module._logs_epoch_means:
            return
        means, n_samples = self._epoch_means.means()
        values = {**means, **pl_module._epoch_values()}
        values = {f"train/{name}": value for name, value in values.items()}
        if values:
            pl_module.log_dict(
                values, on_step=False, on_epoch=True, batch_size=max(n_samples, 1),
                sync_dist=True,
            )

    def on_train_end(self, trainer, pl_module):
        # Checks kept on an accelerator since the last read fail the fit
        # before its record is made.
        self._read_kept_checks()
        pl_module._record_training(
            n_epochs=trainer.current_epoch,
            n_steps=trainer.global_step,
            history=self.history,
        )

    # ------------------------------------------------------------------
    # Finite values
    # ------------------------------------------------------------------
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
        self._kept_checks.append((torch.stack(values).float(), report))
        if len(self._kept_checks) == _CHECKS_PER_READ:
            self._read_kept_checks()

    def _read_kept_checks(self):
        """Read the checks kept on the device, in order; report the first failure."""
        kept, self._kept_checks = self._kept_checks, []
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


def _started_for_the_fit():
    """Whether this process was started by a spawning strategy (ddp_spawn)."""
    return torch.multiprocessing.current_process().name != "MainProcess"


def _raise_bad_batch(where, x, index, value):
    error = non_finite_batch_error(where, x)
    if error is not None:
        raise error


def _raise_not_finite(names, epoch, batch_idx, step, index, value):
    raise FloatingPointError(
        f"the training loss term {names[index]!r} is not finite at step {step} "
        f"(epoch {epoch}, batch {batch_idx}); lower the learning rate, "
        "check the data for extreme values or use a more stable likelihood."
    )
