"""Estimators that are both LightningModules and scikit-learn estimators.

One object speaks two protocols: Lightning trains it (``training_step``,
``validation_step``, ``configure_optimizers``) and scikit-learn drives it
(``fit``, ``transform``, ``get_params``, ``set_params``, ``clone``). This
module holds the scikit-learn side and ``fit``; the training hooks, the
checkpoints and inference have modules of their own.
"""

import copy
import inspect
import math
import numbers

import pytorch_lightning as pl
import sklearn
import sklearn.base
import torch
from pytorch_lightning.trainer.states import TrainerFn
from sklearn.utils import check_scalar

from .._docstrings import fill_doc
from ..utils import check_input, make_loader
from ..utils._data import in_memory_loader, is_dataset, is_loader, n_samples
from ..utils.validation import check_input_and_samples, check_targets
from ._checkpoints import CheckpointMixin, fitted_attributes, set_fitted_attributes
from ._inference import InferenceMixin

# The mixins are importable from here, as upstream code imports them.
from ._mixins import (  # noqa: F401
    ClassifierMixin,
    ClusterMixin,
    RegressorMixin,
    TransformerMixin,
)
from ._monitor import FitMonitor
from ._quiet import quiet_lightning
from ._training import (
    ENGINE_OPTIONS,
    TRAINER_ARGUMENTS,
    TrainingMixin,
    forked_rng,
    seeded,
)

#: Methods whose metadata requests a clone keeps.
_REQUEST_METHODS = (
    "fit", "transform", "inverse_transform", "predict", "score", "score_samples",
)

#: Private bookkeeping of a fit, restored with the weights when a fit fails.
_FIT_BOOKKEEPING = ("_built_with", "_initial_modules", "_training_record")


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
        vars(module).clear()
        vars(module).update(vars(fresh[name]))


def _same_values(first, second):
    """Whether two dicts of parameter values hold equal values under the same keys.

    Values are compared with ``==`` (so that ``set_params`` with an equal
    value changes nothing); values that cannot say (arrays) are the same
    only if they are the same object.
    """
    if first is None or second is None or first.keys() != second.keys():
        return False
    for name, value in first.items():
        other = second[name]
        if value is other:
            continue
        try:
            if not bool(value == other):
                return False
        except (TypeError, ValueError, RuntimeError):
            return False
    return True


