"""Probing an embedding with a scikit-learn model while it trains."""

import numbers

import numpy as np
import sklearn.base
import torch
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities import move_data_to_device
from sklearn.metrics import check_scoring
from sklearn.utils import check_array
from torch.utils.data import DataLoader, DistributedSampler

from ..estimators import BaseEstimator, TransformerMixin
from ..estimators.probes.model_probing import _check_probe

__all__ = ["ModelProbingCallback"]


def _check_frequency(value, name):
    """``value`` if None or a positive integer, else a ValueError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be None or a positive integer, got {value!r}.")
    return int(value)


def _world_size(trainer):
    """Number of processes of ``trainer``; 1 for None or a stand-in without it."""
    return getattr(trainer, "world_size", 1)


def _adapt_loader(dataloader, trainer):
    """The loader itself on one process, else one over this rank's share."""
    world_size = _world_size(trainer)
    if world_size <= 1:
        return dataloader
    sampler = DistributedSampler(
        dataloader.dataset,
        num_replicas=world_size,
        rank=trainer.global_rank,
        shuffle=False,
    )
    return DataLoader(
        dataloader.dataset,
        batch_size=dataloader.batch_size,
        sampler=sampler,
        num_workers=dataloader.num_workers,
        collate_fn=dataloader.collate_fn,
        pin_memory=dataloader.pin_memory,
        drop_last=False,
        timeout=dataloader.timeout,
        worker_init_fn=dataloader.worker_init_fn,
        persistent_workers=dataloader.persistent_workers,
    )


def _gather_in_order(values, pl_module, n_samples):
    """All ranks' rows of a ``DistributedSampler`` loader, in dataset order."""
    gathered = pl_module.all_gather(values.to(pl_module.device)).cpu()
    # Rank r holds samples r, r + world size, ...: interleave, drop padding.
    rows = gathered.transpose(0, 1).reshape(-1, *values.shape[1:])
    return rows[:n_samples]


#: The mixin of each kind of nidl estimator.
_KINDS = {"transformer": TransformerMixin}


def _estimator_is(module, kind):
    """Whether ``module`` is a nidl estimator of ``kind`` (``"transformer"``)."""
    return isinstance(module, _KINDS[kind])


