"""Disentanglement metrics that draw data for chosen factor values."""

import numbers

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_random_state, check_scalar

#: Images drawn and encoded at a time, to bound memory.
_CHUNK = 8192


def _encoding_function(estimator):
    if hasattr(estimator, "transform"):
        function = estimator.transform
    elif callable(estimator):
        function = estimator
    else:
        raise TypeError(
            f"estimator must be a fitted transformer or a callable returning "
            f"codes, got {type(estimator).__name__}; pass a fitted VAE."
        )

    def encode(X):
        codes = np.asarray(function(X), dtype=np.float64)
        if codes.ndim != 2 or len(codes) != len(X):
            raise ValueError(
                f"the estimator returned codes of shape {codes.shape} for "
                f"{len(X)} samples; it must return (n_samples, n_latents)."
            )
        return codes

    return encode


def _check_factor_values(factor_values):
    try:
        supports = [np.unique(np.asarray(v, dtype=np.float64)) for v in factor_values]
    except (TypeError, ValueError) as error:
        raise ValueError(
            "factor_values must be a sequence of 1-D arrays, one per factor, "
            "of the values the factor takes; for a table of factors use "
            "[np.unique(column) for column in factors.T]."
        ) from error
    if not supports or any(v.ndim != 1 or v.size == 0 for v in supports):
        raise ValueError(
            "factor_values must be a non-empty sequence of non-empty 1-D "
            "arrays, one per factor."
        )
    return supports


def _sample_factors(supports, n_samples, rng):
    return np.stack([rng.choice(values, size=n_samples) for values in supports], axis=1)


def _encode_drawn(encode, draw, factors):
    codes = [
        encode(np.asarray(draw(factors[start : start + _CHUNK])))
        for start in range(0, len(factors), _CHUNK)
    ]
    return np.concatenate(codes)


def _check_inputs(estimator, factor_values, random_state):
    """The encoding function, the values of each factor and the generator."""
    return (
        _encoding_function(estimator),
        _check_factor_values(factor_values),
        check_random_state(random_state),
    )


def _check_sizes(**sizes):
    for name, value in sizes.items():
        check_scalar(value, name, numbers.Integral, min_val=1)


def beta_vae_score(
    estimator, draw, factor_values, batch_size=64, n_train=10000, n_eval=5000,
    random_state=None,
):
    """Beta-VAE disentanglement score: accuracy of a linear factor classifier.

    The metric of Higgins et al. [1]_: a point is made by choosing a factor
    ``k`` at random, drawing ``batch_size`` pairs of samples that share the
    value of factor ``k`` (all other factors drawn at random), and averaging
    the absolute differences of their codes. A logistic regression learns
    to tell ``k`` from such points; the score is its accuracy on held-out
    points. It is 1 when fixing a factor leaves a code dimension unchanged.
    As Kim and Mnih (2018) noted, a code that misses one factor can still
    score 1, since the missing factor is recognised by elimination: read it
    with :func:`factor_vae_score`.

    Parameters
    ----------
    estimator : estimator or callable
        A fitted transformer (its ``transform`` gives the codes; use
        posterior means, e.g. a VAE with ``stochastic_transform=False``)
        or a function from data to codes of shape (n_samples, n_latents).
    draw : callable
        Draws data for factor values: an array of shape (n, n_factors)
        to the data of the n samples, e.g.
        :func:`nidl.datasets.draw_dsprites`.
    factor_values : sequence of array-like
        One 1-D array per factor: the values it takes, sampled
        uniformly.
    batch_size : int, default=64
        Pairs of samples averaged per point.
    n_train : int, default=10000
        Points to train the classifier.
    n_eval : int, default=5000
        Points to evaluate it.
    random_state : int, RandomState instance or None, default=None
        Seed of the factors drawn and of the classifier.

    Returns
    -------
    score : float
        Held-out accuracy, in [0, 1]; chance is ``1 / n_factors``.

    See Also
    --------
    factor_vae_score : A majority-vote variant without that blind spot.

    References
    ----------
    .. [1] I. Higgins et al., "beta-VAE: Learning Basic Visual Concepts with
       a Constrained Variational Framework", ICLR 2017.

    Examples
    --------
    Here the data are the factors themselves. A code that keeps every
    factor scores 1, and so does one that misses the third factor:

    >>> import numpy as np
    >>> from nidl.metrics import beta_vae_score
    >>> values = [np.arange(5)] * 3
    >>> beta_vae_score(np.asarray, np.asarray, values, n_train=300, n_eval=100,
    ...                random_state=0)
    1.0
    >>> def first_two(X):
    ...     return X[:, :2]
    >>> beta_vae_score(first_two, np.asarray, values, n_train=300, n_eval=100,
    ...                random_state=0)
    1.0
    """
    _check_sizes(batch_size=batch_size, n_train=n_train, n_eval=n_eval)
    encode, supports, rng = _check_inputs(estimator, factor_values, random_state)

    def points(n_points):
        chosen = rng.randint(len(supports), size=n_points)
        first = _sample_factors(supports, n_points * batch_size, rng)
        second = _sample_factors(supports, n_points * batch_size, rng)
        rows = np.arange(n_points * batch_size)
        fixed = np.repeat(chosen, batch_size)
        second[rows, fixed] = first[rows, fixed]
        difference = np.abs(
            _encode_drawn(encode, draw, first) - _encode_drawn(encode, draw, second)
        )
        return difference.reshape(n_points, batch_size, -1).mean(axis=1), chosen

    features_train, labels_train = points(n_train)
    features_eval, labels_eval = points(n_eval)
    classifier = LogisticRegression(max_iter=1000, random_state=rng.randint(2**31))
    classifier.fit(features_train, labels_train)
    return float(classifier.score(features_eval, labels_eval))


