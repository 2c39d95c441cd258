"""Cross-validated probing of an embedding while it trains."""

from sklearn.model_selection import cross_validate

from ..estimators import BaseEstimator
from .model_probing import (
    _adapt_loader,
    _estimator_is,
    _is_number,
    _ProbingCallback,
)

__all__ = ["ModelProbingCVCallback"]


class ModelProbingCVCallback(_ProbingCallback):
    """Cross-validate a scikit-learn probe on the embedding of a nidl model.

    At the hooks the flags choose, the module being trained (a nidl
    transformer) embeds the ``(x, y, ...)`` batches of one loader, in
    evaluation mode and without gradients, and scikit-learn's
    ``cross_validate`` fits and scores clones of ``probe`` on the folds of
    these embeddings. Every result, ``fit_time``, ``score_time`` and
    ``test_score`` (or ``test_<name>`` per metric of a multi-metric
    ``scoring``), is logged per fold with ``pl_module.log`` (``on_epoch``,
    ``sync_dist=True``) as ``"fold<i>/<prefix_score><key>"``.

    Under a distributed strategy, each process embeds its share of the
    loader (see :meth:`adapt_dataloader_for_ddp`) and the rows are
    all-gathered; the cross-validation runs on rank 0 and its results are
    broadcast. On one process the loader is used as it is.

    Parameters
    ----------
    dataloader : torch.utils.data.DataLoader
        Loader of ``(x, y, ...)`` batches to cross-validate on.
    probe : sklearn.base.BaseEstimator
        The scikit-learn model fitted on the embeddings.
    scoring : str, callable, list, tuple, dict or None, default=None
        As the ``scoring`` of ``sklearn.model_selection.cross_validate``.
    cv : int, cross-validation generator, iterable or None, default=None
        As the ``cv`` of ``cross_validate``: None for 5 folds.
    n_jobs : int or None, default=None
        Number of jobs of ``cross_validate``.
    every_n_train_epochs : int or None, default=1
        Probe at the end of every n-th training epoch, the first included;
        None never.
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
        Prefix of the result keys in the logged names.

    Attributes
    ----------
    counter_val_epochs : int
        Number of validations seen, the sanity check aside.

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> from sklearn.linear_model import LogisticRegression
    >>> from nidl.callbacks.model_probing_cv import ModelProbingCVCallback
    >>> loader = DataLoader(TensorDataset(torch.randn(12, 2), torch.arange(12) % 2))
    >>> callback = ModelProbingCVCallback(loader, LogisticRegression(), cv=3,
    ...                                   prefix_score="lin_")
    >>> callback.cv, callback.prefix_score
    (3, 'lin_')
    """

    def __init__(
        self, dataloader, probe, scoring=None, cv=None, n_jobs=None,
        every_n_train_epochs=1, every_n_val_epochs=None, on_test_epoch_start=False,
        on_test_epoch_end=False, on_train_start=False, prog_bar=True,
        prefix_score="",
    ):
        super().__init__(
            probe, scoring, every_n_train_epochs, every_n_val_epochs,
            on_test_epoch_start, on_test_epoch_end, on_train_start, prog_bar,
            prefix_score,
        )
        if dataloader is None:
            raise ValueError("ModelProbingCVCallback needs a dataloader.")
        self.dataloader = dataloader
        self.cv = cv
        self.n_jobs = n_jobs

    @staticmethod
    def adapt_dataloader_for_ddp(dataloader, trainer):
        """The loader to embed on this process.

        Parameters
        ----------
        dataloader : torch.utils.data.DataLoader
            The loader given to the callback.
        trainer : pytorch_lightning.Trainer
            The running Trainer.

        Returns
        -------
        dataloader : torch.utils.data.DataLoader
            ``dataloader`` itself on one process; with several, a loader
            with the same settings over this rank's share of the dataset (a
            ``DistributedSampler`` without shuffling).
        """
        return _adapt_loader(dataloader, trainer)

    def cross_validate(self, X, y):
        """Cross-validate clones of the probe on embeddings.

        Parameters
        ----------
        X : numpy.ndarray, shape (n_samples, n_features)
            Embeddings.
        y : numpy.ndarray, shape (n_samples,) or (n_samples, ...)
            Targets.

        Returns
        -------
        results : dict of numpy.ndarray
            What ``sklearn.model_selection.cross_validate`` returns, one
            value per fold under each key.
        """
        return cross_validate(
            self.probe, X, y, scoring=self.scoring, cv=self.cv, n_jobs=self.n_jobs,
            return_train_score=False, return_estimator=False, return_indices=False,
        )

    def probing(self, trainer, pl_module):
        """Embed the loader, cross-validate the probe and log the results.

        Parameters
        ----------
        trainer : pytorch_lightning.Trainer
            The running Trainer.
        pl_module : nidl.estimators.BaseEstimator
            The nidl transformer being trained.

        Returns
        -------
        results : dict of numpy.ndarray
            The cross-validation results logged.
        """
        self._check_module(pl_module, BaseEstimator, _estimator_is)
        X, y = self.check_array(
            *self.extract_features(trainer, pl_module, self.dataloader)
        )
        results = self._on_rank_zero(trainer, self.cross_validate, X, y)
        for key, values in results.items():
            for fold, value in enumerate(values):
                if not _is_number(value):
                    raise TypeError(
                        f"the cross-validation result {key!r} is a "
                        f"{type(value).__name__}; only numbers can be logged."
                    )
                name = f"fold{fold}/{self.prefix_score}{key}"
                self._log(trainer, pl_module, name, value)
        return results
