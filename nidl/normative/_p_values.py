"""P-values from calibration controls, and their corrections across features."""

import numpy as np
from scipy import stats

__all__ = ["adjust_p_values", "conformal_p_values"]


def conformal_p_values(scores, calibration_scores):
    """Conformal p-values: the rank of each score among calibration scores.

    ``(1 + #{calibration scores >= s}) / (n + 1)`` for each score ``s``,
    higher scores being more deviant [1]_. When the subject and the ``n``
    calibration controls are exchangeable (drawn alike, and scored alike by
    a model that saw none of them), the probability that a new control's
    p-value is at most ``alpha`` is at most ``alpha``, for any ``n`` and
    any law of the scores; the smallest p-value is ``1 / (n + 1)``.

    Parameters
    ----------
    scores : array-like of any shape
        Scores of the subjects to test.
    calibration_scores : array-like of shape (n,)
        Scores of the calibration controls.

    Returns
    -------
    p_values : numpy.ndarray, shaped like scores

    References
    ----------
    .. [1] S. Bates, E. Candès, L. Lei, Y. Romano and M. Sesia, "Testing for
       outliers with conformal p-values", The Annals of Statistics 51(1),
       2023.

    Examples
    --------
    >>> from nidl.normative import conformal_p_values
    >>> conformal_p_values([0.5, 3.0, 10.0], [1.0, 2.0, 3.0, 4.0])
    array([1. , 0.6, 0.2])
    """
    calibration = np.asarray(calibration_scores, dtype=np.float64).ravel()
    return (1 + count_at_least(scores, calibration)) / (len(calibration) + 1)


def count_at_least(scores, calibration_scores):
    """How many calibration scores are at least each score (shaped like scores)."""
    calibration = np.sort(np.asarray(calibration_scores, dtype=np.float64).ravel())
    scores = np.asarray(scores, dtype=np.float64)
    return len(calibration) - np.searchsorted(calibration, scores, side="left")


class PooledScores:
    """The scores of many calibration tests, kept compactly for conformal
    p-values: the largest exactly, the others as every ``step``-th value.

    Conformal p-values of feature deviations rank a subject's ``|z|`` among
    those of every feature of every calibration control: millions of values
    for a brain, whose largest decide the small p-values that survive a
    correction across voxels. The largest ``n_exact`` are kept; below them,
    counts are rounded up to a multiple of ``step`` (conservative p-values,
    too large by less than ``step / (n + 1)``).
    """

    def __init__(self, scores, n_exact=None, n_body=2000):
        scores = np.sort(np.asarray(scores, dtype=np.float64).ravel())
        self.n = len(scores)
        n_exact = min(self.n, n_exact or max(10_000, self.n // 100))
        self.tail = scores[self.n - n_exact:]
        body = scores[: self.n - n_exact]
        self.step = max(1, -(-len(body) // n_body))
        self.body = body[:: self.step]
        self.n_body = len(body)

    def p_values(self, scores):
        """``(1 + #{calibration scores >= s}) / (n + 1)`` for each score."""
        scores = np.asarray(scores, dtype=np.float64)
        in_tail = count_at_least(scores, self.tail)
        # Body values below s: the last kept value below s, and all before it.
        last_below = np.searchsorted(self.body, scores, side="left") - 1
        below = np.where(last_below >= 0, last_below * self.step + 1, 0)
        in_body = self.n_body - below
        at_least = np.where(in_tail < len(self.tail), in_tail, in_tail + in_body)
        return (1 + at_least) / (self.n + 1)


def adjust_p_values(p_values):
    """Benjamini--Hochberg adjusted p-values of each row (one subject's map).

    Flagging the entries of a row whose adjusted p-value is at most
    ``alpha`` keeps the expected share of true nulls among the flagged
    entries (the false discovery rate) at most ``alpha``, for independent
    or positively dependent p-values [1]_.

    Parameters
    ----------
    p_values : array-like of shape (n_samples, n_features)

    Returns
    -------
    adjusted : numpy.ndarray of shape (n_samples, n_features)

    References
    ----------
    .. [1] Y. Benjamini and Y. Hochberg, "Controlling the false discovery
       rate: a practical and powerful approach to multiple testing", Journal
       of the Royal Statistical Society B 57(1), 1995.

    Examples
    --------
    Of four tests, the two smallest p-values stay below 0.05 once adjusted:

    >>> from nidl.normative import adjust_p_values
    >>> adjust_p_values([[0.001, 0.02, 0.3, 0.04]]).round(3)
    array([[0.004, 0.04 , 0.3  , 0.053]])
    """
    return stats.false_discovery_control(np.asarray(p_values, dtype=np.float64),
                                         axis=-1)
