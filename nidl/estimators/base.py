"""Estimators that are both LightningModules and scikit-learn estimators.

One object speaks two protocols: Lightning trains it (``training_step``,
``validation_step``, ``configure_optimizers``) and scikit-learn drives it
(``fit``, ``transform``, ``get_params``, ``set_params``, ``clone``). This
module holds the scikit-learn side and ``fit``; the training hooks, the
checkpoints and inference have modules of their own.
"""

import copy
import inspect
import numbers
from contextlib import contextmanager

import pytorch_lightning as pl
import sklearn.base
import torch
from sklearn.utils import check_scalar

from ..utils import check_input, make_loader
from ..utils._data import in_memory_loader, is_dataset, is_loader, n_samples
from ..utils.validation import check_input_and_samples, check_targets
from ._checkpoints import CheckpointMixin
from ._docs import fill_method_docs
from ._inference import INFERENCE_BATCH_VALUES, InferenceMixin  # noqa: F401

# The mixins are importable from here, as upstream code imports them.
from ._mixins import (  # noqa: F401
    ClassifierMixin,
    ClusterMixin,
    RegressorMixin,
    TransformerMixin,
)
from ._training import (
    ENGINE_OPTIONS,
    TRAINER_ARGUMENTS,
    TrainingMixin,
    quiet_lightning,
    seeded,
)

# Attributes set at every training step that only ever hold plain values.
_PLAIN_ATTRIBUTES = frozenset({"_current_fx_name", "_batch_start_step"})


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


class _BuildsLayersOnConstruction(type):
    """Metaclass of the estimators: their own layers exist once they are constructed.

    A constructor stores its parameters and calls its parent's; the layers
    that depend on those parameters (a VAE's heads and loss) can only be
    built once the outermost constructor has stored them all, which is when
    this calls ``_build_initial_modules``. Copies and unpickled estimators
    keep the layers they carry.
    """

    def __call__(cls, *args, **kwargs):
        estimator = super().__call__(*args, **kwargs)
        estimator._build_initial_modules()
        return estimator

    @property
    def __signature__(cls):
        # The signature of the class is its constructor's, not the generic
        # one of __call__ above (scikit-learn's checks inspect it).
        signature = inspect.signature(cls.__init__)
        return signature.replace(parameters=list(signature.parameters.values())[1:])


