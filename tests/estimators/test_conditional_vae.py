"""ConditionalVAE: covariates in every method, in pipelines and searches."""

import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader, TensorDataset

from nidl.estimators.autoencoders import VAE, ConditionalVAE
from tests.conftest import make_estimator


def make_cvae(n_features=8, n_covariates=2, **params):
    return make_estimator(ConditionalVAE, n_features, lazy_decoder=True,
                          n_covariates=n_covariates, **params)


@pytest.fixture
def data_and_covariates():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 8)).astype(np.float32)
    C = rng.normal(size=(48, 2)).astype(np.float32)
    return X, C


def site_cohort(n=150, seed=0):
    """Data where a one-hot site shifts every feature, mixed with a 2-d factor."""
    rng = np.random.default_rng(seed)
    site = rng.integers(0, 3, n)
    onehot = np.eye(3, dtype=np.float32)[site]
    offsets = rng.normal(scale=2.0, size=(3, 16))
    factor = rng.normal(size=(n, 2))
    X = (onehot @ offsets + factor @ rng.normal(size=(2, 16))
         + 0.1 * rng.normal(size=(n, 16)))
    return X.astype(np.float32), onehot, site


def test_codes_and_reconstructions_for_array_tensor_and_loader_input(
    data_and_covariates,
):
    X, C = data_and_covariates
    cvae = make_cvae(stochastic_transform=False).fit(X, covariates=C)
    Z = cvae.transform(X, covariates=C)
    assert isinstance(Z, np.ndarray) and Z.shape == (48, 2)
    assert cvae.inverse_transform(Z, covariates=C).shape == (48, 8)
    tensor_codes = cvae.transform(torch.from_numpy(X), covariates=torch.from_numpy(C))
    assert isinstance(tensor_codes, torch.Tensor)
    loader = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(C)),
                        batch_size=10)
    # The loader's batches carry the covariates as (x, covariates).
    np.testing.assert_allclose(cvae.transform(loader).numpy(), Z, rtol=1e-5, atol=1e-6)


def test_a_loader_of_samples_and_covariates_trains_as_arrays_do(data_and_covariates):
    X, C = data_and_covariates
    from_arrays = make_cvae(stochastic_transform=False).fit(X, covariates=C)
    dataset = TensorDataset(torch.from_numpy(X), torch.from_numpy(C))
    from_dataset = make_cvae(stochastic_transform=False).fit(dataset)
    assert from_dataset.n_steps_ == from_arrays.n_steps_
    assert np.isfinite(from_dataset.transform(X, covariates=C)).all()


def test_covariates_collated_one_tensor_per_column_are_read(data_and_covariates):
    X, C = data_and_covariates

    class Labelled(torch.utils.data.Dataset):
        # Items as (image, (label1, label2)), as a dataset of several label
        # columns gives them.
        def __len__(self):
            return len(X)

        def __getitem__(self, i):
            return torch.from_numpy(X[i]), (float(C[i, 0]), float(C[i, 1]))

    cvae = make_cvae(stochastic_transform=False).fit(X, covariates=C)
    np.testing.assert_allclose(cvae.transform(Labelled()).numpy(),
                               cvae.transform(X, covariates=C), rtol=1e-5, atol=1e-6)


def test_the_codes_depend_on_the_covariates(data_and_covariates):
    X, C = data_and_covariates
    cvae = make_cvae(stochastic_transform=False).fit(X, covariates=C)
    Z = cvae.transform(X, covariates=C)
    assert not np.allclose(Z, cvae.transform(X, covariates=C + 1.0))
    # Counterfactuals: the same codes decoded with other covariates differ.
    assert not np.allclose(cvae.inverse_transform(Z, covariates=C),
                           cvae.inverse_transform(Z, covariates=C + 1.0))


def test_score_is_the_mean_of_score_samples(data_and_covariates):
    X, C = data_and_covariates
    cvae = make_cvae().fit(X, covariates=C)
    elbo, terms = cvae.score_samples(X, covariates=C, return_terms=True)
    assert elbo.shape == (48,) and np.isfinite(elbo).all()
    np.testing.assert_allclose(elbo, -(terms["rec_loss"] + terms["kl_loss"]), rtol=1e-5)
    assert cvae.score(X, covariates=C) == pytest.approx(float(np.mean(elbo)), rel=1e-5)


def test_sample_generates_for_given_covariates(data_and_covariates):
    X, C = data_and_covariates
    cvae = make_cvae().fit(X, covariates=C)
    assert cvae.sample(5, covariates=[0.5, -1.0]).shape == (5, 8)
    assert cvae.sample(3, covariates=C[:3]).shape == (3, 8)
    with pytest.raises(ValueError, match="covariates"):
        cvae.sample(3)


