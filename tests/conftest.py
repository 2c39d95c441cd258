"""Shared fixtures: tiny modules, a quiet Trainer configuration, the digits.

The estimators of the VAE family under test are listed once, in
:data:`FAMILY`: adding a variant to the tests means adding its entry there.
Every test that needs a small model of the family builds it with
:func:`make_estimator` (or :func:`make_mlp_vae`, its VAE form); modules
alone come from :func:`mlp`.
"""

import inspect
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from pytorch_lightning.callbacks import Callback
from sklearn.datasets import load_digits
from torch import nn

from nidl.estimators.autoencoders import (
    VAE,
    BetaTCVAE,
    CapacityBetaVAE,
    ConditionalVAE,
    JointVAE,
)

#: Trainer options that keep test fits short and silent.
QUIET = {"max_epochs": 2, "enable_progress_bar": False, "accelerator": "cpu"}


@dataclass(frozen=True)
class Member:
    """How the tests build and train one estimator of the family.

    Parameters
    ----------
    params : dict
        Parameters that keep its tiny test fits stable (a capacity VAE's
        default gamma of 1000 and 100000 capacity steps are meant for long
        trainings); :func:`make_estimator` applies them.
    digits : dict
        Parameters of its training on the digits, over :data:`DIGITS`.
    terms : tuple of str
        Terms of its loss that it logs besides ``loss``, ``rec_loss`` and
        ``kl_loss``.
    own_parameter : (str, object)
        A parameter of its own loss, and a value other than its test
        default.
    needs_dataset_size : bool
        Whether a model driven outside ``fit`` (its steps called by hand)
        must be told the size of its dataset, which ``fit`` reads from the
        data.
    """

    params: dict = field(default_factory=dict)
    digits: dict = field(default_factory=dict)
    terms: tuple = ()
    own_parameter: tuple = ("beta", 4.0)
    needs_dataset_size: bool = False


#: The estimators of the family, each with what the tests need to know of it.
FAMILY = {
    VAE: Member(),
    CapacityBetaVAE: Member(
        params={"gamma": 10.0, "capacity_steps": 10},
        # A constant capacity, so that the objective does not move during
        # training.
        digits={"capacity_min": 3.0, "capacity_max": 3.0, "capacity_steps": 0},
        own_parameter=("capacity_max", 7.0),
    ),
    BetaTCVAE: Member(
        terms=("mi_loss", "tc_loss", "dw_kl_loss"),
        own_parameter=("gamma", 2.0),
        needs_dataset_size=True,
    ),
    JointVAE: Member(
        params={"categorical_dims": (3,)},
        # Constant capacities, so that the objective does not move during
        # training; one category per digit.
        digits={
            "latent_dim": 4, "categorical_dims": (10,), "continuous_gamma": 10.0,
            "continuous_capacity_min": 3.0, "continuous_capacity_max": 3.0,
            "continuous_capacity_steps": 0, "discrete_gamma": 10.0,
            "discrete_capacity_min": 2.0, "discrete_capacity_max": 2.0,
            "discrete_capacity_steps": 0,
        },
        terms=("continuous_kl_loss", "discrete_kl_loss"),
        own_parameter=("discrete_gamma", 3.0),
    ),
    # On the digits, conditioned on the one-hot digit class (10 covariates).
    ConditionalVAE: Member(params={"n_covariates": 1}),
}

#: Options of every member's training on the digits (:attr:`Member.digits`).
DIGITS = {"n_features": 64, "hidden": 32, "batch_size": 128, "max_epochs": 3}


def member(cls):
    """The entry of :data:`FAMILY` of ``cls``, or of the member it derives from."""
    return next(FAMILY[base] for base in cls.__mro__ if base in FAMILY)


def needs_covariates(cls):
    """Whether ``cls`` is fitted, and encodes and decodes, given covariates."""
    return "n_covariates" in member(cls).params


def deterministic(cls):
    """Parameters that make the codes of ``cls`` free of random draws.

    Most members draw their codes unless ``stochastic_transform=False``; the
    others (a joint VAE, whose codes are means and class probabilities) have
    no such parameter and no draw.
    """
    takes_it = "stochastic_transform" in inspect.signature(cls).parameters
    return {"stochastic_transform": False} if takes_it else {}


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


def decoder_width(params):
    """Number of inputs of the decoder of an estimator of ``params``.

    A code, followed by the covariates of a conditional VAE.
    """
    return (params["latent_dim"] + sum(params.get("categorical_dims", ()))
            + params.get("n_covariates", 0))


def make_estimator(cls=VAE, n_features=8, latent_dim=2, hidden=16,
                   lazy_decoder=False, **params):
    """A small MLP estimator of the family for ``n_features`` inputs.

    ``cls`` is one of the family or a subclass; ``params`` override the
    family's test parameters (:attr:`Member.params`) and the defaults below.
    With ``lazy_decoder=True`` the decoder's first layer infers its input
    width, so that ``latent_dim`` (or a joint VAE's ``categorical_dims``) can
    change through ``set_params``.
    """
    options = {"lr": 1e-2, "random_state": 0, "batch_size": 16, **QUIET,
               **member(cls).params, **params}
    code_dim = decoder_width({"latent_dim": latent_dim, **options})
    encoder, decoder = mlp(n_features, code_dim, hidden, lazy_decoder)
    return cls(encoder, decoder, encoder_out_dim=hidden, latent_dim=latent_dim,
               **options)


def make_mlp_vae(n_features=8, latent_dim=2, hidden=16, lazy_decoder=False,
                 **params):
    """A small MLP :class:`~nidl.estimators.autoencoders.VAE`."""
    return make_estimator(VAE, n_features, latent_dim, hidden, lazy_decoder,
                          **params)


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
    """The trainer's metrics after each training step and each epoch.

    A fit trains with copies of the callbacks it is given; this one is its
    own copy, so that the test reads what the fit recorded.
    """

    def __init__(self):
        self.steps = []
        self.epochs = []

    def __deepcopy__(self, memo):
        return self

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.steps.append({k: float(v) for k, v in trainer.callback_metrics.items()})

    def on_train_epoch_end(self, trainer, pl_module):
        self.epochs.append({k: float(v) for k, v in trainer.callback_metrics.items()})


class KeepTrainer(Callback):
    """Keeps the Trainer of a fit, which a fitted estimator does not hold."""

    def __init__(self):
        self.trainer = None

    def __deepcopy__(self, memo):
        return self  # the fit's copy is this one, which the test reads

    def on_fit_start(self, trainer, pl_module):
        self.trainer = trainer


def history(estimator):
    """The History callback a fitted estimator trained with."""
    callbacks = estimator.get_params()["callbacks"]
    return next(c for c in callbacks if isinstance(c, History))


@pytest.fixture
def small_data():
    """40 samples of 8 features, float32."""
    return np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)


@pytest.fixture(scope="session")
def digits():
    """The digits scaled to [0, 1], with their labels."""
    data = load_digits()
    return (data.data / 16.0).astype(np.float32), data.target
