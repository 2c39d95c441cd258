"""Shared fixtures: tiny modules, a quiet Trainer configuration, the digits.

Every test that needs a small model of the VAE family builds it with
:func:`make_estimator` (or :func:`make_mlp_vae`, its VAE form); modules
alone come from :func:`mlp`.
"""

import numpy as np
import pytest
import torch
from pytorch_lightning.callbacks import Callback
from sklearn.datasets import load_digits
from torch import nn

from nidl.estimators.autoencoders import VAE, BetaTCVAE, CapacityBetaVAE, JointVAE

#: Trainer options that keep test fits short and silent.
QUIET = {"max_epochs": 2, "enable_progress_bar": False, "accelerator": "cpu"}

#: The estimators of the family, each with the parameters that keep its
#: tiny test fits stable (a capacity VAE's default gamma of 1000 and
#: 100000 capacity steps are meant for long trainings).
FAMILY = {
    VAE: {},
    CapacityBetaVAE: {"gamma": 10.0, "capacity_steps": 10},
    BetaTCVAE: {},
    JointVAE: {"categorical_dims": (3,)},
}


def mlp(n_features=8, code_dim=2, hidden=16, lazy_decoder=False):
    """An MLP encoder and decoder; a lazy decoder takes any code width."""
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU())
    first = nn.LazyLinear(hidden) if lazy_decoder else nn.Linear(code_dim, hidden)
    decoder = nn.Sequential(first, nn.ReLU(), nn.Linear(hidden, n_features))
    return encoder, decoder


def code_width(estimator):
    """Number of values in a code of ``estimator`` (what ``transform`` gives)."""
    params = estimator.get_params()
    return params["latent_dim"] + sum(params.get("categorical_dims", ()))


def make_estimator(cls=VAE, n_features=8, latent_dim=2, hidden=16, lazy_decoder=False,
                   **params):
    """A small MLP estimator of the family for ``n_features`` inputs.

    ``cls`` is one of the family or a subclass; ``params`` override the
    family's test parameters (:data:`FAMILY`) and the defaults below. With ``lazy_decoder=True`` the decoder's first
    layer infers its input width, so that ``latent_dim`` (or a joint VAE's
    ``categorical_dims``) can change through ``set_params``.
    """
    family_params = next(FAMILY[base] for base in cls.__mro__ if base in FAMILY)
    options = {"lr": 1e-2, "random_state": 0, "batch_size": 16, **QUIET, **family_params,
               **params}
    code_dim = latent_dim + sum(options.get("categorical_dims", ()))
    encoder, decoder = mlp(n_features, code_dim, hidden, lazy_decoder)
    return cls(encoder, decoder, encoder_out_dim=hidden, latent_dim=latent_dim, **options)


def make_mlp_vae(n_features=8, latent_dim=2, hidden=16, lazy_decoder=False, **params):
    """A small MLP :class:`~nidl.estimators.autoencoders.VAE`."""
    return make_estimator(VAE, n_features, latent_dim, hidden, lazy_decoder, **params)


def make_conv_vae(spatial_shape, **params):
    """A small 3-D convolutional VAE for volumes ``(n, 1, *spatial_shape)``."""
    from nidl.nn import ConvDecoder, ConvEncoder

    torch.manual_seed(0)
    options = {"max_epochs": 2, "enable_progress_bar": False, "accelerator": "cpu",
               "batch_size": 4, "random_state": 0, **params}
    return VAE(
        ConvEncoder(spatial_shape, in_channels=1, widths=4, depth=2, out_features=16),
        ConvDecoder(2, spatial_shape, out_channels=1, widths=4, depth=2),
        encoder_out_dim=16, latent_dim=2, **options,
    )


class History(Callback):
    """The trainer's metrics after each training step and each epoch."""

    def __init__(self):
        self.steps = []
        self.epochs = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.steps.append({k: float(v) for k, v in trainer.callback_metrics.items()})

    def on_train_epoch_end(self, trainer, pl_module):
        self.epochs.append({k: float(v) for k, v in trainer.callback_metrics.items()})


def history(estimator):
    """The History callback a fitted estimator trained with."""
    return next(c for c in estimator.trainer.callbacks if isinstance(c, History))


@pytest.fixture
def small_data():
    """40 samples of 8 features, float32."""
    return np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)


@pytest.fixture(scope="session")
def digits():
    """The digits scaled to [0, 1], with their labels."""
    data = load_digits()
    return (data.data / 16.0).astype(np.float32), data.target