class _ProbingCallback(Callback):
    """Shared scheduling, embedding and logging of the probing callbacks."""

    def __init__(
        self, probe, scoring, every_n_train_epochs, every_n_val_epochs,
        on_test_epoch_start, on_test_epoch_end, on_train_start, prog_bar,
        prefix_score,
    ):
        super().__init__()
        _check_probe(probe)
        self.probe = probe
        self.scoring = scoring
        self.every_n_train_epochs = _check_frequency(
            every_n_train_epochs, "every_n_train_epochs"
        )
        self.every_n_val_epochs = _check_frequency(
            every_n_val_epochs, "every_n_val_epochs"
        )
        self._on_test_epoch_start = bool(on_test_epoch_start)
        self._on_test_epoch_end = bool(on_test_epoch_end)
        self._on_train_start = bool(on_train_start)
        self.prog_bar = prog_bar
        self.prefix_score = prefix_score
        self.counter_val_epochs = 0

    # ------------------------------------------------------------------
    # Embedding
    # ------------------------------------------------------------------
    @staticmethod
    def _check_module(pl_module, base=None, is_kind=None):
        # ``base`` and ``is_kind`` default to this module's BaseEstimator and
        # _estimator_is; each callback's module passes its own, which tests
        # of upstream nidl patch there.
        base = BaseEstimator if base is None else base
        is_kind = _estimator_is if is_kind is None else is_kind
        if not isinstance(pl_module, base) or not is_kind(pl_module, "transformer"):
            # A ValueError, as upstream nidl raises here.
            raise ValueError(
                "model probing needs a nidl transformer (a "
                "nidl.estimators.BaseEstimator with TransformerMixin, whose "
                "transform_step gives the embedding); got "
                f"{type(pl_module).__name__}."
            )

    def extract_features(self, trainer, pl_module, dataloader):
        """Embed the ``(x, y, ...)`` batches of a loader, keeping the targets.

        The module runs in evaluation mode and without gradients; the
        training mode of each of its submodules is restored afterwards.

        Parameters
        ----------
        trainer : pytorch_lightning.Trainer or None
            The running Trainer; with several processes, each embeds its
            share of the data and all get all the rows. None embeds the
            whole loader in this process.
        pl_module : nidl.estimators.BaseEstimator
            A nidl transformer.
        dataloader : torch.utils.data.DataLoader
            Loader of ``(x, y, ...)`` batches.

        Returns
        -------
        features : torch.Tensor, shape (n_samples, n_features)
        targets : torch.Tensor, shape (n_samples, ...)
        """
        world_size = _world_size(trainer)
        loader = _adapt_loader(dataloader, trainer)
        modes = [(module, module.training) for module in pl_module.modules()]
        pl_module.eval()
        features, targets = [], []
        try:
            with torch.no_grad():
                for batch_idx, batch in enumerate(loader):
                    batch = move_data_to_device(batch, pl_module.device)
                    outputs = pl_module.transform_step_with_targets(batch, batch_idx)
                    features.append(outputs["features"].detach().cpu())
                    targets.append(outputs["targets"].detach().cpu())
        finally:
            for module, training in modes:
                module.training = training
        if not features:
            raise ValueError("model probing got an empty loader.")
        features, targets = torch.cat(features), torch.cat(targets)
        if world_size > 1:
            n_samples = len(dataloader.dataset)
            features = _gather_in_order(features, pl_module, n_samples)
            targets = _gather_in_order(targets, pl_module, n_samples)
        return features, targets

    def check_array(self, X, y):
        """Check embeddings and targets as scikit-learn does.

        Parameters
        ----------
        X : torch.Tensor or array-like, shape (n_samples, n_features)
            Embeddings.
        y : torch.Tensor or array-like, shape (n_samples,) or (n_samples, ...)
            Targets.

        Returns
        -------
        X : numpy.ndarray, shape (n_samples, n_features)
        y : numpy.ndarray
        """
        if isinstance(X, torch.Tensor):
            X = X.numpy()
        if isinstance(y, torch.Tensor):
            y = y.numpy()
        try:
            X = check_array(X)
            y = check_array(y, ensure_2d=False, dtype=None)
        except ValueError as error:
            raise ValueError(
                f"the embeddings or targets cannot be probed: {error}"
            ) from error
        if len(X) != len(y):
            raise ValueError(
                f"got {len(X)} embeddings but {len(y)} targets; the loader "
                "must give one target per sample."
            )
        return X, y

    def _log(self, trainer, pl_module, name, value):
        pl_module.log(
            name, float(value), on_step=False, on_epoch=True, prog_bar=self.prog_bar,
            sync_dist=True, batch_size=1,
        )

    @staticmethod
    def _on_rank_zero(trainer, function, *args):
        """``function(*args)``, run on rank 0 only and broadcast to the others."""
        world_size = _world_size(trainer)
        result = None
        if world_size <= 1 or trainer.global_rank == 0:
            result = function(*args)
        if world_size > 1:
            result = trainer.strategy.broadcast(result, src=0)
        return result

    def probing(self, trainer, pl_module):
        """Probe the embedding and log the scores; subclasses implement it."""
        raise NotImplementedError

    # ------------------------------------------------------------------
    # Hooks
    # ------------------------------------------------------------------
    def on_train_start(self, trainer, pl_module):
        """Probe before training if ``on_train_start``."""
        if self._on_train_start:
            self.probing(trainer, pl_module)

    def on_train_epoch_end(self, trainer, pl_module):
        """Probe every ``every_n_train_epochs`` epochs, the first included."""
        n = self.every_n_train_epochs
        if n is not None and trainer.current_epoch % n == 0:
            self.probing(trainer, pl_module)

    def on_validation_epoch_end(self, trainer, pl_module):
        """Probe every ``every_n_val_epochs`` validations, sanity check aside."""
        # A stand-in trainer without the attribute is not sanity checking.
        if self.every_n_val_epochs is None or getattr(
            trainer, "sanity_checking", False
        ):
            return
        counter = self.counter_val_epochs
        self.counter_val_epochs += 1
        if counter % self.every_n_val_epochs == 0:
            self.probing(trainer, pl_module)

    def on_test_epoch_start(self, trainer, pl_module):
        """Probe at the start of testing if ``on_test_epoch_start``."""
        if self._on_test_epoch_start:
            self.probing(trainer, pl_module)

    def on_test_epoch_end(self, trainer, pl_module):
        """Probe at the end of testing if ``on_test_epoch_end``."""
        if self._on_test_epoch_end:
            self.probing(trainer, pl_module)

    def state_dict(self):
        """The validation counter, saved in checkpoints."""
        return {"counter_val_epochs": self.counter_val_epochs}

    def load_state_dict(self, state_dict):
        """Restore the validation counter of a checkpoint."""
        # Checkpoints written before the counter's rename hold the old key.
        self.counter_val_epochs = state_dict.get(
            "counter_val_epochs", state_dict.get("val_epoch_counter", 0)
        )


