"""The estimator base as a user meets it: no tricks, parameters stay parameters.

Each test here is a behaviour that once failed: a dataset without labels,
covariates through fit_transform and Pipelines, the learned scale of every
estimator, set_params that only stores, a pickled Joint VAE that scores as
the original, construction that leaves the random streams alone, a clear
error for a parameter an estimator does not take, a fitted estimator that
holds no Trainer, and a user's own Trainer that builds what the parameters
call for.
"""

import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import sklearn
import torch
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from torch.utils.data import DataLoader, TensorDataset

from nidl.datasets import ImageDataFrameDataset
from nidl.estimators.autoencoders import VAE, ConditionalVAE, JointVAE
from tests.conftest import FAMILY, QUIET, make_estimator, make_mlp_vae, mlp

RNG = np.random.default_rng(0)
X = RNG.normal(size=(48, 8)).astype(np.float32)
C = RNG.normal(size=(48, 2)).astype(np.float32)


def make_cvae(**params):
    encoder, decoder = mlp(8, code_dim=2 + 2)
    options = {"lr": 1e-2, "random_state": 0, "batch_size": 16,
               "stochastic_transform": False, **QUIET, **params}
    return ConditionalVAE(encoder, decoder, encoder_out_dim=16, latent_dim=2,
                          n_covariates=2, **options)


