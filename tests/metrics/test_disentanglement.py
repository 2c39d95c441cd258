import numpy as np
import pytest
from scipy.stats import ortho_group
from sklearn.linear_model import LinearRegression

from nidl.metrics import dci_scores, mig_score, sap_score

#: A rotation that spreads every factor evenly over every code dimension.
HADAMARD = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2


@pytest.fixture(scope="module")
def factors():
    """Four independent factors on a full grid (factors exactly independent)."""
    grid = np.meshgrid(np.arange(5), np.arange(6), np.arange(4), np.arange(7),
                       indexing="ij")
    return np.stack(grid, axis=-1).reshape(-1, 4).astype(float)


def standardise(values):
    return (values - values.mean(0)) / values.std(0)


GAP_METRICS = {
    "mig": mig_score,
    "sap_continuous": sap_score,
    "sap_discrete": lambda codes, factors: sap_score(
        codes, factors, discrete_factors=True
    ),
}


@pytest.mark.parametrize("metric", GAP_METRICS.values(), ids=GAP_METRICS.keys())
def test_gap_metrics_known_answers(metric, factors):
    # The code equal to the factors, in any order and scale, scores 1.
    assert metric(factors, factors) == pytest.approx(1.0)
    assert metric(3 * factors[:, ::-1] - 1, factors) == pytest.approx(1.0)
    # A code missing one of four factors loses exactly that quarter.
    for missing in range(4):
        code = np.delete(factors, missing, axis=1)
        assert metric(code, factors) == pytest.approx(0.75)
    # Extra uninformative dimensions change nothing: the factors are on a grid.
    padded = np.hstack([factors, np.zeros((len(factors), 1))])
    assert metric(padded, factors) == pytest.approx(1.0)


@pytest.mark.parametrize("metric", GAP_METRICS.values(), ids=GAP_METRICS.keys())
def test_gap_metrics_low_on_rotations(metric, factors):
    z = standardise(factors)
    assert metric(z @ HADAMARD.T, factors) < 0.15
    rotation = ortho_group.rvs(4, random_state=0)
    assert metric(z @ rotation.T, factors) < 0.45


def test_mig_by_hand():
    # Two binary factors; the code copies the first and the second's XOR with
    # it: z0 carries 1 bit of f0, z1 carries nothing of f0 or f1 alone.
    f = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 5, dtype=float)
    z = np.stack([f[:, 0], np.logical_xor(f[:, 0], f[:, 1])], axis=1)
    # Factor 0: gap = (log 2 - 0) / log 2 = 1; factor 1: no information.
    assert mig_score(z, f) == pytest.approx(0.5)


def test_mig_bins_factors_with_many_values():
    rng = np.random.default_rng(0)
    age = rng.uniform(20, 80, size=500)
    assert mig_score(age[:, None], age[:, None]) == pytest.approx(1.0)
    assert mig_score(age[:, None], age[:, None], n_bins=5) == pytest.approx(1.0)


def test_dci_known_answers(factors):
    scores = dci_scores(factors, factors, random_state=0)
    assert scores == pytest.approx(
        {"disentanglement": 1.0, "completeness": 1.0, "informativeness": 1.0}, abs=0.02
    )
    rotated = dci_scores(standardise(factors) @ HADAMARD.T, factors, random_state=0)
    assert rotated["disentanglement"] < 0.4
    assert rotated["completeness"] < 0.4
    # Missing factor: nothing predicts it and its importance is spread, so
    # completeness and informativeness lose about its quarter.
    missing = dci_scores(np.delete(factors, 2, axis=1), factors, random_state=0)
    assert missing["completeness"] == pytest.approx(0.75, abs=0.06)
    assert missing["informativeness"] == pytest.approx(0.75, abs=0.03)


def test_dci_with_a_linear_model(factors):
    z = standardise(factors)
    scores = dci_scores(z, factors, regressor=LinearRegression(), random_state=0)
    assert scores["disentanglement"] == pytest.approx(1.0, abs=1e-6)
    rotated = dci_scores(z @ HADAMARD.T, factors, regressor=LinearRegression())
    # Even importances: entropy of a uniform row is 1, so both scores are 0.
    assert rotated["disentanglement"] == pytest.approx(0.0, abs=1e-6)
    assert rotated["informativeness"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda f: mig_score(f[:10], f), "inconsistent numbers of samples"),
        (lambda f: mig_score(f, np.hstack([f, np.ones((len(f), 1))])), "single value"),
        (lambda f: mig_score(f, f, n_bins=1), "n_bins"),
        (lambda f: sap_score(f[:, :1], np.ones((len(f), 1)) * 2), "single value"),
        (lambda f: dci_scores(f[:, :1], f), "at least 2"),
        (lambda f: dci_scores(f, f, test_size=1.5), "test_size"),
        (lambda f: mig_score(np.full_like(f, np.nan), f), "NaN"),
    ],
)
def test_errors(call, match, factors):
    with pytest.raises(ValueError, match=match):
        call(factors)


def test_dci_needs_importances(factors):
    from sklearn.neighbors import KNeighborsRegressor

    with pytest.raises(TypeError, match="feature_importances_"):
        dci_scores(factors, factors, regressor=KNeighborsRegressor())
