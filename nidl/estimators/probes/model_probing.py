"""Probing a fitted embedding with a scikit-learn model."""

import warnings

import numpy as np
import sklearn.base
import torch
from sklearn.metrics import check_scoring
from sklearn.utils.validation import check_is_fitted

from ...utils._data import is_dataset, is_loader
from .._training import TRAINER_ARGUMENTS
from ..base import BaseEstimator as NidlEstimator

__all__ = ["ModelProbing"]


def _data_argument(X, loader, name):
    """``X``, or the loader passed under upstream nidl's keyword ``name``."""
    if loader is None:
        if X is None:
            raise TypeError(f"ModelProbing needs data: pass X (or {name}).")
        return X
    if X is not None:
        raise TypeError(f"pass the data once, as X or as {name}, not both.")
    return loader


def _check_probe(probe):
    """Refuse a probe that is not a scikit-learn estimator with ``fit``."""
    if not isinstance(probe, sklearn.base.BaseEstimator) or not hasattr(probe, "fit"):
        raise TypeError(
            "probe must be a scikit-learn estimator "
            f"(sklearn.base.BaseEstimator), got {type(probe).__name__}."
        )


def _numpy(values):
    """Features or targets as a NumPy array."""
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


class ModelProbing(sklearn.base.MetaEstimatorMixin, sklearn.base.BaseEstimator):
    """A scikit-learn probe fitted on the embeddings of a nidl estimator.

    Linear probing measures what an embedding holds: the data goes through
    the ``transform`` of a fitted nidl estimator and a (usually simple)
    scikit-learn model, the probe, learns the targets from the embeddings.
    The embedding estimator is used as it is, never trained here; the probe
    is cloned and the clone fitted, ``probe_``.

    ``fit``, ``predict`` and ``score`` take arrays or tensors with their
    targets ``y``, or a Dataset or DataLoader of ``(x, y)`` items, whose
    targets are used.

    Parameters
    ----------
    embedding_estimator : nidl.estimators.BaseEstimator
        A fitted nidl transformer, such as a self-supervised model, or a
        :class:`nidl.estimators.dummy.DummyEmbeddingEstimator` as a
        baseline.
    probe : sklearn.base.BaseEstimator
        The scikit-learn estimator fitted on the embeddings, such as
        ``sklearn.linear_model.LogisticRegression``.
    scoring : str, callable, list, tuple, dict or None, default=None
        What :meth:`score` computes, as scikit-learn's ``scoring``
        parameter: None for the probe's own ``score``; a metric name or a
        scorer ``scorer(estimator, X, y)`` for one value; a list, tuple or
        dict of them for a dict of values.
    **kwargs
        Options of ``pytorch_lightning.Trainer``, accepted for compatibility
        with upstream nidl's signature and, as there, ignored: ``fit``
        warns that the embedding runs with the embedding estimator's own
        Trainer options. A name that is not a Trainer option is refused by
        ``fit`` with a TypeError.

    Attributes
    ----------
    probe_ : sklearn.base.BaseEstimator
        The fitted clone of ``probe``.
    fitted_ : bool
        True once fitted.
    n_features_in_ : int
        Number of embedding features the probe was fitted on.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from nidl.estimators.dummy import DummyEmbeddingEstimator
    >>> from nidl.estimators.probes import ModelProbing
    >>> X = np.array([[-1.0], [1.0]] * 10, dtype=np.float32)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> probing = ModelProbing(DummyEmbeddingEstimator(strategy="identity"),
    ...                        LogisticRegression()).fit(X, y)
    >>> probing.score(X, y)
    1.0
    >>> probing.score(X, y, scoring=["accuracy", "f1"])
    {'accuracy': 1.0, 'f1': 1.0}
    """

    def __init__(self, embedding_estimator, probe, scoring=None, **kwargs):
        self.embedding_estimator = embedding_estimator
        self.probe = probe
        self.scoring = scoring
        self._extra_kwargs = dict(kwargs)

    def get_params(self, deep=True):
        """Get the parameters of this estimator.

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of the embedding estimator and probe.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        params = super().get_params(deep=deep)
        params.update(self._extra_kwargs)
        return params

    def _check_parts(self):
        """Check the parameters before any work."""
        unknown = sorted(set(self._extra_kwargs) - TRAINER_ARGUMENTS)
        if unknown:
            raise TypeError(
                f"ModelProbing got the keyword arguments {unknown}, which are "
                "neither its parameters nor options of pytorch_lightning.Trainer; "
                "check their spelling."
            )
        if self._extra_kwargs:
            # Upstream nidl accepts them too, and ignores them as well.
            warnings.warn(
                f"ModelProbing ignores the Trainer options "
                f"{sorted(self._extra_kwargs)}: the embedding runs with the "
                "embedding estimator's own options; set them there.",
                UserWarning,
                stacklevel=3,
            )
        if not isinstance(self.embedding_estimator, NidlEstimator):
            raise TypeError(
                "embedding_estimator must be a nidl estimator "
                "(nidl.estimators.BaseEstimator), got "
                f"{type(self.embedding_estimator).__name__}."
            )
        if not hasattr(self.embedding_estimator, "transform"):
            raise TypeError(
                "embedding_estimator must be a transformer, with transform; "
                f"{type(self.embedding_estimator).__name__} has none."
            )
        _check_probe(self.probe)
        check_is_fitted(
            self.embedding_estimator,
            msg=(
                "The embedding estimator %(name)s is not fitted; fit it before "
                "probing it."
            ),
        )

    def _embed(self, X, y):
        """Embeddings and targets of ``X`` as NumPy arrays."""
        if is_loader(X) or is_dataset(X):
            if y is not None and not (is_loader(y) or is_dataset(y)):
                raise ValueError(
                    "y is given, but the Dataset or DataLoader carries its own "
                    "targets in its (x, y) batches; pass y only with arrays."
                )
            y = None
        features, targets = self.embedding_estimator.transform_with_targets(X, y)
        return _numpy(features), _numpy(targets)

    def fit(self, X=None, y=None, *, train_dataloader=None, val_dataloader=None):
        """Embed ``X`` and fit a clone of the probe on the embeddings.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Training data; a Dataset or DataLoader gives ``(x, y, ...)``
            items.
        y : array-like, torch.Tensor, DataLoader or None, default=None
            Targets of array or tensor input. A DataLoader or Dataset here
            (upstream's validation loader) is ignored.
        train_dataloader : DataLoader, default=None
            The training data under upstream nidl's keyword, in place of
            ``X``.
        val_dataloader : DataLoader, default=None
            Ignored, as upstream nidl ignores it: the probe has no
            validation.

        Returns
        -------
        self : ModelProbing
            The fitted estimator.
        """
        X = _data_argument(X, train_dataloader, "train_dataloader")
        self._check_parts()
        features, targets = self._embed(X, y)
        probe = sklearn.base.clone(self.probe)
        probe.fit(features, targets)
        self.probe_ = probe
        self.n_features_in_ = features.shape[1]
        self.fitted_ = True
        return self

    def __sklearn_is_fitted__(self):
        return hasattr(self, "probe_")

    def predict(self, X=None, *, test_dataloader=None):
        """Predict with the probe on the embeddings of ``X``.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Data shaped like the training data.
        test_dataloader : DataLoader, default=None
            The data under upstream nidl's keyword, in place of ``X``.

        Returns
        -------
        y_pred : numpy.ndarray, shape (n_samples, ...)
            The probe's predictions.
        """
        X = _data_argument(X, test_dataloader, "test_dataloader")
        check_is_fitted(self)
        return self.probe_.predict(_numpy(self.embedding_estimator.transform(X)))

    def score(self, X=None, y=None, scoring=None, *, test_dataloader=None):
        """Score the probe on the embeddings of ``X``.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Data; a Dataset or DataLoader gives ``(x, y, ...)`` items.
        y : array-like, torch.Tensor or None, default=None
            Targets of array or tensor input.
        scoring : str, callable, list, tuple, dict or None, default=None
            Overrides the ``scoring`` parameter for this call.
        test_dataloader : DataLoader, default=None
            The data under upstream nidl's keyword, in place of ``X``.

        Returns
        -------
        score : float or dict of str to float
            One value for a single metric (the probe's ``score`` when both
            ``scoring`` are None), a dict for several.
        """
        X = _data_argument(X, test_dataloader, "test_dataloader")
        check_is_fitted(self)
        scoring = self.scoring if scoring is None else scoring
        features, targets = self._embed(X, y)
        scorer = check_scoring(self.probe_, scoring=scoring)
        result = scorer(self.probe_, features, targets)
        if isinstance(result, dict):
            return {name: float(value) for name, value in result.items()}
        return float(result)
