"""The VAE as a scikit-learn citizen: cloning, pipelines, search, persistence."""

import pickle
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone, is_clusterer
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn

from nidl.estimators.autoencoders import VAE, JointVAE
from tests.conftest import (
    FAMILY,
    QUIET,
    decoder_width,
    deterministic,
    make_mlp_vae,
    member,
    needs_covariates,
)
from tests.estimators._mirror import mirrored_mlp

#: Estimator checks the family fails by design, with the reason.
EXPECTED_FAILED_CHECKS = {
    "check_no_attributes_set_in_init": (
        "the estimators are LightningModules, whose constructor sets 'training', "
        "'prepare_data_per_node' and "
        "'allow_zero_length_dataloader_with_multiple_devices', "
        "and they build their heads and loss at construction, as the reference API does"
    ),
    "check_estimators_overwrite_params": (
        "the encoder and decoder parameters are the networks that fit trains "
        "(vae.encoder is the trained encoder, as in the reference API); every fit "
        "and every clone starts again from their initial state"
    ),
}

#: Checks that compare a method's outputs on permuted or split data: the
#: one posterior draw per sample of score_samples depends on the sample's
#: place in the data (transform and predict do not; see
#: test_deterministic_outputs_do_not_depend_on_sample_order).
POSITIONAL_DRAWS = {
    name: "score_samples estimates each ELBO with one posterior draw, which "
    "depends on the sample's position in the data"
    for name in ("check_methods_sample_order_invariance",
                 "check_methods_subset_invariance")
}

#: The members the common checks drive: every one. The checks pass no
#: metadata, so a conditional VAE is checked with n_covariates=0, the model
#: that conditions on nothing and takes no covariates; with covariates, it
#: is checked as a scikit-learn citizen by test_conditional_vae.py and
#: test_foundation.py (clone, Pipelines and searches that route them).
CHECKED = list(FAMILY)


def mirrored(cls, **params):
    """An estimator of ``cls`` that adapts to any number of features.

    A member that needs covariates gets ``n_covariates=0`` (see CHECKED).
    """
    own = {**member(cls).params}
    if needs_covariates(cls):
        own["n_covariates"] = 0
    torch.manual_seed(0)
    encoder, decoder = mirrored_mlp(
        hidden=8, latent_dim=decoder_width({"latent_dim": 2, **own, **params})
    )
    return cls(
        encoder, decoder, encoder_out_dim=8, latent_dim=2, lr=1e-2,
        random_state=0, batch_size=32, max_epochs=1, enable_progress_bar=False,
        **{**own, **params},
    )


def checked_estimators():
    for cls in CHECKED:
        if not deterministic(cls):  # its codes have no draw to switch off
            yield mirrored(cls)
            continue
        yield mirrored(cls, stochastic_transform=False)
        yield mirrored(cls, stochastic_transform=True)


#: The clusterer's check reads labels_, the clusters of the training data.
NO_TRAINING_LABELS = {
    "check_clustering": "JointVAE keeps no labels_: they would take a pass over "
    "the training data after every fit (a DataLoader may read it from disk); "
    "fit_predict gives them",
}


def expected_failures(estimator):
    failures = dict(EXPECTED_FAILED_CHECKS)
    if isinstance(estimator, JointVAE):
        failures.update(NO_TRAINING_LABELS)
    if not get_tags(estimator).non_deterministic:
        failures.update(POSITIONAL_DRAWS)
    return failures


