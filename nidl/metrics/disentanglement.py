"""Disentanglement metrics from latent codes and ground-truth factors."""

import numbers

import numpy as np
from scipy.stats import entropy
from sklearn.base import clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import balanced_accuracy_score, mutual_info_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import check_array, check_consistent_length, check_scalar


def _check_codes_factors(codes, factors):
    codes = check_array(codes, dtype=np.float64, input_name="codes")
    factors = check_array(factors, dtype=np.float64, input_name="factors")
    check_consistent_length(codes, factors)
    constant = np.flatnonzero(np.ptp(factors, axis=0) == 0)
    if constant.size:
        raise ValueError(
            f"factor {constant[0]} takes a single value, so no code can be "
            "informative about it; drop that column from factors."
        )
    return codes, factors


def _discretize(values, n_bins):
    """Bin each column into ``n_bins`` equal-width bins (labels 0..n_bins-1)."""
    labels = np.empty(values.shape, dtype=np.intp)
    for j, column in enumerate(values.T):
        edges = np.histogram_bin_edges(column, bins=n_bins)
        labels[:, j] = np.digitize(column, edges[1:-1])
    return labels


def _factor_labels(factors, n_bins):
    """Factors as labels: their values, or bins when they take many values."""
    labels = np.empty(factors.shape, dtype=np.intp)
    for k, column in enumerate(factors.T):
        values, inverse = np.unique(column, return_inverse=True)
        if len(values) <= n_bins:
            labels[:, k] = inverse.ravel()
        else:
            labels[:, k] = _discretize(column[:, None], n_bins)[:, 0]
    return labels


def _gap(scores):
    """Difference between the two largest values of each column."""
    ordered = np.sort(np.vstack([scores, np.zeros((1, scores.shape[1]))]), axis=0)
    return ordered[-1] - ordered[-2]


def mig_score(codes, factors, n_bins=20):
    """Mutual information gap (MIG) between latent codes and factors.

    For each factor, the MIG of Chen et al. [1]_ is the difference between
    the mutual information it shares with its most informative code
    dimension and with the second most informative one, divided by the
    entropy of the factor; the score is the mean over factors. It is 1 when
    each factor is captured by exactly one code dimension, and near 0 when
    every factor is spread over several dimensions. Mutual information is
    estimated on histograms: each code dimension is cut into ``n_bins``
    bins of equal width; a factor is used as it is when it takes at most
    ``n_bins`` values, and binned likewise otherwise.

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_latents)
        Latent codes, for example posterior means from ``transform``.
    factors : array-like of shape (n_samples, n_factors)
        Ground-truth factors of the same samples.
    n_bins : int, default=20
        Number of bins of each code dimension.

    Returns
    -------
    score : float
        Mean normalised gap, in [0, 1]; higher is better.

    See Also
    --------
    sap_score : The same gap on predictability instead of information.

    References
    ----------
    .. [1] R. T. Q. Chen, X. Li, R. Grosse and D. Duvenaud, "Isolating
       Sources of Disentanglement in Variational Autoencoders", NeurIPS 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.metrics import mig_score
    >>> factors = np.stack(np.meshgrid(np.arange(4), np.arange(5)), -1).reshape(-1, 2)
    >>> round(mig_score(factors, factors), 6)
    1.0
    >>> round(mig_score(factors[:, :1], factors), 6)
    0.5
    """
    codes, factors = _check_codes_factors(codes, factors)
    check_scalar(n_bins, "n_bins", numbers.Integral, min_val=2)
    code_labels = _discretize(codes, n_bins)
    factor_labels = _factor_labels(factors, n_bins)
    information = np.array(
        [
            [mutual_info_score(f, c) for f in factor_labels.T]
            for c in code_labels.T
        ]
    )
    entropies = np.array([mutual_info_score(f, f) for f in factor_labels.T])
    return float(np.mean(_gap(information) / entropies))


def sap_score(codes, factors, discrete_factors=False):
    """Separated attribute predictability (SAP) of latent codes.

    For each factor and each code dimension, Kumar et al. [1]_ measure how
    well the dimension alone predicts the factor: the R^2 of a linear
    regression (the squared correlation) for a continuous factor, the
    balanced accuracy of a classifier with thresholds for a discrete one
    (adjusted for chance, so that an uninformative dimension scores 0).
    The score of a factor is the gap between its two most predictive
    dimensions, and the SAP score is the mean over factors: 1 when each
    factor is read from one dimension only.

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_latents)
        Latent codes, for example posterior means from ``transform``.
    factors : array-like of shape (n_samples, n_factors)
        Ground-truth factors of the same samples.
    discrete_factors : bool or array-like of bool, default=False
        Which factors are discrete (all, none, or one flag per factor). A
        discrete factor is predicted by a decision tree on the dimension with
        as many leaves as the factor has values.

    Returns
    -------
    score : float
        Mean gap, in [0, 1]; higher is better.

    See Also
    --------
    mig_score : The same gap on mutual information.

    References
    ----------
    .. [1] A. Kumar, P. Sattigeri and A. Balakrishnan, "Variational
       Inference of Disentangled Latent Concepts from Unlabeled
       Observations", ICLR 2018.

    Examples
    --------
    A code that reads each factor from its own dimension scores 1; one
    whose second dimension mixes both factors scores less:

    >>> import numpy as np
    >>> from nidl.metrics import sap_score
    >>> grid = np.stack(np.meshgrid(np.arange(4), np.arange(5)), -1).reshape(-1, 2)
    >>> sap_score(grid, grid, discrete_factors=True)
    1.0
    >>> mixed = grid @ np.array([[1.0, 1.0], [0.0, 1.0]])
    >>> round(sap_score(mixed, grid), 3)
    0.615
    """
    codes, factors = _check_codes_factors(codes, factors)
    discrete = np.broadcast_to(
        np.asarray(discrete_factors, dtype=bool), factors.shape[1:]
    )
    scores = np.zeros((codes.shape[1], factors.shape[1]))
    for k, factor in enumerate(factors.T):
        if discrete[k]:
            labels = np.unique(factor, return_inverse=True)[1].ravel()
            tree = DecisionTreeClassifier(max_leaf_nodes=max(2, labels.max() + 1))
            for j, code in enumerate(codes.T):
                predicted = tree.fit(code[:, None], labels).predict(code[:, None])
                scores[j, k] = max(
                    0.0, balanced_accuracy_score(labels, predicted, adjusted=True)
                )
        else:
            for j, code in enumerate(codes.T):
                if np.ptp(code) > 0:
                    scores[j, k] = np.corrcoef(code, factor)[0, 1] ** 2
    return float(np.mean(_gap(scores)))


