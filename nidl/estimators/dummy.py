"""A dummy embedding estimator, a baseline for probes and for tests."""

import numbers

import numpy as np
import sklearn.base
import torch
from sklearn.utils import check_scalar

from .._docstrings import fill_doc
from ..utils import check_input
from .base import BaseEstimator, TransformerMixin

__all__ = ["DummyEmbeddingEstimator"]

_STRATEGIES = ("identity", "normal", "uniform", "constant")


@fill_doc
class DummyEmbeddingEstimator(TransformerMixin, BaseEstimator):
    """Embedding that learns nothing: the input itself, noise or a constant.

    A baseline for probing (see :class:`nidl.estimators.probes.ModelProbing`):
    a probe on a trained embedding should do better than on these. It needs
    no training: ``transform`` works on a new estimator, and ``fit`` only
    checks its parameters and records the shape of the data, which later
    calls to ``transform`` must then have.

    Parameters
    ----------
    strategy : {"normal", "uniform", "identity", "constant"}, default="normal"
        What ``transform`` returns per sample: ``n_features`` draws of a
        standard Normal (``"normal"``) or of the uniform law on [0, 1)
        (``"uniform"``), the input flattened (``"identity"``), or
        ``n_features`` copies of ``constant`` (``"constant"``).
    n_features : int, default=10
        Number of features per sample, except with ``"identity"``.
    random_state : int, default=None
        Seed of the draws of ``"normal"`` and ``"uniform"``: every call to
        ``transform`` with the same seed and data gives the same values, and
        every sample its own. None draws from torch's global generator.
    constant : float, default=None
        The value of ``"constant"``, which requires it.
    %(batch_size)s
    %(trainer_kwargs)s

    Attributes
    ----------
    n_features_in_ : int
        Size of the second axis of the data given to ``fit``; only after
        ``fit``.
    sample_shape_ : tuple of int
        Shape of one sample of the data given to ``fit``; only after ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.estimators.dummy import DummyEmbeddingEstimator
    >>> X = np.ones((4, 2, 3), dtype=np.float32)
    >>> DummyEmbeddingEstimator(strategy="identity").transform(X).shape
    (4, 6)
    >>> Z = DummyEmbeddingEstimator(n_features=5, random_state=0).transform(X)
    >>> Z.shape, bool((Z[0] != Z[1]).any())
    ((4, 5), True)
    """

    def __init__(
        self, strategy="normal", n_features=10, random_state=None, constant=None,
        batch_size=128, **kwargs,
    ):
        super().__init__(**kwargs)
        self.strategy = strategy
        self.n_features = n_features
        self.random_state = random_state
        self.constant = constant
        self.batch_size = batch_size

    def __sklearn_is_fitted__(self):
        # Nothing to learn: usable as it is.
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags

    def _non_deterministic(self):
        return self.strategy in ("normal", "uniform") and self.random_state is None

    def _check_params(self):
        super()._check_params()
        if self.strategy not in _STRATEGIES:
            raise ValueError(
                f"strategy must be one of {', '.join(map(repr, _STRATEGIES))}, "
                f"got {self.strategy!r}."
            )
        if self.strategy != "identity":
            check_scalar(self.n_features, "n_features", numbers.Integral, min_val=1)
        if self.strategy == "constant" and (
            isinstance(self.constant, bool)
            or not isinstance(self.constant, numbers.Real)
        ):
            raise ValueError(
                "strategy='constant' needs constant, a real number; got "
                f"{self.constant!r}."
            )

    def fit(self, X, y=None):
        """Check the parameters and record the shape of the data; no training.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Data of shape (n_samples, ...); for a Dataset or DataLoader, its
            first batch is checked.
        y : object, default=None
            Ignored.

        Returns
        -------
        self : DummyEmbeddingEstimator
            This estimator.
        """
        self._check_params()
        check_input(self, X, reset=True)
        return self

    def _n_outputs(self):
        if self.strategy == "identity":
            return int(np.prod(self.sample_shape_))
        return self.n_features

    def _unfitted_copy(self, X):
        """A copy fitted on ``X`` when this estimator saw no data, else None."""
        if hasattr(self, "sample_shape_"):
            self._check_params()
            return None
        return sklearn.base.clone(self).fit(X)

    @fill_doc
    def transform(self, X):
        """Embed ``X`` following ``strategy``.

        The draws are seeded once per call with ``random_state``.

        Parameters
        ----------
        %(X)s

        Returns
        -------
        X_new : numpy.ndarray or torch.Tensor, shape (n_samples, n_outputs)
            A NumPy array for array-like input, otherwise a CPU tensor.
        """
        fitted = self._unfitted_copy(X)
        if fitted is not None:
            return fitted.transform(X)
        return super().transform(X)

    def transform_with_targets(self, X, y=None):
        """Embed ``X`` and return its targets with it, row for row.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            The data; a Dataset or DataLoader gives ``(x, y, ...)`` items.
        y : array-like or torch.Tensor, default=None
            Targets of array or tensor input.

        Returns
        -------
        features : numpy.ndarray or torch.Tensor, shape (n_samples, n_outputs)
            As :meth:`transform` returns them.
        targets : numpy.ndarray or torch.Tensor, shape (n_samples, ...)
            The targets, in the same order.

        Examples
        --------
        >>> import numpy as np
        >>> from nidl.estimators.dummy import DummyEmbeddingEstimator
        >>> X, y = np.zeros((3, 2), dtype=np.float32), np.array([0, 1, 1])
        >>> Z, t = DummyEmbeddingEstimator("constant", n_features=1,
        ...                                constant=2.0).transform_with_targets(X, y)
        >>> Z.ravel().tolist(), t.tolist()
        ([2.0, 2.0, 2.0], [0, 1, 1])
        """
        fitted = self._unfitted_copy(X)
        if fitted is not None:
            return fitted.transform_with_targets(X, y)
        return super().transform_with_targets(X, y)

    @fill_doc
    def transform_step(self, batch, batch_idx, dataloader_idx=0):
        """Embed one batch following ``strategy``.

        %(step_parameters)s

        Returns
        -------
        X_new : torch.Tensor, shape (batch_size, n_outputs)
        """
        x = self._batch_input(batch)
        n = len(x)
        if self.strategy == "identity":
            return x.reshape(n, -1).float()
        shape = (n, self.n_features)
        if self.strategy == "normal":
            return torch.randn(shape, device=x.device)
        if self.strategy == "uniform":
            return torch.rand(shape, device=x.device)
        return torch.full(shape, float(self.constant), device=x.device)