# ----------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------
@pytest.mark.parametrize("return_none", [True, False])
def test_a_dataset_without_labels_trains_and_transforms(tmp_path, return_none):
    paths = []
    for index in range(12):
        np.save(tmp_path / f"image{index}.npy", X[index])
        paths.append(f"image{index}.npy")
    table = pd.DataFrame({"image_path": paths})
    dataset = ImageDataFrameDataset(
        tmp_path, table, return_none_if_no_label=return_none
    )
    item = dataset[0]
    # With the default, an item is the image alone; otherwise (image, None).
    assert isinstance(item, tuple) is (not return_none)
    vae = make_mlp_vae(stochastic_transform=False, batch_size=5).fit(dataset)
    Z = vae.transform(dataset)
    assert Z.shape == (12, 2)
    np.testing.assert_allclose(Z.numpy(), vae.transform(X[:12]), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------
# Covariates
# ----------------------------------------------------------------------
def test_fit_transform_carries_the_covariates():
    Z = make_cvae().fit_transform(X, covariates=C)
    assert Z.shape == (48, 2)
    two_steps = make_cvae().fit(X, covariates=C).transform(X, covariates=C)
    np.testing.assert_allclose(Z, two_steps, rtol=1e-5, atol=1e-6)


def test_a_pipeline_routes_the_covariates_to_fit_and_transform():
    y = X[:, 0] + C[:, 0]
    with sklearn.config_context(enable_metadata_routing=True):
        cvae = make_cvae().set_fit_request(covariates=True).set_transform_request(
            covariates=True)
        pipe = make_pipeline(cvae, Ridge().set_fit_request(sample_weight=False))
        pipe.fit(X, y, covariates=C)
        predicted = pipe.predict(X, covariates=C)
        # The covariates reached transform: other covariates, other codes.
        assert not np.allclose(predicted, pipe.predict(X, covariates=C + 3.0))
        # A clone (what a search fits) routes them as well.
        again = clone(pipe).fit(X, y, covariates=C).predict(X, covariates=C)
    assert predicted.shape == (48,)
    np.testing.assert_allclose(again, predicted, rtol=1e-5)


def test_a_clone_keeps_the_metadata_requests():
    with sklearn.config_context(enable_metadata_routing=True):
        cvae = make_cvae().set_fit_request(covariates=True)
        requests = clone(cvae).get_metadata_routing().fit.requests
    assert requests["covariates"] is True


def test_without_covariates_the_conditional_vae_is_the_vae():
    # n_covariates=0, the form scikit-learn's common checks drive.
    params = {"stochastic_transform": False}
    vae = make_mlp_vae(**params).fit(X)
    encoder, decoder = mlp(8, code_dim=2)
    cvae = ConditionalVAE(encoder, decoder, encoder_out_dim=16, latent_dim=2,
                          n_covariates=0, lr=1e-2, random_state=0, batch_size=16,
                          **QUIET, **params).fit(X)
    np.testing.assert_allclose(cvae.transform(X), vae.transform(X), rtol=1e-5)
    with pytest.raises(ValueError, match="covariates has 2 columns"):
        cvae.transform(X, covariates=C)


def test_covariates_are_arguments_not_state():
    cvae = make_cvae().fit(X, covariates=C)
    x, c = torch.from_numpy(X[:4]), torch.from_numpy(C[:4])
    # encode with and without a block: the same posterior, nothing left behind.
    first = cvae.encode(x, c).mean
    with pytest.raises(ValueError, match="given covariates"):
        cvae.encode(x)
    torch.testing.assert_close(cvae.encode(x, c).mean, first)


# ----------------------------------------------------------------------
# The learned scale starts at the data's scale, for every estimator
# ----------------------------------------------------------------------
@pytest.mark.parametrize("cls", list(FAMILY), ids=lambda cls: cls.__name__)
def test_every_estimator_learns_its_scale_from_the_datas_scale(cls):
    data = 0.01 * RNG.normal(size=(64, 8)).astype(np.float32)
    params = {"observation_scale": "shared", "lr": 1e-6, "max_epochs": 1,
              "batch_size": 32}
    if cls is ConditionalVAE:
        estimator = make_cvae(**params).fit(data, covariates=C[:1].repeat(64, 0))
    else:
        estimator = make_estimator(cls, **params).fit(data)
    # A learning rate of 1e-6 leaves the scale where it started.
    expected = float(data.std())
    assert float(estimator.observation_scale_) == pytest.approx(expected, rel=1e-3)


# ----------------------------------------------------------------------
# Parameters stay parameters
# ----------------------------------------------------------------------
def test_set_params_with_an_equal_value_changes_nothing():
    vae = make_mlp_vae(stochastic_transform=False).fit(X)
    before = vae.transform(X)
    vae.set_params(encoder_out_dim=16, latent_dim=2)
    assert vae.__sklearn_is_fitted__()
    np.testing.assert_array_equal(vae.transform(X), before)


def test_set_params_only_stores_until_the_next_fit():
    vae = make_mlp_vae(stochastic_transform=False, lazy_decoder=True).fit(X)
    before = vae.transform(X)
    vae.set_params(latent_dim=3, beta=4.0)
    # The fitted model is as it was ...
    np.testing.assert_array_equal(vae.transform(X), before)
    assert vae.criterion.beta == 1.0
    # ... and the next fit builds what the parameters say.
    vae.fit(X)
    assert vae.transform(X).shape == (48, 3)
    assert vae.criterion.beta == 4.0


def test_layers_and_loss_exist_after_construction():
    vae = make_mlp_vae()
    assert vae.fc_mu.out_features == 2 and vae.fc_logvar.in_features == 16
    assert vae.criterion.beta == 1.0


def test_construction_leaves_the_users_random_streams_alone():
    encoder, decoder = mlp()
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    VAE(encoder, decoder, encoder_out_dim=16, latent_dim=2)
    VAE(encoder, decoder, encoder_out_dim=16, latent_dim=2, random_state=3)
    torch.testing.assert_close(torch.rand(3), expected)


def test_the_same_random_state_builds_the_same_heads():
    first, second = make_mlp_vae(random_state=5), make_mlp_vae(random_state=5)
    torch.testing.assert_close(first.fc_mu.weight, second.fc_mu.weight)


def test_a_parameter_an_estimator_does_not_take_is_refused_before_training():
    # As in scikit-learn, constructing and set_params only store; fit says
    # which name is wrong before any work.
    joint = make_estimator(JointVAE, categorical_dims=(3,), stochastic_transform=False)
    with pytest.raises(TypeError, match="'stochastic_transform'.*neither one of its"):
        joint.fit(X)
    assert not joint.__sklearn_is_fitted__()
    with pytest.raises(TypeError, match="'max_epoch'"):
        make_mlp_vae(max_epoch=3).fit(X)
    with pytest.raises(TypeError, match="'lattent_dim'"):
        make_mlp_vae().set_params(lattent_dim=3).fit(X)


def test_a_pickled_joint_vae_scores_as_the_original():
    vae = make_estimator(JointVAE, categorical_dims=(3,), temperature=1.0,
                         min_temperature=0.1, temperature_steps=4,
                         max_epochs=3).fit(X)
    copy = pickle.loads(pickle.dumps(vae))
    assert copy.score(X) == pytest.approx(vae.score(X), rel=1e-6)
    np.testing.assert_allclose(copy.transform(X), vae.transform(X), rtol=1e-6)


# ----------------------------------------------------------------------
# A fitted estimator: no Trainer, no data, a history
# ----------------------------------------------------------------------
def test_a_fitted_estimator_holds_no_trainer_and_no_data():
    loader = DataLoader(TensorDataset(torch.from_numpy(X)), batch_size=16)
    vae = make_mlp_vae().fit(loader)
    with pytest.raises(RuntimeError, match="not attached"):
        vae.trainer  # noqa: B018
    held = [value for value in vars(vae).values()
            if isinstance(value, (DataLoader, pl.Trainer, torch.Tensor))]
    assert held == []


def test_history_holds_the_training_and_validation_loss_of_each_epoch():
    vae = make_mlp_vae(max_epochs=3).fit(X[:32], val_dataloader=X[32:])
    for name in ("train/loss", "train/rec_loss", "train/kl_loss", "val/loss"):
        assert len(vae.history_[name]) == 3
    assert vae.history_["train/loss"][-1] < vae.history_["train/loss"][0]


# ----------------------------------------------------------------------
# A Trainer of the user's
# ----------------------------------------------------------------------
def test_a_users_trainer_builds_the_layers_the_parameters_call_for():
    vae = make_mlp_vae(lazy_decoder=True).set_params(latent_dim=3)
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(vae, DataLoader(torch.from_numpy(X), batch_size=16))
    assert vae.fc_mu.out_features == 3
    assert vae.n_features_in_ == 8 and vae.n_steps_ == 3
    assert len(vae.history_["train/loss"]) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_inference_runs_where_training_ran():
    vae = make_mlp_vae(accelerator="gpu", devices=1).fit(X)
    assert vae.device.type == "cuda"
    vae.transform(X)
    assert vae.device.type == "cuda"


# ----------------------------------------------------------------------
# Public APIs only
# ----------------------------------------------------------------------
PRIVATE_NAMES = re.compile(
    r"\._trainer\b|_every_n_train_steps|_current_fx_name|_automatic_optimization"
    r"|torch\.utils\._|_foreach_utils|\._modules\b|_load_from_state_dict"
    r"|_get_param_names|_metadata_request\b|_sklearn_output_config|__dict__\["
)


def test_nidl_reads_no_private_name_of_lightning_torch_or_scikit_learn():
    root = Path(__file__).resolve().parents[2] / "nidl"
    found = [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if PRIVATE_NAMES.search(line)
    ]
    assert found == []