def dci_scores(codes, factors, regressor=None, test_size=0.25, random_state=None):
    """Disentanglement, completeness and informativeness (DCI) of latent codes.

    Following Eastwood and Williams [1]_, a regressor predicts each factor
    from the whole code; its feature importances form a matrix ``R`` of
    shape (n_latents, n_factors), each column normalised to sum to 1.

    - **Disentanglement**: each code dimension should matter for one factor
      only: 1 minus the entropy (base n_factors) of its row of ``R``,
      averaged over dimensions weighted by their total importance.
    - **Completeness**: each factor should be captured by one dimension
      only: 1 minus the entropy (base n_latents) of its column, averaged
      over factors.
    - **Informativeness**: how well the code predicts the factors: the
      regressor's score on held-out samples (R^2 for a regressor),
      averaged over factors, each clipped to [0, 1].

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_latents)
        Latent codes, for example posterior means from ``transform``.
    factors : array-like of shape (n_samples, n_factors)
        Ground-truth factors of the same samples.
    regressor : estimator, default=None
        A scikit-learn estimator with ``feature_importances_`` or
        ``coef_`` after ``fit``, cloned for each factor. None uses a
        ``RandomForestRegressor(n_estimators=10)`` (tree importances, as in
        the original work).
    test_size : float, default=0.25
        Share of the samples held out to measure informativeness.
    random_state : int, RandomState instance or None, default=None
        Seed of the split and of the default regressor.

    Returns
    -------
    scores : dict
        ``"disentanglement"``, ``"completeness"`` and ``"informativeness"``,
        each a float in [0, 1]; higher is better.

    References
    ----------
    .. [1] C. Eastwood and C. K. I. Williams, "A Framework for the
       Quantitative Evaluation of Disentangled Representations", ICLR 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.metrics import dci_scores
    >>> factors = np.stack(np.meshgrid(np.arange(6), np.arange(5)), -1).reshape(-1, 2)
    >>> factors = np.tile(factors, (4, 1))
    >>> scores = dci_scores(factors, factors, random_state=0)
    >>> {name: round(value, 2) for name, value in scores.items()}
    {'disentanglement': 1.0, 'completeness': 1.0, 'informativeness': 1.0}
    """
    codes, factors = _check_codes_factors(codes, factors)
    if codes.shape[1] < 2 or factors.shape[1] < 2:
        raise ValueError(
            f"dci_scores needs at least 2 code dimensions and 2 factors, got "
            f"codes with {codes.shape[1]} and factors with {factors.shape[1]} "
            "columns; entropies over one element are undefined."
        )
    check_scalar(
        test_size, "test_size", numbers.Real, min_val=0, max_val=1,
        include_boundaries="neither",
    )
    if regressor is None:
        regressor = RandomForestRegressor(n_estimators=10, random_state=random_state)
    codes_train, codes_test, factors_train, factors_test = train_test_split(
        codes, factors, test_size=test_size, random_state=random_state
    )
    importance = np.zeros((codes.shape[1], factors.shape[1]))
    informativeness = np.zeros(factors.shape[1])
    for k in range(factors.shape[1]):
        model = clone(regressor).fit(codes_train, factors_train[:, k])
        if hasattr(model, "feature_importances_"):
            weights = np.asarray(model.feature_importances_, dtype=np.float64)
        elif hasattr(model, "coef_"):
            weights = np.abs(np.asarray(model.coef_, dtype=np.float64)).reshape(
                -1, codes.shape[1]
            ).sum(axis=0)
        else:
            raise TypeError(
                f"regressor {type(model).__name__} has neither "
                "feature_importances_ nor coef_ after fit; pass a tree "
                "ensemble or a linear model."
            )
        total = weights.sum()
        importance[:, k] = weights / total if total > 0 else 0.0
        informativeness[k] = np.clip(model.score(codes_test, factors_test[:, k]), 0, 1)

    n_latents, n_factors = importance.shape
    if importance.sum() == 0:
        importance = np.ones_like(importance)
    per_code = 1 - entropy(importance.T + 1e-11, base=n_factors)
    code_weights = importance.sum(axis=1) / importance.sum()
    per_factor = 1 - entropy(importance + 1e-11, base=n_latents)
    factor_weights = importance.sum(axis=0) / importance.sum()
    return {
        "disentanglement": float(np.sum(per_code * code_weights)),
        "completeness": float(np.sum(per_factor * factor_weights)),
        "informativeness": float(np.mean(informativeness)),
    }
