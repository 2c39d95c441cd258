"""Regression scores: weighted Pearson correlation and a report of the usual ones.

Probing a representation often means regressing a variable (age, a clinical
score) from it; these functions summarise how well the predictions follow
the targets, in the manner of scikit-learn's metrics.
"""

import numbers

import numpy as np
from sklearn.metrics import (
    explained_variance_score,
    mean_absolute_error,
    mean_squared_error,
    median_absolute_error,
    r2_score,
    root_mean_squared_error,
)
from sklearn.utils import check_array, check_consistent_length, check_scalar

#: Kinds of NumPy dtypes refused as non-numeric: strings, bytes, dates,
#: durations, complex numbers and structured records.
_NON_NUMERIC_KINDS = "USMmcV"


def _check_numeric(values, name):
    """Refuse values that are not numbers with a TypeError, as the other
    inputs of nidl's metrics are; check_array would raise a ValueError."""
    dtype = getattr(values, "dtype", None)
    if not isinstance(dtype, np.dtype):
        dtype = np.asarray(values).dtype
    if dtype.kind in _NON_NUMERIC_KINDS:
        raise TypeError(
            f"{name} holds values of dtype {dtype}, not real numbers; pass numeric "
            "targets and predictions."
        )


def _check_targets(y_true, y_pred, sample_weight):
    """Targets and predictions as 2-D float arrays, and the sample weights.

    Returns ``(y_true, y_pred, weights)``: arrays of shape (n_samples,
    n_outputs), and weights of shape (n_samples,) (ones when none are
    given).
    """
    _check_numeric(y_true, "y_true")
    _check_numeric(y_pred, "y_pred")
    y_true = check_array(y_true, ensure_2d=False, dtype=np.float64,
                         input_name="y_true")
    y_pred = check_array(y_pred, ensure_2d=False, dtype=np.float64,
                         input_name="y_pred")
    check_consistent_length(y_true, y_pred)
    y_true = y_true.reshape(len(y_true), -1)
    y_pred = y_pred.reshape(len(y_pred), -1)
    if y_true.shape[1] != y_pred.shape[1]:
        raise ValueError(
            f"y_true has {y_true.shape[1]} outputs but y_pred has "
            f"{y_pred.shape[1]}; pass one prediction column per target column."
        )
    if sample_weight is None:
        return y_true, y_pred, np.ones(len(y_true))
    _check_numeric(sample_weight, "sample_weight")
    weights = check_array(sample_weight, ensure_2d=False, dtype=np.float64,
                          input_name="sample_weight")
    if weights.shape != (len(y_true),):
        raise ValueError(
            f"sample_weight has shape {weights.shape} but there are "
            f"{len(y_true)} samples; pass one weight per sample, shape "
            f"({len(y_true)},)."
        )
    if (weights < 0).any() or weights.sum() == 0:
        raise ValueError(
            "sample_weight must be non-negative with a positive sum, but "
            f"its minimum is {weights.min()} and its sum {weights.sum()}; "
            "pass non-negative weights, not all zero."
        )
    return y_true, y_pred, weights


def _average(values, multioutput):
    """Combine the scores of the outputs as ``multioutput`` asks."""
    if isinstance(multioutput, str):
        if multioutput == "raw_values":
            return values
        if multioutput == "uniform_average":
            return float(np.mean(values))
        raise ValueError(
            f"multioutput={multioutput!r} is not supported; pass 'raw_values', "
            "'uniform_average' or an array of one weight per output."
        )
    weights = check_array(multioutput, ensure_2d=False, dtype=np.float64,
                          input_name="multioutput")
    if weights.shape != values.shape:
        raise ValueError(
            f"multioutput has shape {weights.shape} but there are {len(values)} "
            f"outputs; pass one weight per output, shape {values.shape}."
        )
    if weights.sum() == 0:
        raise ValueError(
            "the weights in multioutput sum to 0; pass weights with a non-zero "
            "sum."
        )
    return float(np.average(values, weights=weights))