@pytest.mark.parametrize("method", ["transform", "score", "score_samples"])
def test_missing_covariates_are_refused_with_the_fix(data_and_covariates, method):
    X, C = data_and_covariates
    cvae = make_cvae().fit(X, covariates=C)
    with pytest.raises(ValueError, match=f"set_{method}_request"):
        getattr(cvae, method)(X)


def test_bad_covariates_are_refused_before_training(data_and_covariates):
    X, C = data_and_covariates
    with pytest.raises(ValueError, match="n_covariates=2"):
        make_cvae().fit(X, covariates=C[:, :1])
    with pytest.raises(ValueError, match="47 rows for 48 samples"):
        make_cvae().fit(X, covariates=C[:47])
    with pytest.raises(ValueError, match="NaN"):
        make_cvae().fit(X, covariates=np.where(C > 1.5, np.nan, C))
    with pytest.raises(ValueError, match="fit needs the covariates"):
        make_cvae().fit(X)
    loader = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(C)),
                        batch_size=8)
    with pytest.raises(ValueError, match="one or the other"):
        make_cvae().fit(loader, covariates=C)
    with pytest.raises(ValueError, match="without them"):
        make_cvae().fit(DataLoader(TensorDataset(torch.from_numpy(X)), batch_size=8))


def test_a_failed_refit_leaves_the_fitted_model(data_and_covariates):
    X, C = data_and_covariates
    cvae = make_cvae(stochastic_transform=False).fit(X, covariates=C)
    before = cvae.transform(X, covariates=C)
    with pytest.raises(ValueError):
        cvae.fit(X, covariates=C[:, :1])
    np.testing.assert_array_equal(cvae.transform(X, covariates=C), before)


def test_set_params_n_covariates_then_clone_builds_new_heads(data_and_covariates):
    X, C = data_and_covariates
    cvae = make_cvae(n_covariates=2)
    cvae.set_params(n_covariates=3)
    assert cvae.fc_mu.in_features == 16 + 2  # set_params only stores
    assert clone(cvae).fc_mu.in_features == 16 + 3
    C3 = np.hstack([C, C[:, :1]])
    refitted = clone(cvae).fit(X, covariates=C3)
    assert refitted.transform(X, covariates=C3).shape == (48, 2)


def test_covariates_are_routed_through_pipelines_and_cross_validation(
    data_and_covariates,
):
    X, C = data_and_covariates
    with sklearn.config_context(enable_metadata_routing=True):
        cvae = make_cvae(stochastic_transform=False).set_fit_request(covariates=True)
        cvae.set_transform_request(covariates=True).set_score_request(covariates=True)
        pipe = make_pipeline(StandardScaler(), cvae).fit(X, covariates=C)
        assert pipe.transform(X, covariates=C).shape == (48, 2)
        scores = cross_val_score(pipe, X, cv=3, params={"covariates": C})
        assert scores.shape == (3,) and np.isfinite(scores).all()
        # clone (what searches do) keeps the requests.
        assert clone(cvae).get_metadata_routing().fit.requests["covariates"] is True


def test_grid_search_with_covariates_prefers_the_model_that_fits_better():
    X, C, _ = site_cohort(90)
    with sklearn.config_context(enable_metadata_routing=True):
        cvae = make_cvae(16, 3, max_epochs=20, stochastic_transform=False)
        cvae.set_fit_request(covariates=True).set_score_request(covariates=True)
        # A learning rate of 1e-6 leaves the model where it started.
        search = GridSearchCV(cvae, {"lr": [1e-6, 1e-2]}, cv=3).fit(X, covariates=C)
    assert search.best_params_ == {"lr": 1e-2}


def test_conditioning_on_site_removes_site_from_the_latents():
    X, onehot, site = site_cohort()
    options = {"max_epochs": 60, "stochastic_transform": False, "beta": 1.0}
    vae = make_estimator(VAE, 16, latent_dim=2, **options).fit(X)
    cvae = make_cvae(16, 3, **options).fit(X, covariates=onehot)

    def site_accuracy(Z):
        return cross_val_score(LogisticRegression(), Z, site, cv=5).mean()

    vae_accuracy = site_accuracy(vae.transform(X))
    cvae_accuracy = site_accuracy(cvae.transform(X, covariates=onehot))
    assert vae_accuracy > 0.9
    assert cvae_accuracy < vae_accuracy - 0.3


def test_transform_with_targets_is_refused(data_and_covariates):
    X, C = data_and_covariates
    cvae = make_cvae().fit(X, covariates=C)
    with pytest.raises(TypeError, match="covariates"):
        cvae.transform_with_targets(X, np.zeros(48))
