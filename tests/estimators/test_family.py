"""What every estimator of the VAE family does alike.

Training, per-sample scores, the likelihood bound, latent traversals, the
figures, clone and set_params, and model selection by the estimator's own
score: each test runs on every estimator of ``tests.conftest.FAMILY`` that
it can drive.
"""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nidl.metrics import log_likelihood
from tests.conftest import (
    DIGITS,
    FAMILY,
    History,
    code_width,
    deterministic,
    history,
    make_estimator,
    needs_covariates,
)

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt

from nidl.plotting import (
    latent_traversals,
    plot_latent_scatter,
    plot_latent_traversals,
    plot_reconstructions,
)

N_SAMPLES, N_FEATURES = 64, 8

#: The members these tests drive with samples alone: a conditional VAE
#: encodes, decodes and scores only given covariates, which the scores,
#: traversals, figures and searches below do not pass.
UNCONDITIONAL = [cls for cls in FAMILY if not needs_covariates(cls)]


def class_name(cls):
    return cls.__name__


family = pytest.mark.parametrize("cls", UNCONDITIONAL, ids=class_name)

#: The four kinds of input, built from an array.
INPUT_KINDS = {
    "ndarray": lambda X: X,
    "tensor": torch.from_numpy,
    "dataset": lambda X: TensorDataset(torch.from_numpy(X)),
    "dataloader": lambda X: DataLoader(TensorDataset(torch.from_numpy(X)),
                                       batch_size=10),
}


def two_factor_data(seed=0, n_samples=N_SAMPLES):
    """Samples of 8 features driven by 2 factors, with a little noise."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(size=(n_samples, 2))
    noise = rng.normal(size=(n_samples, N_FEATURES))
    X = factors @ rng.normal(size=(2, N_FEATURES)) + 0.1 * noise
    return X.astype(np.float32)


@pytest.fixture(scope="module")
def data():
    return two_factor_data()


@pytest.fixture(scope="module", params=UNCONDITIONAL, ids=class_name)
def fitted(request, data):
    """Each estimator of the family fitted on the two-factor data.

    Codes are deterministic (posterior means; the joint VAE's codes are
    means and class probabilities), so that traversals can be recomputed.
    """
    params = deterministic(request.param)
    return make_estimator(request.param, max_epochs=10, **params).fit(data)


@pytest.fixture
def close_figures():
    yield
    plt.close("all")


def as_numpy(values):
    return values.numpy() if isinstance(values, torch.Tensor) else values


def prior_mean_code(estimator):
    """The code at the prior's mean: zeros, then uniform class probabilities."""
    categories = estimator.get_params().get("categorical_dims", ())
    parts = [np.zeros(estimator.latent_dim)] + [np.full(k, 1 / k) for k in categories]
    return np.concatenate(parts).astype(np.float32)


def kl_on_paper(estimator, X):
    """KL divergence of each sample's posterior from the prior, in closed form.

    ``0.5 * sum(mu^2 + var - 1 - log var)`` for the Normal part, plus
    ``sum(p * log(K p))`` for each categorical of ``K`` classes (uniform prior).
    """
    with torch.no_grad():
        features = estimator.encoder(torch.from_numpy(X))
        mu, logvar = estimator.fc_mu(features), estimator.fc_logvar(features)
        kl = (0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)).numpy()
    start = estimator.latent_dim
    for k in estimator.get_params().get("categorical_dims", ()):
        probs = estimator.transform(X)[:, start:start + k]
        kl = kl + (probs * np.log(k * probs)).sum(1)
        start += k
    return kl


# ----------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------
@pytest.mark.parametrize("cls", list(FAMILY), ids=class_name)
def test_training_lowers_the_loss_on_digits(cls, digits):
    X, y = digits
    options = {**DIGITS, **FAMILY[cls].digits}
    covariates = {}
    if needs_covariates(cls):  # conditioned on the one-hot digit class
        covariates = {"covariates": np.eye(10, dtype=np.float32)[y]}
        options["n_covariates"] = 10
    vae = make_estimator(cls, callbacks=[History()], **options).fit(X, **covariates)
    epochs = history(vae).epochs
    losses = [epoch["train/loss"] for epoch in epochs]
    assert len(losses) == options["max_epochs"]
    assert losses[-1] < 0.8 * losses[0]
    for term in ("rec_loss", "kl_loss", *FAMILY[cls].terms):
        assert np.isfinite(epochs[-1][f"train/{term}"])