@parametrize_with_checks(list(checked_estimators()),
                         expected_failed_checks=expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("cls", CHECKED, ids=lambda cls: cls.__name__)
def test_deterministic_outputs_do_not_depend_on_sample_order(cls, small_data):
    estimator = mirrored(cls, **deterministic(cls)).fit(small_data)
    order = np.random.default_rng(0).permutation(len(small_data))
    methods = [estimator.transform]
    if is_clusterer(estimator):  # its predict gives each sample's category
        methods.append(estimator.predict)
    for method in methods:
        whole = method(small_data)
        np.testing.assert_allclose(method(small_data[order]), whole[order], rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(method(small_data[:7]), whole[:7], rtol=1e-5,
                                   atol=1e-6)


# ----------------------------------------------------------------------
# get_params, set_params, clone
# ----------------------------------------------------------------------
def test_trainer_options_are_parameters():
    vae = make_mlp_vae(max_epochs=3, gradient_clip_val=1.0)
    params = vae.get_params()
    assert params["max_epochs"] == 3 and params["gradient_clip_val"] == 1.0
    cloned = clone(vae)
    assert cloned.get_params()["max_epochs"] == 3
    assert cloned.get_params()["gradient_clip_val"] == 1.0


def test_set_params_acts_like_the_constructor(small_data):
    vae = make_mlp_vae(latent_dim=2)
    new_encoder = nn.Sequential(nn.Linear(8, 32), nn.Tanh())
    new_decoder = nn.Sequential(nn.Linear(16, 8), nn.Sigmoid())
    search_like = clone(vae).set_params(
        latent_dim=16, encoder=new_encoder, encoder_out_dim=32,
        decoder=new_decoder, default_dist="bernoulli", beta=4, max_epochs=1,
    )
    X = (small_data - small_data.min()) / (small_data.max() - small_data.min())
    search_like.fit(X)
    assert search_like.transform(X).shape == (len(X), 16)
    assert search_like.fc_mu.out_features == 16 and search_like.fc_mu.in_features == 32
    assert search_like.criterion.default_dist == "bernoulli"
    assert search_like.criterion.beta == 4
    assert search_like.n_epochs_ == 1
    assert search_like.encoder is new_encoder


def test_clone_of_fitted_estimator_trains_as_the_original(small_data):
    vae = make_mlp_vae(stochastic_transform=False).fit(small_data)
    again = clone(vae)
    assert not again.__sklearn_is_fitted__()
    np.testing.assert_array_equal(again.fit(small_data).transform(small_data),
                                  vae.transform(small_data))


def test_clone_keeps_weights_shared_between_encoder_and_decoder(small_data):
    shared = nn.Linear(8, 8)
    encoder = nn.Sequential(shared, nn.ReLU())
    decoder = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), shared)
    vae = VAE(encoder, decoder, 8, 2, random_state=0, **QUIET)
    cloned = clone(vae)
    assert cloned.encoder[0] is cloned.decoder[2]
    assert cloned.encoder[0] is not shared


def test_unknown_trainer_option_fails_at_fit_naming_it(small_data):
    vae = make_mlp_vae().set_params(max_epoch=3)
    with pytest.raises(TypeError, match="max_epoch"):
        vae.fit(small_data)


# ----------------------------------------------------------------------
# Model selection and pipelines
# ----------------------------------------------------------------------
def test_cross_val_score_without_a_scorer(small_data):
    scores = cross_val_score(make_mlp_vae(), small_data, cv=2)
    assert scores.shape == (2,) and np.all(np.isfinite(scores))


def test_pipeline_scaler_vae_logistic_regression(digits):
    X, y = digits
    X, y = X[:300], y[:300]
    pipe = make_pipeline(
        StandardScaler(),
        make_mlp_vae(n_features=64, latent_dim=8, hidden=64, stochastic_transform=False,
                     max_epochs=10),
        LogisticRegression(max_iter=1000),
    ).fit(X, y)
    # Far above the 0.1 of chance: the latent means keep the class structure.
    assert pipe.score(X, y) > 0.5


def test_pipeline_minmax_bernoulli_and_grid_search_over_steps(digits):
    X, y = digits
    X, y = X[:200], y[:200]
    decoder = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 64),
                            nn.Sigmoid())
    vae = VAE(nn.Sequential(nn.Linear(64, 32), nn.ReLU()), decoder, 32, 4,
              default_dist="bernoulli", lr=1e-2, random_state=0, batch_size=32, **QUIET)
    pipe = make_pipeline(MinMaxScaler(), vae, LogisticRegression(max_iter=500))
    search = GridSearchCV(pipe, {"vae__beta": [0.5, 2.0]}, cv=2).fit(X, y)
    assert set(search.best_params_) == {"vae__beta"}


def test_feature_union_and_column_transformer(small_data):
    union = FeatureUnion([("vae", make_mlp_vae(latent_dim=2)),
                          ("pca", PCA(n_components=3))])
    out = union.fit_transform(small_data)
    assert out.shape == (len(small_data), 5)
    assert list(union.get_feature_names_out()) == [
        "vae__vae0", "vae__vae1", "pca__pca0", "pca__pca1", "pca__pca2"
    ]
    wide = np.hstack([small_data, small_data[:, :2]])
    columns = ColumnTransformer(
        [("vae", make_mlp_vae(latent_dim=3), list(range(8))),
         ("raw", "passthrough", [8, 9])]
    )
    out = columns.fit_transform(wide)
    assert out.shape == (len(wide), 5)
    np.testing.assert_array_equal(out[:, 3:], wide[:, 8:])


