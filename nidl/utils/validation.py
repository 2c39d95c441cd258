"""Input checks shared by every estimator, whatever the kind of input."""

import numpy as np
import torch
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from ._data import first_input, is_dataset, is_loader


def check_input(estimator, X, *, reset):
    """Check the data given to ``fit`` (``reset=True``) or ``transform``.

    The same rules apply to every kind of input: NumPy arrays and array-likes,
    tensors, and the first batch of a ``Dataset`` or ``DataLoader`` go through
    :func:`sklearn.utils.validation.validate_data`, which refuses empty,
    non-numeric, NaN or infinite data and sets (``reset=True``) or checks
    ``n_features_in_`` (and ``feature_names_in_`` for data frames). The
    shape of one sample is recorded as ``sample_shape_`` and checked
    likewise, so a sample of the wrong number of dimensions is refused.

    Parameters
    ----------
    estimator : nidl.estimators.base.BaseEstimator
        The estimator whose fitted attributes are set or checked.
    X : array-like, torch.Tensor, Dataset or DataLoader
        The data.
    reset : bool
        Whether this is a ``fit`` (set the attributes) or not (check them).

    Returns
    -------
    X : torch.Tensor, Dataset or DataLoader
        Arrays and tensors as one contiguous float32 CPU tensor; datasets and
        loaders as they were given.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from nidl.utils import check_input
    >>> estimator = BaseEstimator()
    >>> check_input(estimator, np.ones((5, 3)), reset=True).dtype
    torch.float32
    >>> estimator.n_features_in_, estimator.sample_shape_
    (3, (3,))
    >>> check_input(estimator, np.ones((2, 4)), reset=False)
    Traceback (most recent call last):
    ...
    ValueError: X has 4 features, but BaseEstimator is expecting 3 features as input.
    """
    return check_input_and_samples(estimator, X, reset=reset)[0]


def check_input_and_samples(estimator, X, *, reset, n_samples=2):
    """:func:`check_input`, also returning the first samples as a tensor.

    ``fit`` checks its modules on a few samples before training; taking them
    here reads the first batch of a ``DataLoader`` once, not twice.

    Returns
    -------
    X : torch.Tensor, Dataset or DataLoader
        As :func:`check_input` returns it.
    samples : torch.Tensor, shape (min(n_samples, batch), ...)
        The first samples, float32, on the CPU.
    """
    data_object = is_loader(X) or is_dataset(X)
    # Dictionary batches hold the input at the key the estimator names.
    key = estimator.get_params(deep=False).get("input_key")
    sample = first_input(X, key) if data_object else X
    if isinstance(sample, torch.Tensor):
        sample = sample.detach().cpu().numpy()
    checked = validate_data(
        estimator,
        sample,
        reset=reset,
        allow_nd=True,
        dtype=np.float32,
        ensure_all_finite=True,
    )
    sample_shape = tuple(checked.shape[1:])
    if reset:
        estimator.sample_shape_ = sample_shape
    elif sample_shape != estimator.sample_shape_:
        raise ValueError(
            f"X has samples of shape {sample_shape}, but "
            f"{type(estimator).__name__} was fitted on samples of shape "
            f"{estimator.sample_shape_}; pass data shaped like the training data."
        )
    checked = torch.from_numpy(np.ascontiguousarray(checked))
    return (X if data_object else checked), checked[:n_samples]


def check_targets(y, n_samples):
    """Check targets given with array or tensor input; return them as a tensor.

    Parameters
    ----------
    y : array-like or torch.Tensor, shape (n_samples, ...)
        Targets, numeric, one per sample.
    n_samples : int
        Number of samples of the input they go with.

    Returns
    -------
    y : torch.Tensor
        On the CPU; floating-point targets in float32, others as they are.

    Examples
    --------
    >>> from nidl.utils.validation import check_targets
    >>> check_targets([0, 1, 1], 3)
    tensor([0, 1, 1])
    >>> check_targets([0.5, 1.0], 3)
    Traceback (most recent call last):
    ...
    ValueError: X has 3 samples but y has 2; pass one target per sample.
    """
    values = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else y
    y = check_array(values, ensure_2d=False, dtype="numeric", input_name="y")
    if len(y) != n_samples:
        raise ValueError(
            f"X has {n_samples} samples but y has {len(y)}; pass one target per sample."
        )
    y = torch.from_numpy(np.ascontiguousarray(y))
    return y.float() if y.is_floating_point() else y