def pearson_r(y_true, y_pred, sample_weight=None, multioutput="uniform_average",
              force_finite=False):
    """Pearson correlation coefficient between targets and predictions.

    For each output, the (weighted) Pearson correlation

    ``r = sum_i w_i (t_i - t_bar)(p_i - p_bar) / sqrt(sum_i w_i (t_i -
    t_bar)^2 sum_i w_i (p_i - p_bar)^2)``,

    where ``t_bar`` and ``p_bar`` are the weighted means of the targets and
    predictions. Unlike the R^2 score, it ignores the scale and offset of
    the predictions: it measures how linearly they follow the targets.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_outputs)
        True target values.
    y_pred : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Predicted values.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples; None weighs them equally.
    multioutput : {'raw_values', 'uniform_average'} or array-like of shape \
(n_outputs,), default='uniform_average'
        How the coefficients of several outputs are combined: all of them
        ('raw_values'), their mean ('uniform_average'), or their average
        weighted by the given array.
    force_finite : bool, default=False
        What to return for an output where the target or the prediction is
        constant (over the samples of positive weight), for which the
        coefficient is undefined: NaN if false; if true, as scikit-learn's
        ``r2_score`` does, 1.0 when the predictions equal the targets
        exactly and 0.0 otherwise.

    Returns
    -------
    r : float or ndarray of shape (n_outputs,)
        The coefficient, in [-1, 1], or one per output with
        ``multioutput='raw_values'``.

    Raises
    ------
    TypeError
        If the targets, predictions or weights are not numbers.
    ValueError
        If the inputs are empty, not finite, of more than two dimensions or
        of mismatched shapes, if a weight is negative or all are zero, or if
        ``multioutput`` is an unknown string or an array of the wrong shape.

    See Also
    --------
    scipy.stats.pearsonr : The unweighted coefficient of one output, with a
        p-value.
    regression_report : This coefficient beside the usual regression scores.

    Notes
    -----
    Weights given as an array in ``multioutput`` are applied (upstream nidl
    ignores them and returns the uniform mean).

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.metrics import pearson_r
    >>> y_true = np.array([1.0, 2.0, 3.0, 4.0])
    >>> pearson_r(y_true, 10 * y_true - 3)
    1.0
    >>> pearson_r(y_true, np.array([1.0, 3.0, 2.0, 4.0]))
    0.8
    >>> pearson_r(np.c_[y_true, y_true], np.c_[y_true, -y_true],
    ...           multioutput="raw_values")
    array([ 1., -1.])
    >>> print(pearson_r(y_true, np.ones(4)))
    nan
    >>> pearson_r(y_true, np.ones(4), force_finite=True)
    0.0
    """
    y_true, y_pred, weights = _check_targets(y_true, y_pred, sample_weight)
    w = weights / weights.sum()
    t = y_true - w @ y_true
    p = y_pred - w @ y_pred
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (w @ (t * p)) / np.sqrt((w @ t**2) * (w @ p**2))
    r = np.clip(r, -1.0, 1.0)
    # Constant columns are told exactly, not from a variance that rounding
    # may leave slightly above zero.
    used = weights > 0
    undefined = (np.ptp(y_true[used], axis=0) == 0) | (
        np.ptp(y_pred[used], axis=0) == 0
    )
    if force_finite:
        exact = np.all(y_true[used] == y_pred[used], axis=0)
        r[undefined] = np.where(exact, 1.0, 0.0)[undefined]
    else:
        r[undefined] = np.nan
    return _average(r, multioutput)


#: The scores of the report, by column heading.
_REPORT_SCORES = {
    "MAE": mean_absolute_error,
    "MedAE": median_absolute_error,
    "RMSE": root_mean_squared_error,
    "MSE": mean_squared_error,
    "R2": r2_score,
    "PCC": lambda *args, **kwargs: pearson_r(*args, force_finite=True, **kwargs),
    "EVar": explained_variance_score,
}