# ----------------------------------------------------------------------
# score_samples and score
# ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(INPUT_KINDS))
def test_score_samples_gives_one_finite_value_per_sample(fitted, data, kind):
    X = INPUT_KINDS[kind](data)
    elbo, terms = fitted.score_samples(X, return_terms=True)
    assert isinstance(elbo, np.ndarray if kind == "ndarray" else torch.Tensor)
    assert all(type(term) is type(elbo) for term in terms.values())
    elbo = as_numpy(elbo)
    assert elbo.shape == (N_SAMPLES,) and np.isfinite(elbo).all()
    assert np.ptp(elbo) > 0  # a value of each sample, not one spread over all
    # score is the mean of the per-sample values, for every kind of input.
    assert fitted.score(X) == pytest.approx(elbo.mean(), rel=1e-5)
    # The KL term has no random draw: it is the same, in input order, for
    # every kind of input.
    np.testing.assert_allclose(
        as_numpy(terms["kl_loss"]), kl_on_paper(fitted, data), rtol=1e-4, atol=1e-5
    )


def test_score_samples_terms_add_up(fitted, data):
    elbo, terms = fitted.score_samples(data, return_terms=True)
    assert set(terms) == {"rec_loss", "kl_loss"}
    for values in terms.values():
        assert values.shape == (N_SAMPLES,) and np.isfinite(values).all()
    np.testing.assert_allclose(elbo, -(terms["rec_loss"] + terms["kl_loss"]), rtol=1e-5)
    # A Normal likelihood of variance 1/2 costs at least log(pi) / 2 per feature.
    assert (terms["rec_loss"] >= N_FEATURES * 0.5 * np.log(np.pi) - 1e-4).all()
    assert (terms["kl_loss"] >= 0).all()
    # Seeded with random_state: the same values without the terms.
    np.testing.assert_array_equal(fitted.score_samples(data), elbo)


def test_score_samples_ranks_an_outlier_lowest(fitted, data):
    X = data.copy()
    X[5] *= 10
    elbo = fitted.score_samples(X)
    assert np.argmin(elbo) == 5
    # Far below the others: more than twice as negative as the lowest.
    assert elbo[5] < 2 * np.delete(elbo, 5).min()


# ----------------------------------------------------------------------
# nidl.metrics.log_likelihood
# ----------------------------------------------------------------------
def test_log_likelihood_per_sample_and_mean(fitted, data):
    bounds = log_likelihood(fitted, data, n_samples=100, per_sample=True)
    assert bounds.shape == (N_SAMPLES,) and np.isfinite(bounds).all()
    assert np.ptp(bounds) > 0
    assert log_likelihood(fitted, data, n_samples=100) == pytest.approx(
        bounds.mean(), rel=1e-6
    )
    # With enough importance samples the bound is tighter than the ELBO on
    # average (one draw per sample: single values are too noisy to compare).
    assert bounds.mean() > fitted.score_samples(data).mean()
    X = data.copy()
    X[5] *= 10
    assert np.argmin(log_likelihood(fitted, X, n_samples=20, per_sample=True)) == 5


# ----------------------------------------------------------------------
# Latent traversals and figures
# ----------------------------------------------------------------------
@pytest.mark.parametrize("from_data", [True, False], ids=["from X", "from the prior"])
def test_latent_traversals_move_one_continuous_dimension(fitted, data, from_data):
    X = data if from_data else None
    decoded = latent_traversals(fitted, X, dims=[1, 0], n_steps=5, limit=2.0)
    assert decoded.shape == (2, 5, N_FEATURES)
    start = fitted.transform(data[:1])[0] if from_data else prior_mean_code(fitted)
    for row, dim in enumerate([1, 0]):
        codes = np.tile(start, (5, 1))
        codes[:, dim] = np.linspace(-2, 2, 5)
        np.testing.assert_allclose(
            decoded[row], fitted.inverse_transform(codes), rtol=1e-5, atol=1e-6
        )
    assert not np.allclose(decoded[:, 0], decoded[:, -1])
    # All dimensions by default: the continuous ones only.
    assert latent_traversals(fitted, X, n_steps=3).shape == (fitted.latent_dim, 3,
                                                             N_FEATURES)
    with pytest.raises(ValueError, match="latent_dim=2"):
        latent_traversals(fitted, X, dims=[2])


