"""Estimators that are both LightningModules and scikit-learn estimators.

One object speaks two protocols: Lightning trains it (``training_step``,
``validation_step``, ``configure_optimizers``) and scikit-learn drives it
(``fit``, ``transform``, ``get_params``, ``set_params``, ``clone``).
"""

import copy
import inspect
import logging
import math
import numbers
import warnings
from contextlib import contextmanager

import numpy as np
import pytorch_lightning as pl
import sklearn.base
import torch
from lightning_fabric.utilities.apply_func import move_data_to_device
from pytorch_lightning.callbacks import ModelCheckpoint
from sklearn.utils import check_array, check_scalar
from sklearn.utils.validation import check_is_fitted

from ..utils import check_input, make_loader, returns_numpy
from ..utils._data import is_dataset, is_loader, iterate_batches, n_samples
from ..utils.validation import check_input_and_samples

#: Keyword arguments that ``pytorch_lightning.Trainer`` accepts.
TRAINER_ARGUMENTS = frozenset(inspect.signature(pl.Trainer.__init__).parameters) - {
    "self"
}

# Lightning's advice on loader workers and logging intervals is noise for
# in-memory arrays, which are sliced in the main process by design; a fit
# without validation data skipping the validation loop is expected; the
# deprecation notice comes from Lightning's own internals.
_QUIET_WARNINGS = (
    r".*does not have many workers.*",
    r".*smaller than the logging interval.*",
    r".*but have no `val_dataloader`.*",
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
)
_LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric")

#: nidl's own speed options, passed (and cloned, and set) like Trainer
#: options, with their defaults: ``compile`` compiles the training forward
#: pass with ``torch.compile``; ``channels_last`` stores volumes (5-D batches)
#: and the model in the ``channels_last_3d`` memory format ("auto": training
#: on CPU and CUDA devices; True: inference too).
ENGINE_OPTIONS = {"compile": False, "channels_last": "auto"}

#: Number of input values (sample size times batch size) an inference batch
#: holds at least, 256 KiB of float32: fewer, larger batches than training
#: ones cost less per sample, while batches that outgrow the processor's
#: caches cost more (measured on the MLP of ``benchmarks/``: 1.3 times the
#: plain loop's throughput at 2**16 values, 0.7 at 2**22).
INFERENCE_BATCH_VALUES = 2**16

# Attributes set at every training step that only ever hold plain values.
_PLAIN_ATTRIBUTES = frozenset({"_current_fx_name", "_batch_start_step"})



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


def _silence_lightning():
    """Raise Lightning's log level to warnings; ignore its noise warnings."""
    for name in _LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


@contextmanager
def _quiet_lightning():
    """Silence Lightning's banners and tips inside the block only."""
    loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    try:
        with warnings.catch_warnings():
            _silence_lightning()
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


#: Steps whose terms ``log_epoch_means`` keeps before adding them to its sums.
_STEPS_PER_SUM = 64


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


def _is_plain(value):
    """Whether a parameter value is a number, string, None or a tuple/list of them."""
    if isinstance(value, (list, tuple)):
        return all(_is_plain(item) for item in value)
    return value is None or isinstance(value, (bool, numbers.Number, str))


def _restore(modules, snapshots):
    """Give each module the state of its snapshot, keeping the objects themselves.

    A copy of the snapshot replaces each module's contents (submodules,
    parameters, buffers) and class, so that this also restores modules whose
    structure changed since, such as lazy layers that have been initialised.
    The snapshots are copied together, so that what modules share (tied
    weights, a shared submodule) stays shared.

    Parameters
    ----------
    modules : dict of str to torch.nn.Module
        The modules to restore, in place.
    snapshots : dict of str to torch.nn.Module
        Their saved states, under the same names; left unchanged.
    """
    fresh = copy.deepcopy(snapshots)
    for name, module in modules.items():
        module.__class__ = fresh[name].__class__
        module.__dict__.clear()
        module.__dict__.update(fresh[name].__dict__)


