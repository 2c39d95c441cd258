"""Every bad input is refused before any training step, with a clear error.

Each case names the input, the error type and a pattern the message must
contain. A fitted estimator that is given bad input for a refit keeps its
fitted state and transforms exactly as before.
"""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from nidl.estimators.autoencoders import VAE
from tests.conftest import QUIET

N_FEATURES = 8


class CountingEncoder(nn.Module):
    """An MLP encoder that counts the batches it sees in training mode."""

    def __init__(self, out_features=16):
        super().__init__()
        self.layer = nn.Linear(N_FEATURES, out_features)
        self.training_calls = 0

    def forward(self, x):
        if self.training:
            self.training_calls += 1
        return torch.relu(self.layer(x))


class Strings(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, index):
        return "not a tensor"


def make_vae(encoder_out_dim=16, decoder_out=N_FEATURES, **params):
    torch.manual_seed(0)
    decoder = nn.Sequential(nn.Linear(max(params.get("latent_dim", 2), 1), 16), nn.ReLU(), nn.Linear(16, decoder_out))
    options = {"encoder_out_dim": encoder_out_dim, "latent_dim": 2, "random_state": 0,
               "stochastic_transform": False, **QUIET}
    options.update(params)
    return VAE(CountingEncoder(), decoder, **options)


rng = np.random.default_rng(0)
GOOD = rng.normal(size=(20, N_FEATURES)).astype(np.float32)
with_nan = GOOD.copy()
with_nan[3, 2] = np.nan
with_inf = GOOD.copy()
with_inf[0, 0] = np.inf

#: (case, constructor parameters, data, error type, message pattern)
BAD_INPUTS = [
    ("NaN in the data", {}, with_nan, ValueError, "Input X contains NaN"),
    ("inf in the data", {}, with_inf, ValueError, "Input X contains infinity"),
    ("NaN in a tensor", {}, torch.from_numpy(with_nan), ValueError, "contains NaN"),
    ("NaN in a DataLoader's first batch", {},
     DataLoader(TensorDataset(torch.from_numpy(with_nan)), batch_size=8), ValueError, "contains NaN"),
    ("empty array", {}, np.zeros((0, N_FEATURES), np.float32), ValueError, "0 sample"),
    ("empty Dataset", {}, TensorDataset(torch.zeros(0, N_FEATURES)), ValueError, "empty Dataset"),
    ("empty DataLoader", {}, DataLoader(TensorDataset(torch.zeros(0, N_FEATURES))), ValueError,
     "empty DataLoader"),
    ("one-dimensional data", {}, GOOD[0], ValueError, "Expected 2D array"),
    ("non-numeric data", {}, np.array([["a"] * N_FEATURES] * 4), ValueError, "could not convert"),
    ("Dataset of strings", {}, Strings(), ValueError, "could not convert string to float"),
    ("encoder_out_dim not what the encoder returns", {"encoder_out_dim": 12}, GOOD, ValueError,
     r"encoder_out_dim=12; set encoder_out_dim=16"),
    ("decoder output not shaped like the input", {"decoder_out": 5}, GOOD, ValueError,
     r"decoder returns samples of shape \(5,\)"),
    ("latent_dim < 1", {"latent_dim": 0}, GOOD, ValueError, "latent_dim == 0, must be >= 1"),
    ("negative beta", {"beta": -1.0}, GOOD, ValueError, "beta"),
    ("unknown default_dist", {"default_dist": "poisson"}, GOOD, ValueError,
     "'normal', 'laplace', 'bernoulli'"),
    ("batch_size < 1", {"batch_size": 0}, GOOD, ValueError, "batch_size == 0, must be >= 1"),
    ("misspelt Trainer option", {"max_epoch": 2}, GOOD, TypeError, "max_epoch"),
]


@pytest.mark.parametrize(
    "params, data, error, match", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS]
)
def test_bad_input_fails_before_training(params, data, error, match):
    vae = make_vae(**params)
    with pytest.raises(error, match=match):
        vae.fit(data)
    assert vae.encoder.training_calls == 0
    assert not vae.__sklearn_is_fitted__()


def test_encoder_must_be_a_module():
    vae = VAE(lambda x: x, nn.Linear(2, N_FEATURES), 8, 2, **QUIET)
    with pytest.raises(TypeError, match="encoder must be a torch.nn.Module"):
        vae.fit(GOOD)


@pytest.mark.parametrize(
    "data, match",
    [
        (GOOD[:, :5], "X has 5 features, but VAE is expecting 8 features"),
        (GOOD.reshape(20, 2, 4), r"X has 2 features"),
        (GOOD[:, :, None], r"samples of shape \(8, 1\)"),
        (with_nan, "contains NaN"),
    ],
    ids=["wrong number of features", "wrong sample shape", "extra sample axis", "NaN"],
)
def test_fitted_estimator_refuses_bad_data_for_transform(data, match):
    vae = make_vae().fit(GOOD)
    with pytest.raises(ValueError, match=match):
        vae.transform(data)


@pytest.mark.parametrize("params, data, error, match", [case[1:] for case in BAD_INPUTS[:2]])
def test_failed_refit_leaves_the_fitted_estimator_as_it_was(params, data, error, match):
    vae = make_vae().fit(GOOD)
    before = vae.transform(GOOD)
    steps = vae.n_steps_
    # A new beta keeps the trained layers (a new latent_dim would build new
    # heads at once, before fit).
    with pytest.raises(error, match=match):
        vae.set_params(beta=2.0).fit(data)
    np.testing.assert_array_equal(vae.transform(GOOD), before)
    assert vae.n_steps_ == steps and vae.n_features_in_ == N_FEATURES