class BaseEstimator(
    sklearn.base.BaseEstimator,
    InferenceMixin,
    CheckpointMixin,
    TrainingMixin,
    pl.LightningModule,
    metaclass=_BuildsLayersOnConstruction,
):
    """Base class of nidl estimators: a LightningModule with the scikit-learn API.

    Subclasses declare their constructor parameters explicitly, store them
    unchanged under their own names and pass any other keyword argument to
    this constructor: those are options of the ``pytorch_lightning.Trainer``
    that ``fit`` builds (``max_epochs``, ``accelerator``, ``devices``,
    ``strategy``, ``precision``, ``callbacks``, ...). Trainer options are
    parameters like the others: ``get_params`` lists them, ``set_params``
    changes them and ``sklearn.base.clone`` keeps them.

    The estimator's own layers are built at construction, so that it is a
    working LightningModule at once: a Trainer can train it (``Trainer.fit``
    sets the fitted attributes from the data it trains on, as ``fit`` does),
    and its steps run outside a Trainer too.

    ``fit`` validates the parameters and the data, restores the initial
    weights of the user's modules and rebuilds the estimator's own layers
    (so that every fit starts from the same point, as a scikit-learn refit
    does), then trains with a Trainer. If anything fails, the estimator is
    left exactly as it was before the call.

    Subclasses implement the Lightning steps and, where needed, the hooks
    ``_check_params``, ``_build_modules``, ``_check_modules`` and declare the
    constructor parameters holding user modules in ``_user_modules`` and
    those that shape their own layers in ``_layer_parameters``.

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

    #: Constructor parameters that shape the estimator's own layers: changing
    #: one through ``set_params`` builds the layers anew.
    _layer_parameters = ()

    #: Whether the estimator's own layers depend on its parameters only, and
    #: so exist from construction on; otherwise (layers shaped by the data)
    #: ``fit`` builds them.
    _layers_from_parameters = False

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
        before = self.get_params(deep=False)
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
        super().set_params(
            **{
                key: value
                for key, value in params.items()
                if key not in trainer_params and key not in replaced_modules
            }
        )
        changed = {
            key for key in params if key in own and params[key] is not before.get(key)
        }
        if changed:
            self._parameters_changed(changed)
        return self

    def _parameters_changed(self, changed):
        """Make the layers follow the constructor parameters named in ``changed``.

        Layers keep their weights unless a parameter that shapes them
        changed; subclasses also update what holds no weights (a loss).
        """
        if changed & set(self._layer_parameters) or not self._modules_built:
            self._build_initial_modules()

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
        input_key = self._engine_option("input_key")
        if not (
            input_key is None
            or isinstance(input_key, str)
            or (isinstance(input_key, tuple) and all(isinstance(k, str) for k in input_key))
        ):
            raise TypeError(
                f"input_key must be a string, a tuple of strings or None, got {input_key!r}."
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

    def _build_initial_modules(self):
        """Build the estimator's own layers, where the parameters are valid.

        Invalid parameters leave the layers unbuilt: as in scikit-learn, they
        are reported by ``fit`` (or by a Trainer, in ``configure_model``),
        not by the constructor or ``set_params``.
        """
        if not self._layers_from_parameters:
            self._modules_built = False
            return
        try:
            self._check_params()
        except (TypeError, ValueError):
            self._modules_built = False
            return
        self._build_modules()
        self._modules_built = True

    def configure_model(self):
        # Lightning calls this hook before training: parameters that could
        # not build the layers at construction are reported here.
        if not self._modules_built:
            self._check_params()
            self._build_modules()
            self._modules_built = True

    def _adopt_training_data(self, batch):
        """Fitted attributes from the first batch of a fit run by a Trainer.

        ``fit`` checks the data before training; a model trained by the
        user's own ``Trainer.fit`` is checked on its first batch, which sets
        ``n_features_in_`` and ``sample_shape_`` likewise, and the user's
        modules are recorded in their state before training, the state a
        later ``fit`` starts from.
        """
        check_input(self, self._batch_input(batch).detach().cpu(), reset=True)
        self._n_train_samples = n_samples(self.trainer.train_dataloader)
        self._record_initial_modules()

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    @fill_method_docs
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
        %(ckpt_path)s

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
            # The data is checked here already: the Trainer's first batch
            # need not be (see _adopt_training_data). Arrays and tensors are
            # checked in full; the batches of a Dataset or DataLoader are
            # checked as training reads them (see _check_batch).
            self._data_checked_by_fit = {
                "train": isinstance(X, torch.Tensor),
                "validation": isinstance(val_dataloader, torch.Tensor),
            }
            # Lightning's advice on loader workers is noise for the loaders
            # nidl slices from memory, and kept for any other.
            self._in_memory_loaders = tuple(
                name
                for name, loader in (("train_dataloader", train_loader), ("val_dataloader", val_loader))
                if in_memory_loader(loader)
            )
            self._training_record = None
            try:
                with seeded(self.random_state), quiet_lightning(self._in_memory_loaders):
                    trainer.fit(self, train_loader, val_loader, ckpt_path=ckpt_path)
            finally:
                del self._data_checked_by_fit, self._in_memory_loaders
            if self._training_record is None:
                raise RuntimeError(
                    f"the Trainer stopped before the end of training; {type(self).__name__} "
                    "is left as it was before fit."
                )
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
        return check_targets(y, len(X))

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
        recorded, snapshots = getattr(self, "_initial_modules", ({}, {}))
        unchanged = {
            name: module
            for name in self._user_modules
            if recorded.get(name) is (module := getattr(self, name))
        }
        _restore(unchanged, {name: snapshots[name] for name in unchanged})
        self._record_initial_modules()
        self._build_modules()
        self._modules_built = True

    def _record_initial_modules(self):
        """Record the state of the user's modules not recorded yet (or replaced)."""
        recorded, snapshots = getattr(self, "_initial_modules", ({}, {}))
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
