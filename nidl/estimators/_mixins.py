"""Mixins that give nidl estimators their scikit-learn kind.

``TransformerMixin`` (``transform`` through ``transform_step``) and the
predictors (``predict`` through ``predict_step``): ``RegressorMixin``,
``ClassifierMixin`` and ``ClusterMixin``.
"""

import numpy as np
import sklearn.base
import torch
from sklearn.utils.validation import check_is_fitted

from .._docstrings import fill_doc
from ..utils import check_input, returns_numpy
from ..utils.validation import check_targets


class TransformerMixin(sklearn.base.TransformerMixin):
    """Mixin for nidl transformers: ``transform`` through ``transform_step``.

    ``transform`` returns one row per input sample, in input order: a NumPy
    array for array input, a CPU tensor for tensor, Dataset and DataLoader
    input. ``get_feature_names_out`` names the outputs after the class
    (``vae0``, ``vae1``, ...); the subclass says how many through
    ``_n_outputs()``.

    Examples
    --------
    A transformer that learns a linear projection by reconstruction:

    >>> import numpy as np, torch
    >>> from torch import nn
    >>> from nidl.estimators import BaseEstimator, TransformerMixin
    >>> class LinearAutoencoder(TransformerMixin, BaseEstimator):
    ...     def __init__(self, n_components=2, random_state=None, batch_size=32,
    ...                  **kwargs):
    ...         super().__init__(**kwargs)
    ...         self.n_components = n_components
    ...         self.random_state, self.batch_size = random_state, batch_size
    ...     def _n_outputs(self):
    ...         return self.down.out_features
    ...     def _build_modules(self, facts):
    ...         self.down = nn.Linear(self.n_features_in_, self.n_components)
    ...         self.up = nn.Linear(self.n_components, self.n_features_in_)
    ...     def training_step(self, batch, batch_idx):
    ...         return nn.functional.mse_loss(self.up(self.down(batch)), batch)
    ...     def transform_step(self, batch, batch_idx, dataloader_idx=0):
    ...         return self.down(batch)
    ...     def configure_optimizers(self):
    ...         return torch.optim.Adam(self.parameters(), lr=1e-2)
    >>> X = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
    >>> model = LinearAutoencoder(random_state=0, max_epochs=2,
    ...                           enable_progress_bar=False)
    >>> model.fit(X).transform(X).shape
    (64, 2)
    >>> model.get_feature_names_out()
    array(['linearautoencoder0', 'linearautoencoder1'], dtype=object)
    """

    # The kind under the name older scikit-learn code (and older nidl) reads.
    _estimator_type = "transformer"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Computation is in float32, whatever the input's precision.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    @fill_doc
    def transform(self, X):
        """Transform ``X`` with ``transform_step``, batch by batch.

        Parameters
        ----------
        %(X)s

        Returns
        -------
        X_new : numpy.ndarray or torch.Tensor, shape (n_samples, n_components)
            A NumPy array for array-like input, otherwise a CPU tensor.
        """
        return self._checked_predict(X, self.transform_step)

    def transform_step(self, batch, batch_idx, dataloader_idx=0):
        """Transform one batch; subclasses implement it."""
        raise NotImplementedError

    def _n_outputs(self):
        """Number of values ``transform`` gives per sample; subclasses say it."""
        raise NotImplementedError

    def get_feature_names_out(self, input_features=None):
        """Names of the outputs: the class name in lower case and an index.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Ignored, but checked against the features seen in ``fit``.

        Returns
        -------
        feature_names_out : numpy.ndarray of str objects
        """
        check_is_fitted(self)
        if input_features is not None:
            seen = getattr(self, "feature_names_in_", None)
            if len(input_features) != self.n_features_in_ or (
                seen is not None and list(input_features) != list(seen)
            ):
                raise ValueError(
                    "input_features is not equal to the features seen in fit; "
                    "pass them as they were, or None."
                )
        prefix = type(self).__name__.lower()
        names = [f"{prefix}{i}" for i in range(self._n_outputs())]
        return np.asarray(names, dtype=object)

    @fill_doc
    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        """``transform_step``: ``Trainer.predict`` gives the transformed batches.

        %(step_parameters)s

        Returns
        -------
        X_new : torch.Tensor
            What ``transform_step`` returns.
        """
        return self.transform_step(batch, batch_idx, dataloader_idx)

    def transform_step_with_targets(self, batch, batch_idx, dataloader_idx=0):
        """Transform one ``(x, y, ...)`` batch and keep its targets.

        Parameters
        ----------
        batch : tuple or list
            ``(x, y, ...)``; ``x`` is transformed, ``y`` is kept.
        batch_idx : int
            Index of the batch.
        dataloader_idx : int, default=0
            Index of the loader.

        Returns
        -------
        outputs : dict
            ``{"features": transform_step(x, batch_idx), "targets": y}``.
        """
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ValueError(
                "transform_with_targets needs batches of (x, y) with targets; "
                f"got batches of {type(batch).__name__}. Pass a Dataset or "
                "DataLoader giving (x, y), or transform_with_targets(X, y)."
            )
        targets = batch[1]
        if not isinstance(targets, torch.Tensor):
            targets = torch.as_tensor(targets)
        # transform_step gets the inputs alone, as a transform loader gives
        # them, and no loader index when there is one loader: a subclass's
        # transform_step(x, batch_idx) works as transform's does.
        args = (batch[0], batch_idx)
        if dataloader_idx:
            args += (dataloader_idx,)
        return {"features": self.transform_step(*args), "targets": targets}

    def transform_with_targets(self, X, y=None):
        """Transform ``X`` and return its targets with it, row for row.

        Useful for a probe (a linear model on the features) on data whose
        targets travel with the inputs, such as a DataLoader of ``(x, y)``
        batches: both come back in the same order, under a distributed
        strategy too.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Data shaped like the training data; a Dataset or DataLoader
            gives ``(x, y, ...)`` samples or batches.
        y : array-like or torch.Tensor, default=None
            Targets of array or tensor input, one per sample (a Dataset or
            DataLoader carries its own).

        Returns
        -------
        features : numpy.ndarray or torch.Tensor, shape (n_samples, n_components)
            As :meth:`transform` returns them.
        targets : numpy.ndarray or torch.Tensor, shape (n_samples, ...)
            The targets, in the same order and of the same kind.

        Examples
        --------
        >>> import torch
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> from nidl.estimators.autoencoders import VAE
        >>> X, y = torch.randn(10, 4), torch.arange(10)
        >>> vae = VAE(torch.nn.Linear(4, 8), torch.nn.Linear(2, 4), encoder_out_dim=8,
        ...           latent_dim=2, max_epochs=1, enable_progress_bar=False).fit(X)
        >>> features, targets = vae.transform_with_targets(
        ...     DataLoader(TensorDataset(X, y), batch_size=4))
        >>> features.shape, targets.tolist() == y.tolist()
        (torch.Size([10, 2]), True)
        """
        check_is_fitted(self)
        data = check_input(self, X, reset=False)
        if isinstance(data, torch.Tensor):
            if y is None:
                raise ValueError(
                    "transform_with_targets with array or tensor input needs y, "
                    "one target per sample; pass transform_with_targets(X, y)."
                )
            y = check_targets(y, len(data))
        elif y is not None:
            raise ValueError(
                "y is given, but the Dataset or DataLoader carries its own targets "
                "in its (x, y) batches; pass y only with array or tensor input."
            )
        outputs = self._predict(data, self.transform_step_with_targets, y=y)
        if returns_numpy(X):
            return outputs["features"].numpy(), outputs["targets"].numpy()
        return outputs["features"], outputs["targets"]


class _PredictMixin:
    @fill_doc
    def predict(self, X):
        """Predict with ``predict_step``, batch by batch.

        Parameters
        ----------
        %(X)s

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
    ...     def _build_modules(self, facts):
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
    >>> model = LinearRegressor(random_state=0, max_epochs=40,
    ...                         enable_progress_bar=False)
    >>> bool(model.fit(X, y).score(X, y) > 0.95)
    True
    """

    # The kind under the name older scikit-learn code (and older nidl) reads.
    _estimator_type = "regressor"


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
    ...     def _build_modules(self, facts):
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
    >>> model = LogisticClassifier(random_state=0, max_epochs=10,
    ...                            enable_progress_bar=False)
    >>> bool(model.fit(X, y).score(X, y) > 0.9)
    True
    """

    # The kind under the name older scikit-learn code (and older nidl) reads.
    _estimator_type = "classifier"


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

    # The kind under the name older scikit-learn code (and older nidl) reads.
    _estimator_type = "clusterer"