class ModelProbingCallback(_ProbingCallback):
    """Score a scikit-learn probe on the embedding of a nidl model as it trains.

    At the hooks the flags choose, the module being trained (a nidl
    transformer) embeds the ``(x, y, ...)`` batches of a training and a test
    loader, in evaluation mode and without gradients; a clone of ``probe``
    is fitted on the training embeddings and scored on the test ones. The
    score is logged with ``pl_module.log`` (``on_epoch``,
    ``sync_dist=True``) as ``"<prefix_score>test_score"``, or, for several
    metrics, as ``"<prefix_score>test_<name>"`` per metric, so it shows in
    ``trainer.callback_metrics`` and in the Trainer's logger.

    Under a distributed strategy, each process embeds its share of each
    loader (a ``DistributedSampler`` without shuffling) and the rows are
    all-gathered; the probe is fitted and scored on rank 0 and the scores
    broadcast. On one process the loaders are used as they are.

    Parameters
    ----------
    probe : sklearn.base.BaseEstimator
        The scikit-learn model fitted on the embeddings, such as
        ``sklearn.linear_model.LogisticRegression``; it is cloned at each
        probing.
    train_dataloader : torch.utils.data.DataLoader, default=None
        Loader of ``(x, y, ...)`` batches the probe is fitted on.
    test_dataloader : torch.utils.data.DataLoader, default=None
        Loader of ``(x, y, ...)`` batches the probe is scored on.
    datamodule : pytorch_lightning.LightningDataModule, default=None
        Gives the loaders not passed above, from its ``train_dataloader``
        and ``test_dataloader`` after ``setup("fit")`` and ``setup("test")``.
    scoring : str, callable, list, tuple, dict or None, default=None
        As scikit-learn's ``scoring``: None for the probe's ``score``, a
        metric name or a scorer for one value, a list, tuple or dict of them
        for several.
    every_n_train_epochs : int or None, default=1
        Probe at the end of every n-th training epoch, the first included
        (epochs 0, n, 2n, ...); None never.
    every_n_val_epochs : int or None, default=None
        Probe at the end of every n-th validation, the first included; the
        sanity-check validation before training neither probes nor counts.
    on_test_epoch_start : bool, default=False
        Probe at the start of testing.
    on_test_epoch_end : bool, default=False
        Probe at the end of testing.
    on_train_start : bool, default=False
        Probe before the first training epoch.
    prog_bar : bool, default=True
        Show the scores in the progress bar.
    prefix_score : str, default=""
        Prefix of the logged names.

    Attributes
    ----------
    scorers : callable
        The scorer built from ``probe`` and ``scoring`` by
        ``sklearn.metrics.check_scoring``.
    counter_val_epochs : int
        Number of validations seen, the sanity check aside.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from nidl.callbacks.model_probing import ModelProbingCallback
    >>> callback = ModelProbingCallback(LogisticRegression(), scoring="accuracy",
    ...                                 every_n_train_epochs=2,
    ...                                 prefix_score="logreg_")
    >>> callback.every_n_train_epochs, callback.prefix_score
    (2, 'logreg_')
    """

    def __init__(
        self, probe, train_dataloader=None, test_dataloader=None, datamodule=None,
        scoring=None, every_n_train_epochs=1, every_n_val_epochs=None,
        on_test_epoch_start=False, on_test_epoch_end=False, on_train_start=False,
        prog_bar=True, prefix_score="",
    ):
        super().__init__(
            probe, scoring, every_n_train_epochs, every_n_val_epochs,
            on_test_epoch_start, on_test_epoch_end, on_train_start, prog_bar,
            prefix_score,
        )
        self.train_dataloader = train_dataloader
        self.test_dataloader = test_dataloader
        self.datamodule = datamodule
        self.scorers = check_scoring(probe, scoring)

    def setup(self, trainer, pl_module, stage):
        """Take the missing loaders from the datamodule, and check them."""
        if self.datamodule is not None:
            if self.train_dataloader is None:
                self.datamodule.setup("fit")
                self.train_dataloader = self.datamodule.train_dataloader()
            if self.test_dataloader is None:
                self.datamodule.setup("test")
                self.test_dataloader = self.datamodule.test_dataloader()
        self._check_loaders()

    def _check_loaders(self):
        for name in ("train_dataloader", "test_dataloader"):
            if getattr(self, name) is None:
                raise ValueError(
                    f"ModelProbingCallback has no {name}: pass it, or a "
                    "datamodule that gives it."
                )

    def fit_and_score(self, X_train, y_train, X_test, y_test):
        """Fit a clone of the probe on one set and score it on the other.

        Parameters
        ----------
        X_train, y_train : numpy.ndarray
            Embeddings and targets the probe is fitted on.
        X_test, y_test : numpy.ndarray
            Embeddings and targets the probe is scored on.

        Returns
        -------
        scores : float or dict
            What the scorer returns.
        """
        probe = sklearn.base.clone(self.probe).fit(X_train, y_train)
        return self.scorers(probe, X_test, y_test)

    def probing(self, trainer, pl_module):
        """Embed both loaders, fit and score the probe, and log the scores.

        Parameters
        ----------
        trainer : pytorch_lightning.Trainer
            The running Trainer.
        pl_module : nidl.estimators.BaseEstimator
            The nidl transformer being trained.

        Returns
        -------
        scores : float or dict
            The scores logged.
        """
        self._check_module(pl_module)
        self._check_loaders()
        X_train, y_train = self.check_array(
            *self.extract_features(trainer, pl_module, self.train_dataloader)
        )
        X_test, y_test = self.check_array(
            *self.extract_features(trainer, pl_module, self.test_dataloader)
        )
        scores = self._on_rank_zero(
            trainer, self.fit_and_score, X_train, y_train, X_test, y_test
        )
        for name, value in _named_scores(scores, self.prefix_score).items():
            self._log(trainer, pl_module, name, value)
        return scores


def _named_scores(scores, prefix):
    """Logged names of a score or of a dict of scores."""
    if isinstance(scores, dict):
        named = {}
        for name, value in scores.items():
            if not _is_number(value):
                raise TypeError(
                    f"the score {name!r} is a {type(value).__name__}; only "
                    "numbers can be logged."
                )
            named[f"{prefix}test_{name}"] = value
        return named
    if not _is_number(scores):
        raise TypeError(
            f"the scoring gave a {type(scores).__name__}; only a number or a "
            "dict of numbers can be logged."
        )
    return {f"{prefix}test_score": scores}


def _is_number(value):
    if isinstance(value, torch.Tensor):
        return value.numel() == 1
    if isinstance(value, np.ndarray):
        return value.size == 1 and np.issubdtype(value.dtype, np.number)
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
