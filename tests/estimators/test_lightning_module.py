"""The VAE family as LightningModules: usable from construction, by any Trainer.

The first tests follow what the upstream package's own unit tests of its VAE
check on a freshly constructed model (attributes, forward pass, sampling,
steps, optimiser); the others train with a Trainer of the user's own.
"""

import pickle

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from sklearn.base import clone, is_clusterer
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nidl.estimators.autoencoders import VAE, BetaTCVAE
from nidl.losses import BetaVAELoss
from tests.conftest import (
    FAMILY,
    code_width,
    deterministic,
    make_estimator,
    needs_covariates,
)

N_SAMPLES, N_FEATURES, LATENT_DIM = 24, 8, 2

#: The members these tests drive with batches of samples alone: a
#: conditional VAE encodes, decodes and trains only given covariates.
UNCONDITIONAL = [cls for cls in FAMILY if not needs_covariates(cls)]


def make(cls, **params):
    # Steps called outside fit, by hand or by a Trainer of the user's own,
    # are not told the size of the dataset by fit.
    own = {"dataset_size": N_SAMPLES} if FAMILY[cls].needs_dataset_size else {}
    params = {"latent_dim": LATENT_DIM, "batch_size": 8, **own, **params}
    return make_estimator(cls, N_FEATURES, **params)


@pytest.fixture
def x():
    return torch.from_numpy(
        np.random.default_rng(0).normal(size=(N_SAMPLES, N_FEATURES)).astype(np.float32)
    )


def quiet_trainer(**options):
    return pl.Trainer(
        **{"max_epochs": 2, "enable_progress_bar": False, "accelerator": "cpu",
           "logger": False, "enable_model_summary": False,
           "enable_checkpointing": False,
           **options}
    )


family = pytest.mark.parametrize(
    "cls", UNCONDITIONAL, ids=lambda cls: cls.__name__
)


@family
def test_heads_and_criterion_exist_after_construction(cls):
    vae = make(cls)
    for head in (vae.fc_mu, vae.fc_logvar):
        assert isinstance(head, nn.Linear)
        assert (head.in_features, head.out_features) == (16, LATENT_DIM)
    assert isinstance(vae.criterion, BetaVAELoss)
    assert {"encoder", "decoder", "fc_mu",
            "fc_logvar"} <= dict(vae.named_children()).keys()


@family
def test_forward_on_an_untrained_model_gives_codes_with_gradients(cls, x):
    vae = make(cls)
    z = vae(x)
    assert z.shape == (N_SAMPLES, code_width(vae))
    z.pow(2).sum().backward()
    assert vae.fc_mu.weight.grad is not None and vae.fc_mu.weight.grad.abs().sum() > 0
    assert vae.encoder[0].weight.grad.abs().sum() > 0


@family
def test_sample_on_an_untrained_model(cls):
    assert make(cls).sample(5).shape == (5, N_FEATURES)


@family
def test_training_and_validation_steps_outside_a_trainer(cls, x):
    vae = make(cls)
    train = vae.training_step(x, 0)
    assert {"loss", "rec_loss", "kl_loss"} <= train.keys()
    assert train["loss"].ndim == 0 and torch.isfinite(train["loss"])
    assert train["loss"].requires_grad
    with torch.no_grad():
        val = vae.validation_step((x, torch.zeros(N_SAMPLES)), 0)
    assert val.keys() == train.keys()
    assert all(torch.isfinite(value) for value in val.values())


@pytest.mark.parametrize(
    "cls", [cls for cls in UNCONDITIONAL if deterministic(cls)],
    ids=lambda cls: cls.__name__,
)
def test_deterministic_transform_step_is_the_posterior_mean(cls, x):
    vae = make(cls, **deterministic(cls))
    with torch.no_grad():
        torch.testing.assert_close(vae.transform_step(x, 0), vae.fc_mu(vae.encoder(x)))


@family
def test_configure_optimizers_returns_a_list_holding_one_adamw(cls):
    vae = make(cls, lr=3e-3, weight_decay=0.5)
    optimizers = vae.configure_optimizers()
    assert isinstance(optimizers, list) and len(optimizers) == 1
    (optimizer,) = optimizers
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.defaults["lr"] == 3e-3
    assert optimizer.defaults["weight_decay"] == 0.5
    optimized = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in vae.parameters()}


@family
def test_one_optimiser_step_changes_the_weights(cls, x):
    vae = make(cls)
    (optimizer,) = vae.configure_optimizers()
    before = [p.detach().clone() for p in vae.parameters()]
    vae.training_step(x, 0)["loss"].backward()
    optimizer.step()
    changed = [not torch.equal(b, p) for b, p in zip(before, vae.parameters())]
    assert all(changed)


@family
def test_set_params_stores_and_a_clone_builds_new_heads(cls):
    vae = make(cls)
    vae.set_params(latent_dim=5, encoder_out_dim=12)
    # set_params only stores; a clone is constructed, and so built.
    assert vae.fc_mu.out_features == 2 and vae.fc_mu.in_features == 16
    cloned = clone(vae)
    assert cloned.fc_mu.out_features == cloned.fc_logvar.out_features == 5
    assert cloned.fc_mu.in_features == 12


