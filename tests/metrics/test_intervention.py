import numpy as np
import pytest
from sklearn.decomposition import PCA

from nidl.metrics import beta_vae_score, factor_vae_score

HADAMARD = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2
#: Four factors of five values each: same distribution, so that a rotation
#: mixing them evenly leaves nothing to tell them apart.
VALUES = [np.arange(5.0) - 2] * 4
SIZES = {"n_train": 500, "n_eval": 500}


def identity(factors):
    return factors


def rotated(factors):
    return factors @ HADAMARD.T


def missing(factors):
    return np.delete(factors, 1, axis=1)


def test_factor_vae_known_answers():
    options = {**SIZES, "n_variance_estimate": 2000, "random_state": 0}
    assert factor_vae_score(identity, identity, VALUES, **options) == 1.0
    # No dimension is stilled by fixing factor 1: its quarter is lost.
    assert factor_vae_score(missing, identity, VALUES,
                            **options) == pytest.approx(0.75, abs=0.05)
    # Fixing any factor lowers every rotated dimension's variance alike.
    assert factor_vae_score(rotated, identity, VALUES, **options) < 0.45


def test_factor_vae_ignores_collapsed_dimensions():
    def with_collapsed(factors):
        return np.hstack([np.zeros((len(factors), 1)), factors])

    options = {**SIZES, "n_variance_estimate": 1000, "random_state": 0}
    assert factor_vae_score(with_collapsed, identity, VALUES, **options) == 1.0
    assert factor_vae_score(lambda f: 0 * f, identity, VALUES, **options) == 0.0


def test_beta_vae_known_answers():
    assert beta_vae_score(identity, identity, VALUES, random_state=0, **SIZES) == 1.0
    assert beta_vae_score(rotated, identity, VALUES, random_state=0, **SIZES) < 0.45
    # Its known blind spot (Kim and Mnih, 2018): the missing factor is the
    # one for which no difference vanishes, so it is still recognised.
    assert beta_vae_score(missing, identity, VALUES, random_state=0, **SIZES) > 0.95


def test_accepts_a_fitted_transformer_and_a_drawing_function():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(4, 10))

    def draw(factors):
        return factors @ mixing

    pca = PCA(n_components=4).fit(draw(rng.normal(size=(200, 4))))
    score = factor_vae_score(pca, draw, VALUES, n_train=200, n_eval=200,
                             n_variance_estimate=500, random_state=0)
    assert 0 <= score <= 1


def test_reproducible():
    a = factor_vae_score(rotated, identity, VALUES, random_state=1, **SIZES)
    b = factor_vae_score(rotated, identity, VALUES, random_state=1, **SIZES)
    assert a == b


@pytest.mark.parametrize("metric", [beta_vae_score, factor_vae_score])
def test_errors(metric):
    with pytest.raises(ValueError, match="n_train"):
        metric(identity, identity, VALUES, n_train=0)
    with pytest.raises(ValueError, match="factor_values"):
        metric(identity, identity, [])
    with pytest.raises(TypeError, match="fitted transformer"):
        metric("vae", identity, VALUES, n_train=5, n_eval=5)
    with pytest.raises(ValueError, match="n_samples, n_latents"):
        metric(lambda f: f[:, 0], identity, VALUES, n_train=5, n_eval=5)