def test_plot_latent_traversals(fitted, data, close_figures):
    fig = plot_latent_traversals(fitted, data, n_steps=4, image_shape=(2, 4))
    assert len(fig.axes) == fitted.latent_dim * 4
    decoded = latent_traversals(fitted, data, n_steps=4)
    shown = [ax.get_images()[0].get_array() for ax in fig.axes]
    np.testing.assert_allclose(shown[0], decoded[0, 0].reshape(2, 4), rtol=1e-5)
    np.testing.assert_allclose(shown[-1], decoded[-1, -1].reshape(2, 4), rtol=1e-5)


def test_plot_reconstructions(fitted, data, close_figures):
    fig = plot_reconstructions(fitted, data, n_images=3, image_shape=(2, 4))
    assert len(fig.axes) == 2 * 3
    reconstructions = fitted.inverse_transform(fitted.transform(data[:3]))
    for col in range(3):
        top, bottom = fig.axes[col], fig.axes[3 + col]
        np.testing.assert_allclose(top.get_images()[0].get_array(),
                                   data[col].reshape(2, 4))
        np.testing.assert_allclose(
            bottom.get_images()[0].get_array(), reconstructions[col].reshape(2, 4),
            rtol=1e-5
        )


def test_plot_latent_scatter(fitted, data, close_figures):
    codes = fitted.transform(data)
    assert codes.shape == (N_SAMPLES, code_width(fitted))
    ax = plot_latent_scatter(codes, data[:, 0], dims=(1, 0), factor_name="feature 0")
    np.testing.assert_allclose(ax.collections[0].get_offsets(), codes[:, [1, 0]])
    np.testing.assert_allclose(ax.collections[0].get_array(), data[:, 0])
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("z1", "z0")


# ----------------------------------------------------------------------
# clone, set_params and model selection
# ----------------------------------------------------------------------
@family
def test_clone_and_set_params_reach_the_fitted_model(cls, data):
    name, value = FAMILY[cls].own_parameter
    vae = make_estimator(cls, lazy_decoder=True, max_epochs=1, **{name: value})
    copy = clone(vae)
    assert copy.get_params()[name] == value and copy.get_params()["max_epochs"] == 1
    assert copy.encoder is not vae.encoder
    # What GridSearchCV does: clone, then set_params.
    other = clone(vae).set_params(latent_dim=3, **{name: 2 * value}).fit(data)
    assert getattr(other.criterion, name) == 2 * value
    assert other.fc_mu.out_features == 3
    assert other.transform(data).shape == (N_SAMPLES, code_width(other))
    assert code_width(other) == code_width(vae) + 1
    assert getattr(vae.criterion, name) == value  # the original is untouched


@family
def test_grid_search_picks_the_likelihood_of_binary_data(cls):
    # On binary data a Bernoulli likelihood beats a Normal one by about
    # 0.13 nats per feature even before training (log 2 against 1/4 +
    # log(pi) / 2 at p = 1/2), and more once trained: the scores compare
    # only because they keep each likelihood's constants.
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(N_SAMPLES, 2)) @ rng.normal(size=(2, N_FEATURES)) > 0)
    X = X.astype(np.float32)
    vae = make_estimator(cls)
    vae.set_params(decoder=nn.Sequential(vae.decoder, nn.Sigmoid()))
    search = GridSearchCV(vae, {"default_dist": ["normal", "bernoulli"]}, cv=2).fit(X)
    normal, bernoulli = search.cv_results_["mean_test_score"]
    assert bernoulli > normal + 0.5
    assert search.best_params_ == {"default_dist": "bernoulli"}
    assert search.best_estimator_.criterion.default_dist == "bernoulli"
    assert search.best_estimator_.n_features_in_ == N_FEATURES