def regression_report(y_true, y_pred, *, target_names=None, sample_weight=None,
                      digits=2, output_dict=False):
    """Text report (or dictionary) of the main regression scores.

    The regression counterpart of scikit-learn's ``classification_report``:
    one row per target with its mean absolute error (MAE), median absolute
    error (MedAE), root mean squared error (RMSE), mean squared error (MSE),
    coefficient of determination (R2), Pearson correlation (PCC) and
    explained variance (EVar), and, when there are several targets, an
    "average" row with the mean of each score over the targets.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, n_targets)
        True target values.
    y_pred : array-like of shape (n_samples,) or (n_samples, n_targets)
        Predicted values.
    target_names : list of str, default=None
        Names of the targets, one per column; by default the column names of
        a data frame ``y_true``, otherwise "regressor 0", "regressor 1", ...
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples, used by every score.
    digits : int, default=2
        Number of digits of the values in the text report.
    output_dict : bool, default=False
        Whether to return a dictionary rather than text.

    Returns
    -------
    report : str or dict
        The text table, or a dictionary: ``{target_name: {score_name:
        value}}`` with an "average" entry for several targets, and
        ``{score_name: value}`` directly for a single target. The
        dictionary's values are floats, not rounded.

    Raises
    ------
    TypeError
        If the targets, predictions or weights are not numbers.
    ValueError
        If the inputs are empty, not finite or of mismatched shapes, or if
        ``target_names`` does not name each target once.

    See Also
    --------
    pearson_r : The correlation of the report.
    sklearn.metrics.classification_report : The report of classifiers.

    Notes
    -----
    R2, EVar and PCC are finite even for a constant target or prediction
    (see ``force_finite`` in :func:`pearson_r` and
    :func:`sklearn.metrics.r2_score`), so that the report of a constant
    predictor shows 0 rather than NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.metrics import regression_report
    >>> y_true = np.array([[20.0, 1.0], [30.0, 2.0], [40.0, 3.0], [50.0, 4.0]])
    >>> y_pred = np.array([[22.0, 1.0], [29.0, 2.0], [41.0, 3.5], [47.0, 3.5]])
    >>> print(regression_report(y_true, y_pred, target_names=["age", "score"]))
                 MAE     MedAE      RMSE       MSE        R2       PCC      EVar
    <BLANKLINE>
        age      1.75      1.50      1.94      3.75      0.97      0.99      0.97
      score      0.25      0.25      0.35      0.12      0.90      0.95      0.90
    <BLANKLINE>
    average      1.00      0.88      1.15      1.94      0.94      0.97      0.94
    <BLANKLINE>
    >>> report = regression_report(y_true, y_pred, output_dict=True)
    >>> sorted(report)
    ['average', 'regressor 0', 'regressor 1']
    >>> report["regressor 1"]["MSE"]
    0.125
    >>> regression_report(y_true[:, 1], y_pred[:, 1], output_dict=True)["MSE"]
    0.125
    """
    y_true_checked, y_pred, weights = _check_targets(y_true, y_pred, sample_weight)
    check_scalar(digits, "digits", numbers.Integral, min_val=0)
    n_targets = y_true_checked.shape[1]
    if target_names is None:
        columns = getattr(y_true, "columns", None)
        target_names = (
            [f"regressor {j}" for j in range(n_targets)] if columns is None
            else columns
        )
    names = [str(name) for name in target_names]
    if len(names) != n_targets:
        raise ValueError(
            f"target_names has {len(names)} names but there are {n_targets} "
            f"targets; pass one name per column of y_true."
        )
    if len(set(names)) != len(names) or (n_targets > 1 and "average" in names):
        raise ValueError(
            f"target_names={names} repeats a name or uses 'average', which "
            "names the row of means; pass distinct names."
        )
    weights = None if sample_weight is None else weights
    scores = {
        heading: np.asarray(
            score(y_true_checked, y_pred, sample_weight=weights,
                  multioutput="raw_values"),
            dtype=np.float64,
        )
        for heading, score in _REPORT_SCORES.items()
    }
    rows = {
        name: {heading: float(values[j]) for heading, values in scores.items()}
        for j, name in enumerate(names)
    }
    if n_targets > 1:
        rows["average"] = {
            heading: float(np.mean(values)) for heading, values in scores.items()
        }
    if output_dict:
        # One target: its scores directly, with no level naming it.
        return rows[names[0]] if n_targets == 1 else rows

    headings = list(_REPORT_SCORES)
    # As classification_report lays it out: names right-aligned to the
    # longest (and to "average"), columns of 9 characters, widened for
    # values too long to fit (a large MSE), so that the columns stay aligned.
    width = max(max(len(name) for name in rows), len("average"), digits)
    column = max(
        9, *(len(f"{value:.{digits}f}") for row in rows.values()
             for value in row.values())
    )
    report = ("{:>{width}s} " + " {:>{column}}" * len(headings)).format(
        "", *headings, width=width, column=column
    )
    report += "\n\n"
    row_format = (
        "{:>{width}s} " + " {:>{column}.{digits}f}" * len(headings) + "\n"
    )
    for name in names:
        report += row_format.format(
            name, *rows[name].values(), width=width, column=column, digits=digits
        )
    if n_targets > 1:
        report += "\n" + row_format.format(
            "average", *rows["average"].values(), width=width, column=column,
            digits=digits,
        )
    return report