class BaseEstimator(sklearn.base.BaseEstimator, pl.LightningModule):
    """Base class of nidl estimators: a LightningModule with the scikit-learn API.

    Subclasses declare their constructor parameters explicitly, store them
    unchanged under their own names and pass any other keyword argument to
    this constructor: those are options of the ``pytorch_lightning.Trainer``
    that ``fit`` builds (``max_epochs``, ``accelerator``, ``devices``,
    ``strategy``, ``precision``, ``callbacks``, ...). Trainer options are
    parameters like the others: ``get_params`` lists them, ``set_params``
    changes them and ``sklearn.base.clone`` keeps them.

    ``fit`` validates the parameters and the data, restores the initial
    weights of the user's modules and rebuilds the estimator's own layers
    (so that every fit starts from the same point, as a scikit-learn refit
    does), then trains with a Trainer. If anything fails, the estimator is
    left exactly as it was before the call.

    Subclasses implement the Lightning steps and, where needed, the hooks
    ``_check_params``, ``_build_modules``, ``_check_modules`` and declare the
    constructor parameters holding user modules in ``_user_modules``.

    Parameters
    ----------
    **trainer_kwargs
        Options of ``pytorch_lightning.Trainer``. Unless given, nidl trains
        with ``logger=False``, ``enable_model_summary=False`` and
        checkpointing only when a ``ModelCheckpoint`` callback is given, so
        that a fit writes no file.

    Examples
    --------
    >>> import torch
    >>> from nidl.estimators.autoencoders import VAE
    >>> vae = VAE(torch.nn.Linear(4, 8), torch.nn.Linear(2, 4), encoder_out_dim=8,
    ...           latent_dim=2, max_epochs=3)
    >>> vae.get_params()["max_epochs"]
    3
    """

    #: Constructor parameters that hold the user's modules; ``fit`` restores
    #: their initial weights before training.
    _user_modules = ()

    def __init__(self, **trainer_kwargs):
        pl.LightningModule.__init__(self)
        self._trainer_kwargs = dict(trainer_kwargs)

    def __setattr__(self, name, value):
        # Lightning sets the name of the running hook twice per hook, a dozen
        # hooks per step; the bookkeeping of torch.nn.Module.__setattr__
        # (parameters, buffers, submodules) is not needed for a string.
        if name in _PLAIN_ATTRIBUTES:
            self.__dict__[name] = value
        else:
            super().__setattr__(name, value)

    # ------------------------------------------------------------------
    # scikit-learn protocol
    # ------------------------------------------------------------------
    def get_params(self, deep=True):
        """Get the parameters of this estimator, Trainer options included.

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of contained estimators.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        params = super().get_params(deep=deep)
        params.update(self._trainer_kwargs)
        return params

    def set_params(self, **params):
        """Set parameters, Trainer options included.

        Setting a parameter has exactly the effect of passing it to the
        constructor, and like the constructor, this only stores values: they
        are checked, and take effect, at the next ``fit``. A name that is not
        a parameter of the estimator is stored as a Trainer option.

        Parameters
        ----------
        **params
            Estimator parameters and ``pytorch_lightning.Trainer`` options.

        Returns
        -------
        self : BaseEstimator
            This estimator.
        """
        own = set(self._get_param_names())
        trainer_params = {
            key: value
            for key, value in params.items()
            if key not in own and "__" not in key
        }
        self._trainer_kwargs.update(trainer_params)
        # A module attribute only takes modules; like the constructor,
        # set_params stores any value and leaves the check to fit.
        replaced_modules = {
            key: value
            for key, value in params.items()
            if key in self._modules and not isinstance(value, (torch.nn.Module, type(None)))
        }
        for key, value in replaced_modules.items():
            del self._modules[key]
            setattr(self, key, value)
        return super().set_params(
            **{
                key: value
                for key, value in params.items()
                if key not in trainer_params and key not in replaced_modules
            }
        )

    def __sklearn_is_fitted__(self):
        return hasattr(self, "n_steps_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.non_deterministic = self._non_deterministic()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        return tags

    def _non_deterministic(self):
        """Whether outputs are random draws (subclasses say when)."""
        return False

    # ------------------------------------------------------------------
    # Hooks for subclasses
    # ------------------------------------------------------------------
    def _check_params(self):
        """Validate the parameters; called at the top of ``fit``."""
        unknown = sorted(set(self._trainer_kwargs) - TRAINER_ARGUMENTS - set(ENGINE_OPTIONS))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got the keyword argument {unknown[0]!r}, "
                "which is neither one of its parameters nor an option of "
                "pytorch_lightning.Trainer; check its spelling."
            )
        if not isinstance(self._engine_option("compile"), bool):
            raise TypeError(
                f"compile must be True or False, got {self._engine_option('compile')!r}."
            )
        if self._engine_option("channels_last") not in ("auto", True, False):
            raise ValueError(
                "channels_last must be 'auto', True or False, got "
                f"{self._engine_option('channels_last')!r}."
            )
        random_state = getattr(self, "random_state", None)
        if random_state is not None:
            check_scalar(random_state, "random_state", numbers.Integral, min_val=0)
        check_scalar(self.batch_size, "batch_size", numbers.Integral, min_val=1)
        for name in self._user_modules:
            module = getattr(self, name)
            if not isinstance(module, torch.nn.Module):
                raise TypeError(
                    f"{name} must be a torch.nn.Module, got {type(module).__name__}."
                )

    def _check_data(self, X, val_dataloader):
        """Check the checked training and validation data against the parameters."""

    def _build_modules(self):
        """Create the estimator's own layers from its parameters."""

    def _check_modules(self, x):
        """Check the modules against a few input samples ``x`` before training."""

    def configure_model(self):
        # Lightning calls this hook when the module is trained by a Trainer
        # directly (not through ``fit``): build what ``fit`` would have built.
        if not getattr(self, "_modules_built", False):
            self._build_modules()
            self._modules_built = True

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def fit(self, X, y=None, val_dataloader=None, ckpt_path=None):
        """Train the estimator.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Training data, of shape (n_samples, ...) for arrays and tensors.
            A batch of ``(x, y, ...)`` uses ``x`` only.
        y : None or DataLoader or Dataset, default=None
            Ignored, as scikit-learn passes it. A ``DataLoader`` or
            ``Dataset`` given here is taken as validation data, so that
            ``fit(train_dataloader, val_dataloader)`` works.
        val_dataloader : DataLoader, Dataset, torch.Tensor or array-like, default=None
            Validation data, evaluated at the end of each epoch.
        ckpt_path : str, default=None
            Checkpoint of an interrupted fit to resume from.

        Returns
        -------
        self : BaseEstimator
            The fitted estimator.
        """
        if val_dataloader is None and (is_loader(y) or is_dataset(y)):
            val_dataloader, y = y, None
        with self._unchanged_on_failure():
            self._check_params()
            X, samples = check_input_and_samples(self, X, reset=True)
            y = self._check_targets(X, y)
            if val_dataloader is not None:
                val_dataloader = check_input(self, val_dataloader, reset=False)
            # Known to _build_modules, for losses that need the training-set
            # size; None for data of unknown length.
            self._n_train_samples = n_samples(X)
            self._check_data(X, val_dataloader)
            train_loader = make_loader(X, y, batch_size=self.batch_size, shuffle=True)
            val_loader = (
                None
                if val_dataloader is None
                else make_loader(val_dataloader, batch_size=self.batch_size)
            )
            # Lazy layers draw their initial weights on first use, in the check.
            with seeded(self.random_state):
                self._reset_modules()
                self._check_modules(samples)
            trainer = self._make_trainer()
            self._training_counts = None
            with seeded(self.random_state), _quiet_lightning():
                trainer.fit(self, train_loader, val_loader, ckpt_path=ckpt_path)
            self.n_epochs_, self.n_steps_ = self._training_counts
            self._fit_device = str(trainer.strategy.root_device)
        return self

    def _check_targets(self, X, y):
        """Targets of a supervised estimator as a tensor; None otherwise.

        Unsupervised estimators ignore ``y``, as scikit-learn passes it;
        supervised ones (regressors, classifiers) need it with array and
        tensor input, and find it in the batches of a Dataset or DataLoader.
        """
        if not self.__sklearn_tags__().target_tags.required:
            return None
        if not isinstance(X, torch.Tensor):
            return None
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y with array or tensor input; "
                "pass fit(X, y), or batches of (x, y) in a Dataset or DataLoader."
            )
        values = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y
        y = check_array(values, ensure_2d=False, dtype="numeric", input_name="y")
        if len(y) != len(X):
            raise ValueError(
                f"X has {len(X)} samples but y has {len(y)}; pass one target per sample."
            )
        y = torch.from_numpy(np.ascontiguousarray(y))
        return y.float() if y.is_floating_point() else y

    @contextmanager
    def _unchanged_on_failure(self):
        """Leave the estimator, weights included, as it was if the block fails."""
        saved = dict(vars(self))
        modules = {name: m for name, m in self._modules.items() if m is not None}
        saved["_modules"] = dict(self._modules)
        snapshots = copy.deepcopy(modules)
        try:
            yield
        except BaseException:
            _restore(modules, snapshots)
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _reset_modules(self):
        """Restore the user's modules to their initial state; rebuild the rest."""
        # The first fit records the state the user's modules came with; every
        # later fit starts from it again, as a scikit-learn refit does. A
        # module replaced through set_params is recorded anew.
        modules = {name: getattr(self, name) for name in self._user_modules}
        recorded, snapshots = getattr(self, "_initial_modules", ({}, {}))
        unchanged = {
            name: module
            for name, module in modules.items()
            if recorded.get(name) is module
        }
        _restore(unchanged, {name: snapshots[name] for name in unchanged})
        self._initial_modules = (modules, copy.deepcopy(modules))
        self._build_modules()
        self._modules_built = True

    def __sklearn_clone__(self):
        """An unfitted copy with the same parameters.

        The user's modules are copied in the state they had before the first
        fit, so that a clone of a fitted estimator trains exactly as the
        original did. All parameters are copied together, so that what the
        modules share stays shared.
        """
        params = self.get_params(deep=False)
        recorded, snapshots = getattr(self, "_initial_modules", ({}, {}))
        for name, module in recorded.items():
            if params.get(name) is module:
                params[name] = snapshots[name]
        estimators = {
            name: sklearn.base.clone(value)
            for name, value in params.items()
            if isinstance(value, sklearn.base.BaseEstimator)
        }
        others = copy.deepcopy(
            {name: value for name, value in params.items() if name not in estimators}
        )
        new = type(self)(**others, **estimators)
        for attribute in ("_metadata_request", "_sklearn_output_config"):
            if hasattr(self, attribute):
                setattr(new, attribute, copy.deepcopy(getattr(self, attribute)))
        return new

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

    def _format_batch(self, batch, memory_format):
        """The batch with its input in ``memory_format`` (None: unchanged)."""
        if memory_format is None:
            return batch
        if isinstance(batch, (tuple, list)):
            return type(batch)([batch[0].contiguous(memory_format=memory_format), *batch[1:]])
        return batch.contiguous(memory_format=memory_format)

    def on_fit_start(self):
        memory_format = self._memory_format(self.device)
        if memory_format is not None:
            self.to(memory_format=memory_format)

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
        with _quiet_lightning():
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
            _silence_lightning()

    def on_train_end(self):
        if self._memory_format(self.device) is not None:
            # Weights go back to the default format, the one inference uses.
            self.to(memory_format=torch.contiguous_format)
        # Recorded by the process that trains and carried back to the calling
        # process in the state dict (see get_extra_state), spawned or not.
        self._training_counts = (self.current_epoch, self.global_step)
        # A compiled forward pass does not pickle; it is rebuilt when needed.
        self.__dict__.pop("_compiled_forward", None)

    def get_extra_state(self):
        """Training counts that travel with the weights, e.g. out of spawned workers."""
        return {"training_counts": getattr(self, "_training_counts", None)}

    def set_extra_state(self, state):
        counts = state.get("training_counts") if isinstance(state, dict) else None
        if counts is not None:
            self._training_counts = tuple(counts)

    def on_train_epoch_end(self):
        # Epochs cut short (max_steps, loaders of unknown length) end here.
        self._log_accumulated_means()

    def on_train_batch_start(self, batch, batch_idx):
        # The optimiser step a batch's losses belong to, for error messages.
        self._batch_start_step = self.global_step

    def on_train_batch_end(self, outputs, batch, batch_idx):
        """Stop training with an error when a loss term is not finite.

        On the CPU every step is checked, which costs nothing; on an
        accelerator the check would wait for the device, so the first
        failing step is recorded on the device and looked at every 100 steps
        and at the end of the epoch.
        """
        if not isinstance(outputs, dict):
            return
        terms = {
            key: value.detach()
            for key, value in outputs.items()
            if isinstance(value, torch.Tensor) and value.ndim == 0
        }
        if not terms:
            return
        names = list(terms)
        if next(iter(terms.values())).device.type == "cpu":
            # Reading a CPU scalar costs less than one tensor operation.
            bad = [not math.isfinite(value.item()) for value in terms.values()]
            if any(bad):
                self._raise_not_finite(
                    names, self.current_epoch, batch_idx, self._batch_start_step, bad
                )
            return
        finite = torch.isfinite(torch.stack(list(terms.values())))
        position = torch.tensor(
            [self.current_epoch, batch_idx, self._batch_start_step], device=finite.device
        )
        failure = self.__dict__.get("_first_failure")
        if failure is None:
            failure = torch.full((3 + len(terms),), -1, device=finite.device)
        record = torch.cat([position, (~finite).long()])
        failure = torch.where((failure[0] < 0) & ~finite.all(), record, failure)
        self.__dict__["_first_failure"] = failure
        if batch_idx + 1 == self.trainer.num_training_batches or batch_idx % 100 == 0:
            epoch, failed_batch, step, *bad = failure.tolist()
            if epoch >= 0:
                self._raise_not_finite(names, epoch, failed_batch, step, bad)

    def on_train_epoch_start(self):
        self.__dict__.pop("_first_failure", None)

    @staticmethod
    def _raise_not_finite(names, epoch, batch_idx, step, bad):
        name = names[[bool(flag) for flag in bad].index(True)]
        raise FloatingPointError(
            f"the training loss term {name!r} is not finite at step {step} "
            f"(epoch {epoch}, batch {batch_idx}); lower the learning rate, "
            "check the data for extreme values or use a more stable likelihood."
        )

    # ------------------------------------------------------------------
    # Checkpoints
    # ------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint):
        """Store what a checkpoint needs to give back a fitted estimator.

        The simple parameters (numbers, strings, tuples) go under
        ``"hyper_parameters"``, so that ``load_from_checkpoint`` needs only
        the modules; the fitted attributes and, for a seeded fit, the state of
        torch's generator (so that a resumed fit draws what the uninterrupted
        one would have) go under ``"nidl"``.
        """
        checkpoint["hyper_parameters"] = {
            name: value
            for name, value in self.get_params(deep=False).items()
            if _is_plain(value)
        }
        fitted = {
            name: value
            for name, value in vars(self).items()
            if name.endswith("_") and not name.startswith("_")
        }
        if "feature_names_in_" in fitted:
            fitted["feature_names_in_"] = list(fitted["feature_names_in_"])
        fitted["n_epochs_"] = self.current_epoch
        fitted["n_steps_"] = self.global_step
        checkpoint["nidl"] = {"fitted": fitted, "rng_state": torch.get_rng_state()}

    def on_load_checkpoint(self, checkpoint):
        """Restore the fitted attributes and build the layers before the weights."""
        if not getattr(self, "_modules_built", False):
            self._build_modules()
            self._modules_built = True
        saved = checkpoint.get("nidl", {})
        for name, value in saved.get("fitted", {}).items():
            if name == "feature_names_in_":
                value = np.asarray(value, dtype=object)
            setattr(self, name, value)
        # Resuming a seeded fit (and only then) continues its random stream;
        # the fit runs inside a forked generator, so the user's is untouched.
        resuming = self._trainer is not None and self.trainer.training
        if resuming and self.random_state is not None and "rng_state" in saved:
            torch.set_rng_state(saved["rng_state"])

    def load_checkpoint(self, path):
        """Load the weights and fitted state of a checkpoint into this estimator.

        The estimator must have the parameters of the one that wrote the
        checkpoint (for instance, the same constructor call). Useful after
        early stopping, to go back to the best epoch's weights.

        Parameters
        ----------
        path : str or path-like
            A checkpoint written during ``fit`` (``ModelCheckpoint``).

        Returns
        -------
        self : BaseEstimator
            The fitted estimator.
        """
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        self.on_load_checkpoint(checkpoint)
        self.load_state_dict(checkpoint["state_dict"])
        return self

    # ------------------------------------------------------------------
    # Inference
    # ------------------------------------------------------------------
    def _inference_device(self):
        """Device for inference: where the model is, else where it was trained."""
        if self.device.type != "cpu":
            return self.device
        fit_device = torch.device(getattr(self, "_fit_device", "cpu"))
        if fit_device.type == "cuda" and torch.cuda.is_available():
            return fit_device
        return torch.device("cpu")

    def _inference_batch_size(self):
        """Batch size of inference on arrays, tensors and Datasets.

        At least ``batch_size``, and large enough to hold
        ``INFERENCE_BATCH_VALUES`` values of training-sized samples. A
        DataLoader given by the user keeps its own batches.
        """
        sample_size = max(int(np.prod(getattr(self, "sample_shape_", ()))), 1)
        return max(self.batch_size, INFERENCE_BATCH_VALUES // sample_size)

    def _predict(self, X, step):
        """Apply ``step(batch, batch_idx)`` to every batch of checked data ``X``.

        Runs in evaluation mode under ``torch.inference_mode``, seeded with
        ``random_state``, and returns the outputs concatenated on the CPU, one
        row per sample, in the loader's order.
        """
        device = self._inference_device()
        memory_format = self._memory_format(device, training=False)
        previous_device, was_training = self.device, self.training
        if device != previous_device:
            self.to(device)
        if memory_format is not None:
            self.to(memory_format=memory_format)
        self.eval()
        outputs = []
        try:
            with seeded(self.random_state), torch.inference_mode():
                batches = iterate_batches(X, batch_size=self._inference_batch_size())
                for batch_idx, batch in enumerate(batches):
                    if device.type != "cpu":
                        batch = move_data_to_device(batch, device)
                    batch = self._format_batch(batch, memory_format)
                    outputs.append(step(batch, batch_idx).cpu())
        finally:
            self.train(was_training)
            if device != previous_device:
                self.to(previous_device)
        # Concatenating outside inference mode gives an ordinary tensor.
        return torch.cat(outputs)

    def _checked_predict(self, X, step):
        """``_predict`` on validated input, in the output type of the input."""
        check_is_fitted(self)
        outputs = self._predict(check_input(self, X, reset=False), step)
        return outputs.numpy() if returns_numpy(X) else outputs


class TransformerMixin(sklearn.base.TransformerMixin, sklearn.base.ClassNamePrefixFeaturesOutMixin):
    """Mixin for nidl transformers: ``transform`` through ``transform_step``.

    ``transform`` returns one row per input sample, in input order: a NumPy
    array for array input, a CPU tensor for tensor, Dataset and DataLoader
    input. ``get_feature_names_out`` names the outputs after the class
    (``vae0``, ``vae1``, ...); the subclass says how many through
    ``_n_features_out``.

    Examples
    --------
    A transformer that learns a linear projection by reconstruction:

    >>> import numpy as np, torch
    >>> from torch import nn
    >>> from nidl.estimators import BaseEstimator, TransformerMixin
    >>> class LinearAutoencoder(TransformerMixin, BaseEstimator):
    ...     def __init__(self, n_components=2, random_state=None, batch_size=32, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.n_components = n_components
    ...         self.random_state, self.batch_size = random_state, batch_size
    ...     _n_features_out = property(lambda self: self.n_components)
    ...     def _build_modules(self):
    ...         self.down = nn.Linear(self.n_features_in_, self.n_components)
    ...         self.up = nn.Linear(self.n_components, self.n_features_in_)
    ...     def training_step(self, batch, batch_idx):
    ...         return nn.functional.mse_loss(self.up(self.down(batch)), batch)
    ...     def transform_step(self, batch, batch_idx, dataloader_idx=0):
    ...         return self.down(batch)
    ...     def configure_optimizers(self):
    ...         return torch.optim.Adam(self.parameters(), lr=1e-2)
    >>> X = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
    >>> model = LinearAutoencoder(random_state=0, max_epochs=2, enable_progress_bar=False)
    >>> model.fit(X).transform(X).shape
    (64, 2)
    >>> model.get_feature_names_out()
    array(['linearautoencoder0', 'linearautoencoder1'], dtype=object)
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Computation is in float32, whatever the input's precision.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def transform(self, X):
        """Transform ``X`` with ``transform_step``, batch by batch.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Data shaped like the training data.

        Returns
        -------
        X_new : numpy.ndarray or torch.Tensor, shape (n_samples, n_components)
            A NumPy array for array-like input, otherwise a CPU tensor.
        """
        return self._checked_predict(X, self.transform_step)

    def transform_step(self, batch, batch_idx, dataloader_idx=0):
        """Transform one batch; subclasses implement it."""
        raise NotImplementedError


class _PredictMixin:
    def predict(self, X):
        """Predict with ``predict_step``, batch by batch.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Data shaped like the training data.

        Returns
        -------
        y_pred : numpy.ndarray or torch.Tensor
            A NumPy array for array-like input, otherwise a CPU tensor.
        """
        return self._checked_predict(X, self.predict_step)


class RegressorMixin(_PredictMixin, sklearn.base.RegressorMixin):
    """Mixin for nidl regressors: ``predict`` through ``predict_step``, R^2 score.

    ``fit(X, y)`` trains on ``(x, y)`` batches (array and tensor input) or
    on the batches of a Dataset or DataLoader.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from torch import nn
    >>> from nidl.estimators import BaseEstimator, RegressorMixin
    >>> class LinearRegressor(RegressorMixin, BaseEstimator):
    ...     def __init__(self, random_state=None, batch_size=16, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.random_state, self.batch_size = random_state, batch_size
    ...     def _build_modules(self):
    ...         self.linear = nn.Linear(self.n_features_in_, 1)
    ...     def training_step(self, batch, batch_idx):
    ...         x, y = batch
    ...         return nn.functional.mse_loss(self.linear(x)[:, 0], y)
    ...     def predict_step(self, batch, batch_idx, dataloader_idx=0):
    ...         return self.linear(batch)[:, 0]
    ...     def configure_optimizers(self):
    ...         return torch.optim.Adam(self.parameters(), lr=0.1)
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(128, 3)).astype(np.float32)
    >>> y = X @ np.array([1.0, -2.0, 0.5]) + 0.5
    >>> model = LinearRegressor(random_state=0, max_epochs=40, enable_progress_bar=False)
    >>> bool(model.fit(X, y).score(X, y) > 0.95)
    True
    """


class ClassifierMixin(_PredictMixin, sklearn.base.ClassifierMixin):
    """Mixin for nidl classifiers: ``predict`` through ``predict_step``, accuracy score.

    ``fit(X, y)`` trains on ``(x, y)`` batches (array and tensor input) or
    on the batches of a Dataset or DataLoader; ``predict_step`` returns
    class labels.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from torch import nn
    >>> from nidl.estimators import BaseEstimator, ClassifierMixin
    >>> class LogisticClassifier(ClassifierMixin, BaseEstimator):
    ...     def __init__(self, n_classes=2, random_state=None, batch_size=16, **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.n_classes = n_classes
    ...         self.random_state, self.batch_size = random_state, batch_size
    ...     def _build_modules(self):
    ...         self.linear = nn.Linear(self.n_features_in_, self.n_classes)
    ...     def training_step(self, batch, batch_idx):
    ...         x, y = batch
    ...         return nn.functional.cross_entropy(self.linear(x), y)
    ...     def predict_step(self, batch, batch_idx, dataloader_idx=0):
    ...         return self.linear(batch).argmax(dim=1)
    ...     def configure_optimizers(self):
    ...         return torch.optim.Adam(self.parameters(), lr=0.1)
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(128, 2)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(np.int64)
    >>> model = LogisticClassifier(random_state=0, max_epochs=10, enable_progress_bar=False)
    >>> bool(model.fit(X, y).score(X, y) > 0.9)
    True
    """


class ClusterMixin(_PredictMixin, sklearn.base.ClusterMixin):
    """Mixin for nidl clusterers: ``predict`` through ``predict_step``.

    Clustering is unsupervised: ``y`` is ignored. ``fit_predict`` fits and
    returns the cluster of each training sample.

    Examples
    --------
    :class:`nidl.estimators.autoencoders.JointVAE` is a clusterer: its
    ``predict`` gives the most likely category of each sample.

    >>> from nidl.estimators import ClusterMixin
    >>> from nidl.estimators.autoencoders import JointVAE
    >>> issubclass(JointVAE, ClusterMixin)
    True
    """