class BaseEstimator(
    sklearn.base.BaseEstimator,
    InferenceMixin,
    CheckpointMixin,
    TrainingMixin,
    pl.LightningModule,
):
    """Base class of nidl estimators: a LightningModule with the scikit-learn API.

    Subclasses declare their constructor parameters explicitly, store them
    unchanged under their own names and pass any other keyword argument to
    this constructor: those are options of the ``pytorch_lightning.Trainer``
    that ``fit`` builds (``max_epochs``, ``accelerator``, ``devices``,
    ``strategy``, ``precision``, ``callbacks``, ...). Trainer options are
    parameters like the others: ``get_params`` lists them, ``set_params``
    changes them and ``sklearn.base.clone`` keeps them. A name that is
    neither is refused by ``fit``, with a TypeError that names it.

    ``set_params`` only stores values. ``fit`` checks the parameters and the
    data, restores the initial weights of the user's modules and builds the
    estimator's own layers (so that every fit starts from the same point, as
    a scikit-learn refit does), then trains with a Trainer. If anything
    fails, the estimator is left as it was before the call. A fitted
    estimator holds no Trainer and no data; ``history_`` holds the epoch
    means of the logged losses and ``callbacks_`` the copies of the
    ``callbacks`` the fit trained with, as it left them (a checkpoint's
    ``best_model_path``).

    A Trainer of the user's can train the estimator too: ``configure_model``
    builds the layers the parameters call for, and the first batch sets the
    fitted attributes, as ``fit`` does.

    Subclasses implement the Lightning steps and these hooks:

    - ``_check_params()``: validate the parameters (call the parent's);
    - ``_build_modules(facts)``: create the estimator's own layers from its
      parameters and ``facts``, what ``fit`` learned of the training data
      (``n_samples``, ``scale``), None before any data is seen;
    - ``_check_data(X, val_dataloader, facts)``: checks of the training
      data that the estimator adds (the base's always run);
    - ``_check_modules(x)``: check the modules on a few input samples.

    They name the constructor parameters holding user modules in
    ``_user_modules``.

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

    #: Whether the scalar terms ``training_step`` returns are logged as their
    #: epoch means, ``train/<name>``, by the fit's ``FitMonitor``.
    _logs_epoch_means = False

    def __init__(self, **trainer_kwargs):
        pl.LightningModule.__init__(self)
        self._trainer_kwargs = dict(trainer_kwargs)
        # The parameter values the estimator's own layers were built from.
        self._built_with = None
        # The user's modules as first fitted, and copies of their state then.
        self._initial_modules = ({}, {})
        # The fitted attributes of the last complete fit (see record_training).
        self._training_record = None

    def __setattr__(self, name, value):
        # Lightning records the name of the running hook on the module, a
        # string or None, twice per hook call and a few dozen times per
        # step; torch.nn.Module.__setattr__ checks each value against the
        # parameters, buffers and submodules, a cost that shows in a small
        # model's step. An attribute already in the instance's dictionary is
        # none of those (torch keeps the names apart), and a string or None
        # cannot become one: storing it directly is what torch would do.
        if (value is None or type(value) is str) and name in vars(self):
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    @classmethod
    def parameter_names(cls):
        """Names of the constructor parameters, Trainer options aside.

        Returns
        -------
        names : list of str
            In the order of the constructor's signature.
        """
        signature = inspect.signature(cls.__init__)
        return [
            name
            for name, parameter in signature.parameters.items()
            if name != "self" and parameter.kind is not parameter.VAR_KEYWORD
        ]

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
        constructor: this only stores values. They are checked, and take
        effect, at the next ``fit``; a fitted estimator is unchanged until
        then. A name that is not a parameter of the estimator is stored as a
        Trainer option, which ``fit`` refuses if the Trainer has no such
        option.

        Parameters
        ----------
        **params
            Estimator parameters and ``pytorch_lightning.Trainer`` options.

        Returns
        -------
        self : BaseEstimator
            This estimator.
        """
        own = set(self.parameter_names())
        options = {
            key: value
            for key, value in params.items()
            if key not in own and "__" not in key
        }
        self._trainer_kwargs.update(options)
        # A module attribute only takes modules; like the constructor,
        # set_params stores any value there.
        replaced_modules = {
            key: value
            for key, value in params.items()
            if isinstance(getattr(self, key, None), torch.nn.Module)
            and not isinstance(value, torch.nn.Module)
        }
        for key, value in replaced_modules.items():
            delattr(self, key)
            setattr(self, key, value)
        super().set_params(**{
            key: value
            for key, value in params.items()
            if key not in options and key not in replaced_modules
        })
        return self

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
        known = TRAINER_ARGUMENTS | set(ENGINE_OPTIONS)
        unknown = sorted(set(self._trainer_kwargs) - known)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got the keyword argument {unknown[0]!r}, "
                f"which is neither one of its parameters "
                f"({', '.join(self.parameter_names())}) nor an option of "
                "pytorch_lightning.Trainer; check its spelling."
            )
        if not isinstance(self._engine_option("compile"), bool):
            raise TypeError(
                "compile must be True or False, got "
                f"{self._engine_option('compile')!r}."
            )
        input_key = self._engine_option("input_key")
        if not (
            input_key is None
            or isinstance(input_key, str)
            or (
                isinstance(input_key, tuple)
                and all(isinstance(k, str) for k in input_key)
            )
        ):
            raise TypeError(
                "input_key must be a string, a tuple of strings or None, got "
                f"{input_key!r}."
            )
        if self._engine_option("channels_last") not in ("auto", True, False):
            raise ValueError(
                "channels_last must be 'auto', True or False, got "
                f"{self._engine_option('channels_last')!r}."
            )
        random_state = getattr(self, "random_state", None)
        if random_state is not None:
            check_scalar(random_state, "random_state", numbers.Integral, min_val=0)
        # A subclass trained only by a Trainer of the user's may have no
        # batch_size: its loaders batch the data.
        if hasattr(self, "batch_size"):
            check_scalar(self.batch_size, "batch_size", numbers.Integral, min_val=1)
        for name in self._user_modules:
            module = getattr(self, name)
            if not isinstance(module, torch.nn.Module):
                raise TypeError(
                    f"{name} must be a torch.nn.Module, got {type(module).__name__}."
                )

    def _check_data(self, X, val_dataloader, facts):
        """Checks of the (checked) training and validation data, beyond the base's."""

    def _build_modules(self, facts):
        """Create the estimator's own layers from its parameters and ``facts``."""

    def _check_modules(self, x):
        """Check the modules against a few input samples ``x`` before training."""

    # ------------------------------------------------------------------
    # Building the layers
    # ------------------------------------------------------------------
    def _parameter_values(self):
        """The parameters the estimator's own layers are built from."""
        # A subclass for a Trainer of the user's may not store every
        # constructor argument; a missing one counts as None.
        return {
            name: getattr(self, name, None)
            for name in self.parameter_names()
            if name not in self._user_modules
        }

    def _build(self, facts):
        """Build the estimator's own layers; remember what they were built from."""
        self._build_modules(facts)
        self._built_with = self._parameter_values()

    def _build_initial_modules(self):
        """Build the layers at construction, where the parameters are valid.

        The draws come from a copy of torch's generators (seeded with
        ``random_state``), so that constructing an estimator leaves the
        user's random streams as they were. Invalid parameters leave the
        layers unbuilt: as in scikit-learn, they are reported by ``fit`` (or
        by a Trainer, in ``configure_model``), not by the constructor.
        """
        try:
            self._check_params()
        except (TypeError, ValueError):
            return
        with forked_rng(getattr(self, "random_state", None)):
            self._build(None)

    def configure_model(self):
        # A Trainer of the user's that starts fitting builds the layers that
        # the parameters call for, if they changed since the layers were
        # built; fit has built them already. Other stages (predict, test)
        # use the fitted model as it is.
        trainer = self._attached_trainer()
        fitting = trainer is not None and trainer.state.fn == TrainerFn.FITTING
        if self._built_with is None or (
            fitting and not _same_values(self._built_with, self._parameter_values())
        ):
            self._check_params()
            self._build(None)

    def _adopt_training_data(self, batch, train_loader):
        """Fitted attributes from the first batch of a fit run by a Trainer.

        ``fit`` checks the data before training; a model trained by the
        user's own ``Trainer.fit`` is checked on its first batch, which sets
        ``n_features_in_`` and ``sample_shape_`` likewise, and the user's
        modules are recorded in their state before training, the state a
        later ``fit`` starts from.

        Parameters
        ----------
        batch : torch.Tensor, tuple or dict
            The first training batch.
        train_loader : DataLoader
            The Trainer's training loader.
        """
        x = self._batch_input(batch).detach().cpu()
        check_input(self, x, reset=True)
        self._record_initial_modules()
        facts = {"n_samples": n_samples(train_loader), "scale": self._data_scale(x, x)}
        self._check_data(train_loader, None, facts)
        self._adopt_data_facts(facts)

    def _adopt_data_facts(self, facts):
        """Take the facts of the data a user's Trainer trains on, after the build."""

    def _epoch_values(self):
        """Values logged with the epoch means, as ``train/<name>`` (none here)."""
        return {}

    def _learns_data_scale(self):
        """Whether the layers start from the data's scale (``facts["scale"]``)."""
        return False

    def _data_scale(self, X, samples):
        """Standard deviation of the training data (of its first batch for loaders).

        None where the estimator does not use it (see ``_learns_data_scale``),
        or where the data has no spread.
        """
        if not self._learns_data_scale():
            return None
        data = X if isinstance(X, torch.Tensor) else samples
        if data.numel() < 2:
            return None
        scale = float(torch.as_tensor(data, dtype=torch.float64).std())
        return scale if math.isfinite(scale) and scale > 0 else None

    def _steps_its_optimizer(self, resuming):
        """Whether a fit leaves the optimiser step to ``training_step`` (no here)."""
        return False

    def _record_training(self, n_epochs, n_steps, history):
        """Set the fitted attributes of a complete fit; called at its end.

        The attributes are recorded by the process that trains and carried
        back to the calling process in the state dict (see
        ``get_extra_state``), spawned or not.
        """
        self._training_record = {
            **fitted_attributes(self, portable=True),
            "n_epochs_": n_epochs,
            "n_steps_": n_steps,
            "history_": {name: list(values) for name, values in history.items()},
        }
        set_fitted_attributes(self, self._training_record)

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    @fill_doc
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
        y, val_dataloader = self._validation_in_place_of_y(y, val_dataloader)
        return self._fit(X, self._check_targets(X, y), val_dataloader, ckpt_path)

    @staticmethod
    def _validation_in_place_of_y(y, val_dataloader):
        """``(y, val_dataloader)``, a DataLoader or Dataset given as ``y`` moved over.

        So that nidl's ``fit(train_dataloader, val_dataloader)`` works beside
        scikit-learn's ``fit(X, y)``.
        """
        if val_dataloader is None and (is_loader(y) or is_dataset(y)):
            return None, y
        return y, val_dataloader

    def _check_targets(self, X, y):
        """Targets of a supervised estimator as a tensor; None otherwise.

        Unsupervised estimators ignore ``y``, as scikit-learn passes it;
        supervised ones (regressors, classifiers) need it with array and
        tensor input, and find it in the batches of a Dataset or DataLoader.
        """
        if not self.__sklearn_tags__().target_tags.required:
            return None
        if is_loader(X) or is_dataset(X):
            return None
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y with array or tensor input; "
                "pass fit(X, y), or batches of (x, y) in a Dataset or DataLoader."
            )
        return check_targets(y, n_samples(X))

    def _fit(self, X, paired, val_dataloader, ckpt_path):
        """Every fit: check, build, train; the estimator unchanged on failure.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Training data.
        paired : torch.Tensor or None
            Values paired with the samples of an array or tensor ``X`` in
            every batch (targets, covariates), checked.
        val_dataloader : DataLoader, Dataset, torch.Tensor or array-like or None
            Validation data.
        ckpt_path : str or None
            Checkpoint to resume from.
        """
        saved = self._fit_state()
        try:
            self._train(X, paired, val_dataloader, ckpt_path)
        except BaseException:
            self._restore_fit_state(saved)
            raise
        return self

    def _train(self, X, paired, val_dataloader, ckpt_path):
        """The steps of :meth:`_fit`, which undoes them all if one fails."""
        self._check_params()
        X, samples = check_input_and_samples(self, X, reset=True)
        if val_dataloader is not None:
            val_dataloader = check_input(self, val_dataloader, reset=False)
        facts = {"n_samples": n_samples(X), "scale": self._data_scale(X, samples)}
        self._check_data(X, val_dataloader, facts)
        train_loader = make_loader(X, paired, batch_size=self.batch_size, shuffle=True)
        val_loader = (
            None
            if val_dataloader is None
            else make_loader(val_dataloader, batch_size=self.batch_size)
        )
        # Lazy layers draw their initial weights on first use, in the check.
        with seeded(self.random_state):
            self._reset_user_modules()
            self._build(facts)
            self._check_modules(samples)
        # Arrays and tensors are checked in full here; the batches of a
        # Dataset or DataLoader are checked as training reads them.
        # Lightning's advice on loader workers is noise for the loaders nidl
        # slices from memory, and kept for any other.
        loaders = {"train_dataloader": train_loader, "val_dataloader": val_loader}
        in_memory = tuple(
            name for name, loader in loaders.items() if in_memory_loader(loader)
        )
        monitor = FitMonitor(
            stages_to_check={
                stage
                for stage, data in (("train", X), ("validation", val_dataloader))
                if data is not None and not isinstance(data, torch.Tensor)
            },
            in_memory_loaders=in_memory,
        )
        trainer, callbacks = self._make_trainer(monitor)
        self._training_record = None
        # Lightning's manual optimisation, declared before training, where
        # the estimator steps its optimiser itself.
        self.automatic_optimization = not self._steps_its_optimizer(
            resuming=ckpt_path is not None
        )
        try:
            with seeded(self.random_state), quiet_lightning(in_memory):
                trainer.fit(self, train_loader, val_loader, ckpt_path=ckpt_path)
        finally:
            # A fitted estimator holds no Trainer (nor, through it, the data),
            # and a Trainer of the user's runs Lightning's automatic loop.
            self.trainer = None
            self.automatic_optimization = True
        if self._training_record is None:
            raise RuntimeError(
                "the Trainer stopped before the end of training; "
                f"{type(self).__name__} is left as it was before fit."
            )
        # The callbacks as the fit left them (a checkpoint's best path, an
        # early stop's epoch); the parameters keep their initial state.
        self.callbacks_ = callbacks
        # Inference runs where training ran: the model moves there once.
        self.to(trainer.strategy.root_device)
        volumes = len(self.sample_shape_) == 4
        if self._engine_option("channels_last") is True and volumes:
            self.to(memory_format=torch.channels_last_3d)

    def _fit_state(self):
        """What a fit may change: layers, the user's weights, fitted attributes."""
        user_modules = {
            name: module
            for name in self._user_modules
            if isinstance(module := getattr(self, name, None), torch.nn.Module)
        }
        return {
            "children": dict(self.named_children()),
            "parameters": dict(self.named_parameters(recurse=False)),
            "user_modules": (user_modules, copy.deepcopy(user_modules)),
            "fitted": fitted_attributes(self),
            "bookkeeping": {name: getattr(self, name) for name in _FIT_BOOKKEEPING},
        }

    def _restore_fit_state(self, state):
        """Put back what :meth:`_fit_state` saved."""
        _restore(*state["user_modules"])
        for name in set(dict(self.named_children())) - set(state["children"]):
            delattr(self, name)
        for name, module in state["children"].items():
            setattr(self, name, module)
        for name, parameter in state["parameters"].items():
            setattr(self, name, parameter)
        for name in set(fitted_attributes(self)) - set(state["fitted"]):
            delattr(self, name)
        set_fitted_attributes(self, state["fitted"])
        for name, value in state["bookkeeping"].items():
            setattr(self, name, value)

    def _reset_user_modules(self):
        """Restore the user's modules to the state they had before the first fit."""
        # The first fit records the state the user's modules came with; every
        # later fit starts from it again, as a scikit-learn refit does. A
        # module replaced through set_params is recorded anew.
        recorded, snapshots = self._initial_modules
        unchanged = {
            name: module
            for name in self._user_modules
            if recorded.get(name) is (module := getattr(self, name))
        }
        _restore(unchanged, {name: snapshots[name] for name in unchanged})
        self._record_initial_modules()

    def _record_initial_modules(self):
        """Record the state of the user's modules not recorded yet (or replaced)."""
        recorded, snapshots = self._initial_modules
        modules = {name: getattr(self, name) for name in self._user_modules}
        new = {name: m for name, m in modules.items() if recorded.get(name) is not m}
        if new or not recorded:
            kept = {name: snapshots[name] for name in modules if name not in new}
            self._initial_modules = (modules, {**kept, **copy.deepcopy(new)})

    def __sklearn_clone__(self):
        """An unfitted copy with the same parameters.

        The user's modules are copied in the state they had before the first
        fit, so that a clone of a fitted estimator trains exactly as the
        original did. All parameters are copied together, so that what the
        modules share stays shared. Metadata requests are kept, as
        scikit-learn's ``clone`` keeps them.
        """
        params = self.get_params(deep=False)
        recorded, snapshots = self._initial_modules
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
        _copy_metadata_requests(self, new)
        return new


def _copy_metadata_requests(source, target):
    """Give ``target`` the metadata requests set on ``source``."""
    routing = source.get_metadata_routing()
    for method in _REQUEST_METHODS:
        method_requests = getattr(routing, method, None)
        if method_requests is None:
            continue
        requests = {
            name: alias
            for name, alias in method_requests.requests.items()
            if alias is not None
        }
        if requests:
            with sklearn.config_context(enable_metadata_routing=True):
                getattr(target, f"set_{method}_request")(**requests)