def test_set_params_keeps_the_fitted_loss_and_heads_until_the_next_fit(x):
    vae = make(VAE, stochastic_transform=False).fit(x)
    before = vae.transform(x)
    vae.set_params(beta=4.0)
    assert vae.criterion.beta == 1.0
    torch.testing.assert_close(vae.transform(x), before)
    assert vae.fit(x).criterion.beta == 4.0


def test_invalid_parameters_are_reported_when_training_starts(x):
    vae = make(VAE, latent_dim=0)  # constructing stores, as scikit-learn does
    with pytest.raises(ValueError, match="latent_dim == 0"):
        quiet_trainer().fit(vae, DataLoader(TensorDataset(x), batch_size=8))


@family
def test_a_model_trained_by_the_users_trainer_is_a_fitted_estimator(cls, x, tmp_path):
    vae = make(cls)
    initial = clone(vae)
    trainer = quiet_trainer(
        enable_checkpointing=True, callbacks=[ModelCheckpoint(dirpath=tmp_path)]
    )
    trainer.fit(vae, DataLoader(TensorDataset(x), batch_size=8))
    check_is_fitted(vae)
    assert vae.n_features_in_ == N_FEATURES and vae.sample_shape_ == (N_FEATURES,)
    assert (vae.n_epochs_, vae.n_steps_) == (2, trainer.global_step) == (2, 6)
    Z = vae.transform(x.numpy())
    assert Z.shape == (N_SAMPLES, code_width(vae)) and np.isfinite(Z).all()
    assert vae.inverse_transform(Z).shape == (N_SAMPLES, N_FEATURES)
    assert np.isfinite(vae.score(x.numpy()))
    assert vae.sample(3).shape == (3, N_FEATURES)
    restored = pickle.loads(pickle.dumps(vae))
    np.testing.assert_array_equal(restored.transform(x.numpy()), Z)
    # The checkpoint gives back a fitted estimator with the same weights.
    path = trainer.checkpoint_callback.best_model_path
    loaded = make(cls).load_checkpoint(path)
    np.testing.assert_array_equal(loaded.transform(x.numpy()), Z)
    # A later fit starts from the modules' state before the Trainer's fit,
    # as a clone made before it does.
    np.testing.assert_array_equal(
        vae.fit(x.numpy()).transform(x.numpy()),
        initial.fit(x.numpy()).transform(x.numpy())
    )


def test_beta_tcvae_trained_by_a_trainer_takes_the_dataset_size_from_its_loader(x):
    vae = make(BetaTCVAE, dataset_size=None)
    quiet_trainer().fit(vae, DataLoader(TensorDataset(x), batch_size=8))
    assert vae.dataset_size_ == vae.criterion.dataset_size == N_SAMPLES


def test_a_trainer_fit_checks_the_data_of_its_first_batch(x):
    x = x.clone()
    x[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        quiet_trainer().fit(make(VAE), DataLoader(TensorDataset(x), batch_size=8))


@family
def test_trainer_predict_gives_the_transform(cls, x):
    vae = make(cls, **deterministic(cls))
    vae.fit(x)
    loader = DataLoader(TensorDataset(x), batch_size=5)
    if is_clusterer(vae):
        # A clusterer predicts categories, as its predict does.
        batches = quiet_trainer().predict(vae, loader)
        np.testing.assert_array_equal(torch.cat(batches).numpy(),
                                      vae.predict(x.numpy()))
        return
    batches = quiet_trainer().predict(vae, loader)
    torch.testing.assert_close(torch.cat(batches), vae.transform(x))


@pytest.mark.parametrize("kind", ["ndarray", "tensor", "dataset", "dataloader"])
def test_transform_with_targets_keeps_targets_in_input_order(kind, x):
    vae = make(VAE, stochastic_transform=False).fit(x)
    y = torch.arange(N_SAMPLES) * 10
    data = {
        "ndarray": (x.numpy(), y.numpy()),
        "tensor": (x, y),
        "dataset": (TensorDataset(x, y), None),
        "dataloader": (DataLoader(TensorDataset(x, y), batch_size=5), None),
    }[kind]
    features, targets = vae.transform_with_targets(*data)
    expected = vae.transform(x)
    if kind == "ndarray":
        assert isinstance(features, np.ndarray) and isinstance(targets, np.ndarray)
        features, targets = torch.from_numpy(features), torch.from_numpy(targets)
    torch.testing.assert_close(features, expected)
    assert targets.tolist() == y.tolist()


def test_transform_with_targets_says_where_the_targets_are_missing(x):
    vae = make(VAE).fit(x)
    with pytest.raises(ValueError, match="needs y"):
        vae.transform_with_targets(x)
    with pytest.raises(ValueError, match=r"batches of \(x, y\)"):
        vae.transform_with_targets(DataLoader(TensorDataset(x), batch_size=5))
    with pytest.raises(ValueError, match="carries its own targets"):
        vae.transform_with_targets(TensorDataset(x, x[:, 0]), x[:, 0])