# ----------------------------------------------------------------------
# Feature names, pandas output, inverse_transform
# ----------------------------------------------------------------------
def test_feature_names_and_pandas_output(small_data):
    frame = pd.DataFrame(small_data, columns=[f"voxel{i}" for i in range(8)])
    vae = make_mlp_vae(latent_dim=3).fit(frame)
    assert vae.n_features_in_ == 8
    assert list(vae.feature_names_in_) == list(frame.columns)
    assert list(vae.get_feature_names_out()) == ["vae0", "vae1", "vae2"]
    out = vae.set_output(transform="pandas").transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == ["vae0", "vae1", "vae2"]
    assert len(out) == len(frame)


def test_inverse_transform_through_a_pipeline(small_data):
    pipe = make_pipeline(StandardScaler(),
                         make_mlp_vae(stochastic_transform=False)).fit(small_data)
    Z = pipe.transform(small_data)
    back = pipe.inverse_transform(Z)
    assert back.shape == small_data.shape
    vae = pipe[-1]
    expected = pipe[0].inverse_transform(vae.inverse_transform(Z))
    np.testing.assert_allclose(back, expected, rtol=1e-6)


def test_inverse_transform_refuses_codes_of_the_wrong_width(small_data):
    vae = make_mlp_vae(latent_dim=2).fit(small_data)
    with pytest.raises(ValueError, match="latent_dim=2"):
        vae.inverse_transform(np.zeros((3, 5)))


# ----------------------------------------------------------------------
# Tags and fitted state
# ----------------------------------------------------------------------
@pytest.mark.parametrize("stochastic", [True, False])
def test_tags_tell_the_truth(stochastic):
    tags = get_tags(make_mlp_vae(stochastic_transform=stochastic))
    assert tags.non_deterministic is stochastic
    assert tags.requires_fit
    assert tags.transformer_tags is not None
    assert tags.input_tags.allow_nan is False


def test_is_fitted_only_after_fit(small_data):
    vae = make_mlp_vae()
    assert not vae.__sklearn_is_fitted__()
    assert vae.fit(small_data).__sklearn_is_fitted__()


def test_fit_transform_equals_fit_then_transform(small_data):
    first = make_mlp_vae(stochastic_transform=False).fit_transform(small_data)
    second = make_mlp_vae(stochastic_transform=False).fit(small_data)
    second = second.transform(small_data)
    np.testing.assert_array_equal(first, second)


# ----------------------------------------------------------------------
# Persistence
# ----------------------------------------------------------------------
LOAD_AND_TRANSFORM = textwrap.dedent(
    """
    import sys, pickle, joblib, numpy as np, torch
    path, kind, data, out = sys.argv[1:]
    assert not torch.cuda.is_available()
    vae = pickle.load(open(path, "rb")) if kind == "pickle" else joblib.load(path)
    np.save(out, vae.transform(np.load(data)))
    """
)


@pytest.mark.slow  # loads the estimator in a fresh Python process
@pytest.mark.parametrize("kind", ["pickle", "joblib"])
def test_round_trip_in_a_fresh_process(kind, small_data, tmp_path):
    vae = make_mlp_vae(stochastic_transform=False).fit(small_data)
    # Where the estimator was trained on a GPU, it rests on the CPU after fit
    # and only remembers the device: a machine without one uses its CPU.
    vae._fit_device = "cuda:0"
    path = tmp_path / "vae.bin"
    if kind == "pickle":
        path.write_bytes(pickle.dumps(vae))
    else:
        joblib.dump(vae, path)
    np.save(tmp_path / "X.npy", small_data)
    subprocess.run(
        [sys.executable, "-c", LOAD_AND_TRANSFORM, str(path), kind,
         str(tmp_path / "X.npy"), str(tmp_path / "Z.npy")],
        check=True, env={"CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"},
    )
    vae._fit_device = "cpu"
    np.testing.assert_array_equal(np.load(tmp_path / "Z.npy"),
                                  vae.transform(small_data))