def factor_vae_score(
    estimator, draw, factor_values, batch_size=64, n_train=10000, n_eval=5000,
    n_variance_estimate=10000, prune_threshold=0.05, random_state=None,
):
    """FactorVAE disentanglement score: accuracy of a majority-vote classifier.

    The metric of Kim and Mnih [1]_: each code dimension is first divided by
    its standard deviation over ``n_variance_estimate`` random samples, and
    collapsed dimensions (standard deviation below ``prune_threshold``) are
    set aside. A point is made by fixing a factor ``k`` to a random value,
    drawing ``batch_size`` samples with the other factors at random, and
    taking the code dimension of least variance; it votes for the pair
    (dimension, ``k``). Each dimension is assigned the factor it has most
    votes for, and the score is the accuracy of that assignment on held-out
    points: 1 when fixing each factor stills its own dimension, and it loses
    the share of a factor no dimension captures.

    Parameters
    ----------
    estimator : estimator or callable
        A fitted transformer (its ``transform`` gives the codes; use
        posterior means, e.g. a VAE with ``stochastic_transform=False``)
        or a function from data to codes of shape (n_samples, n_latents).
    draw : callable
        Draws data for factor values: an array of shape (n, n_factors)
        to the data of the n samples, e.g.
        :func:`nidl.datasets.draw_dsprites`.
    factor_values : sequence of array-like
        One 1-D array per factor: the values it takes, sampled
        uniformly.
    batch_size : int, default=64
        Samples per point.
    n_train : int, default=10000
        Points to assign the dimensions.
    n_eval : int, default=5000
        Points to evaluate the assignment.
    n_variance_estimate : int, default=10000
        Samples to estimate the scale of each dimension.
    prune_threshold : float, default=0.05
        Dimensions whose standard deviation is below this value are
        collapsed and take no part.
    random_state : int, RandomState instance or None, default=None
        Seed of the factors drawn.

    Returns
    -------
    score : float
        Held-out accuracy, in [0, 1]; 0 if every dimension is collapsed.

    See Also
    --------
    beta_vae_score : The linear-classifier metric this one refines.

    References
    ----------
    .. [1] H. Kim and A. Mnih, "Disentangling by Factorising", ICML 2018.

    Examples
    --------
    Here the data are the factors themselves; a code that misses one of
    the four factors loses about a quarter of the score:

    >>> import numpy as np
    >>> from nidl.metrics import factor_vae_score
    >>> values = [np.arange(5)] * 4
    >>> options = dict(n_train=200, n_eval=100, n_variance_estimate=1000,
    ...                random_state=0)
    >>> factor_vae_score(np.asarray, np.asarray, values, **options)
    1.0
    >>> factor_vae_score(lambda X: X[:, :3], np.asarray, values, **options)
    0.73
    """
    _check_sizes(
        batch_size=batch_size,
        n_train=n_train,
        n_eval=n_eval,
        n_variance_estimate=n_variance_estimate,
    )
    check_scalar(prune_threshold, "prune_threshold", numbers.Real, min_val=0)
    if batch_size < 2:
        raise ValueError(
            f"batch_size={batch_size} gives no variance; use batch_size >= 2."
        )
    encode, supports, rng = _check_inputs(estimator, factor_values, random_state)
    n_factors = len(supports)

    codes = _encode_drawn(
        encode, draw, _sample_factors(supports, n_variance_estimate, rng)
    )
    scales = codes.std(axis=0, ddof=1)
    active = scales >= prune_threshold
    if not active.any():
        return 0.0

    def votes(n_points):
        chosen = rng.randint(n_factors, size=n_points)
        factors = _sample_factors(supports, n_points * batch_size, rng)
        fixed_values = np.array([rng.choice(supports[k]) for k in chosen])
        factors[np.arange(n_points * batch_size), np.repeat(chosen, batch_size)] = (
            np.repeat(fixed_values, batch_size)
        )
        codes = _encode_drawn(encode, draw, factors)[:, active] / scales[active]
        variances = codes.reshape(n_points, batch_size, -1).var(axis=1, ddof=1)
        counts = np.zeros((int(active.sum()), n_factors), dtype=np.int64)
        np.add.at(counts, (variances.argmin(axis=1), chosen), 1)
        return counts

    train = votes(n_train)
    evaluation = votes(n_eval)
    assigned = train.argmax(axis=1)
    correct = evaluation[np.arange(len(assigned)), assigned].sum()
    return float(correct / n_eval)
