"""Shared fixtures: tiny modules, a quiet Trainer configuration, the digits."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from nidl.estimators.autoencoders import VAE

#: Trainer options that keep test fits short and silent.
QUIET = {"max_epochs": 2, "enable_progress_bar": False, "accelerator": "cpu"}


def make_mlp_vae(n_features=8, latent_dim=2, hidden=16, lazy_decoder=False, **params):
    """A small MLP VAE for ``n_features`` inputs.

    With ``lazy_decoder=True`` the decoder's first layer infers its input
    width, so that ``latent_dim`` can change through ``set_params``.
    """
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU())
    first = nn.LazyLinear(hidden) if lazy_decoder else nn.Linear(latent_dim, hidden)
    decoder = nn.Sequential(first, nn.ReLU(), nn.Linear(hidden, n_features))
    options = {"lr": 1e-2, "random_state": 0, "batch_size": 16, **QUIET}
    options.update(params)
    return VAE(encoder, decoder, encoder_out_dim=hidden, latent_dim=latent_dim, **options)


@pytest.fixture
def small_data():
    """40 samples of 8 features, float32."""
    return np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)


@pytest.fixture(scope="session")
def digits():
    """The digits scaled to [0, 1], with their labels."""
    data = load_digits()
    return (data.data / 16.0).astype(np.float32), data.target
