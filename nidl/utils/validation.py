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
    Arrays and tensors are converted to float32; a ``Dataset`` or
    ``DataLoader`` must give floating-point input, since its batches reach
    the model as they are (the training hooks check every batch with
    :func:`check_batch`).

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
    key = (
        estimator._engine_option("input_key")
        if hasattr(estimator, "_engine_option")
        else estimator.get_params(deep=False).get("input_key")
    )
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
    if data_object:
        # validate_data converts the first batch to float32 to check it, but
        # the model trains on the batches as the loader gives them.
        kind = "batch of the DataLoader" if is_loader(X) else "sample of the Dataset"
        check_floating(sample, f"the first {kind}")
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


def check_floating(x, where):
    """Refuse input that is not floating point, naming where it came from.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray
        The input of a batch or sample.
    where : str
        What ``x`` is, for the message ("batch 3 of epoch 1").

    Raises
    ------
    ValueError
        If ``x`` holds integers, booleans or any other non-floating values.

    Examples
    --------
    >>> import torch
    >>> from nidl.utils.validation import check_floating
    >>> check_floating(torch.zeros(2, 3, dtype=torch.uint8), "batch 0 of epoch 0")
    Traceback (most recent call last):
    ...
    ValueError: batch 0 of epoch 0 holds uint8 values, not floating-point ones;
    make the dataset return floating-point tensors (for example x.float()).
    """
    floating = x.is_floating_point() if isinstance(x, torch.Tensor) else (
        np.issubdtype(x.dtype, np.floating)
    )
    if not floating:
        raise ValueError(
            f"{where} holds {str(x.dtype).removeprefix('torch.')} values, not "
            "floating-point ones; make the dataset return floating-point tensors "
            "(for example x.float())."
        )


def check_batch(x, sample_shape, where):
    """Check the input of one training batch; return its sum, to check later.

    The batches of a Dataset or DataLoader reach the model as the loader
    gives them; the training hooks check each one. Type, dtype and sample
    shape are checked here, at once; whether the values are finite is told
    by their sum, one reduction that the caller reads when it suits the
    device (see :func:`non_finite_batch_error`).

    Parameters
    ----------
    x : torch.Tensor
        The input of the batch.
    sample_shape : tuple of int
        The shape of a sample, ``sample_shape_`` of the estimator.
    where : str
        Which batch this is, for the messages ("batch 3 of epoch 1").

    Returns
    -------
    total : torch.Tensor
        The sum of ``x`` in float32 (at least), a 0-d tensor on its device:
        finite if and only if ``x`` is free of NaN and infinite values and
        its sum fits in float32.

    Examples
    --------
    >>> import torch
    >>> from nidl.utils.validation import check_batch
    >>> check_batch(torch.ones(4, 3), (3,), "batch 0 of epoch 0")
    tensor(12.)
    >>> check_batch(torch.ones(4, 2), (3,), "batch 1 of epoch 0")
    Traceback (most recent call last):
    ...
    ValueError: batch 1 of epoch 0 has samples of shape (2,), but the first batch
    had samples of shape (3,); make every sample the same shape (crop or pad
    them in the dataset).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{where} holds a {type(x).__name__}, not a tensor; make the dataset "
            "return a tensor (or a tuple whose first element is one)."
        )
    check_floating(x, where)
    if tuple(x.shape[1:]) != tuple(sample_shape):
        raise ValueError(
            f"{where} has samples of shape {tuple(x.shape[1:])}, but the first "
            f"batch had samples of shape {tuple(sample_shape)}; make every sample "
            "the same shape (crop or pad them in the dataset)."
        )
    # One fused reduction, far cheaper than an elementwise isfinite on the
    # CPU. Half-precision input is summed in float32, whose range no sum of
    # reasonable data exceeds.
    return x.sum(dtype=torch.promote_types(x.dtype, torch.float32))


def non_finite_batch_error(where, x=None):
    """The error for a batch whose sum (see :func:`check_batch`) is not finite.

    Parameters
    ----------
    where : str
        Which batch this is ("batch 3 of epoch 1").
    x : torch.Tensor, default=None
        The batch's input, when still at hand, to say exactly what is wrong;
        without it (checks read later on an accelerator), the message names
        NaN and infinite values together.

    Returns
    -------
    error : ValueError or None
        None when ``x`` turns out finite (a sum beyond the float32 range).

    Examples
    --------
    >>> import torch
    >>> from nidl.utils.validation import non_finite_batch_error
    >>> batch = torch.tensor([[0.0, float("nan")]])
    >>> non_finite_batch_error("batch 3 of epoch 1", batch)
    ValueError('batch 3 of epoch 1 holds NaN values; remove or replace them in
    the dataset (for example with torch.nan_to_num) and fit again.')
    """
    if x is None:
        problem = "NaN or infinite values"
    elif torch.isnan(x).any():
        problem = "NaN values"
    elif torch.isinf(x).any():
        problem = "infinite values"
    else:
        return None
    return ValueError(
        f"{where} holds {problem}; remove or replace them in the dataset (for "
        "example with torch.nan_to_num) and fit again."
    )


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
