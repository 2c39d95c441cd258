"""The VAE passes its optimiser step to the loss and logs the values in force."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from torch.utils.data import DataLoader, TensorDataset

from nidl.estimators.autoencoders import VAE
from nidl.losses import BetaVAELoss, CyclicalSchedule, LinearWarmup
from tests.conftest import History, history, make_estimator


class RecordingLoss(BetaVAELoss):
    """A beta-VAE loss that records the step of each call and its mode."""

    def __init__(self, beta):
        super().__init__(beta=beta)
        self.calls = []

    def __call__(self, x, p, q, step=None):
        self.calls.append((step, "train" if torch.is_grad_enabled() else "val"))
        return super().__call__(x, p, q, step=step)


class RecordingVAE(VAE):
    def _make_criterion(self, facts):
        return RecordingLoss(beta=self.beta)


def make_vae(cls=VAE, **params):
    return make_estimator(cls, **{"batch_size": 10, **params})


@pytest.fixture
def data():
    return np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)


def test_training_steps_get_the_step_counter_and_validation_does_not_advance_it(data):
    train = DataLoader(TensorDataset(torch.from_numpy(data[:30])), batch_size=10)
    val = DataLoader(TensorDataset(torch.from_numpy(data[30:])), batch_size=10)
    vae = make_vae(RecordingVAE).fit(train, val)
    assert vae.criterion.calls == [
        (0, "val"),  # the sanity check before training
        (0, "train"), (1, "train"), (2, "train"),
        (3, "val"),  # the step of the last update, not advanced
        (3, "train"), (4, "train"), (5, "train"),
        (6, "val"),
    ]


def test_scheduled_beta_is_applied_at_each_step_and_logged(data):
    beta = LinearWarmup(max_value=2.0, warmup_steps=6)
    vae = make_vae(beta=beta, max_epochs=2, callbacks=[History()]).fit(data)
    steps = history(vae).steps
    assert len(steps) == vae.n_steps_ == 8
    # The weight in force at each step, logged as it is used.
    assert [s["train/beta"] for s in steps] == pytest.approx(
        [beta(t) for t in range(8)]
    )
    assert steps[-1]["train/beta"] == 2.0


def test_constant_beta_is_logged_too(data):
    vae = make_vae(beta=2.5).fit(data)
    assert vae.history_["train/beta"] == [2.5] * vae.n_epochs_


def test_schedules_survive_clone_set_params_and_grid_search(data):
    schedule = CyclicalSchedule(max_value=1.0, total_steps=8, n_cycles=2)
    vae = make_vae(beta=schedule)
    copy = clone(vae)
    assert copy.beta == schedule and copy.beta is not schedule
    warmup = LinearWarmup(4.0, 4)
    assert clone(vae).set_params(beta=warmup).fit(data).criterion.beta == warmup
    search = GridSearchCV(make_vae(max_epochs=1), {"beta": [1.0, warmup]},
                          cv=2).fit(data)
    # Each candidate was trained with its own weight, the refit too.
    assert [params["beta"] for params in search.cv_results_["params"]] == [1.0, warmup]
    assert search.best_estimator_.criterion.beta == search.best_params_["beta"]


@pytest.mark.parametrize("beta, error", [(-1.0, ValueError), ("4", TypeError)])
def test_invalid_beta_fails_before_training(beta, error, data):
    vae = make_vae(beta=beta)
    with pytest.raises(error, match="beta"):
        vae.fit(data)
    assert not hasattr(vae, "n_steps_")
