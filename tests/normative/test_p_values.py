"""conformal_p_values and adjust_p_values: by hand, and valid at their level."""

import numpy as np
import pytest

from nidl.normative import adjust_p_values, conformal_p_values


def test_conformal_p_values_by_hand():
    # (1 + #{calibration scores >= s}) / (n + 1), n = 4.
    np.testing.assert_allclose(
        conformal_p_values([0.5, 3.0, 10.0], [1.0, 2.0, 3.0, 4.0]), [1.0, 0.6, 0.2]
    )
    # A tie counts as at least as extreme; the shape of the scores is kept.
    p = conformal_p_values([[2.0, 4.0], [4.5, 0.0]], [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(p, [[0.8, 0.4], [0.2, 1.0]])


@pytest.mark.parametrize("alpha", [1 / 40, 0.05, 0.06, 0.2])
def test_conformal_p_values_of_exchangeable_scores_hold_their_level(alpha):
    # A new score and 39 calibration scores drawn alike: the p-value takes
    # the values k / 40, each with probability 1 / 40, so that
    # P(p <= alpha) = floor(40 alpha) / 40 <= alpha, whatever the law.
    rng = np.random.default_rng(0)
    n_trials, n = 20_000, 39
    scores = rng.lognormal(sigma=2, size=(n_trials, n + 1))
    p = np.array([conformal_p_values(row[0], row[1:]) for row in scores])
    assert p.min() == pytest.approx(1 / (n + 1))
    expected = np.floor(alpha * (n + 1) + 1e-9) / (n + 1)
    rate = np.mean(p <= alpha)
    # Binomial standard error at most 0.0036: 3 of them either side.
    assert abs(rate - expected) < 0.011
    assert rate < alpha + 0.011


def test_adjust_p_values_is_benjamini_hochberg_per_subject():
    p = np.array([[0.01, 0.04, 0.03, 0.2],
                  [0.5, 0.001, 0.9, 0.04]])
    # Row 0 sorted: 0.01, 0.03, 0.04, 0.2 -> p * m / rank: 0.04, 0.06, 0.0533,
    # 0.2 -> running minimum from the largest: 0.04, 0.0533, 0.0533, 0.2.
    # Row 1 sorted: 0.001, 0.04, 0.5, 0.9 -> 0.004, 0.08, 0.6667, 0.9.
    expected = [[0.04, 0.16 / 3, 0.16 / 3, 0.2],
                [2 / 3, 0.004, 0.9, 0.08]]
    np.testing.assert_allclose(adjust_p_values(p), expected)
    # Each row is adjusted on its own: a row alone gives the same.
    np.testing.assert_allclose(adjust_p_values(p[1:]), [expected[1]])


def test_pooled_scores_give_the_conformal_p_values_or_slightly_larger():
    """A brain's calibration holds millions of |z|: they are kept compactly,
    exact where the small p-values are decided, conservative elsewhere."""
    from nidl.normative._p_values import PooledScores

    rng = np.random.default_rng(0)
    calibration = np.abs(rng.standard_t(4, size=300_000))
    scores = np.abs(rng.standard_t(4, size=5_000))
    pooled = PooledScores(calibration)
    exact = conformal_p_values(scores, calibration)
    compact = pooled.p_values(scores)
    assert np.all(compact >= exact - 1e-15)
    assert np.max(compact - exact) <= pooled.step / (len(calibration) + 1)
    # The smallest p-values, those a correction across voxels keeps, are exact.
    small = exact < 0.01
    assert small.any()
    np.testing.assert_allclose(compact[small], exact[small])
