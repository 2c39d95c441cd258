import numpy as np
import pytest

from nidl.estimators.autoencoders import CapacityBetaVAE
from nidl.losses import CapacityBetaVAELoss
from tests.conftest import History, history, make_estimator


def make_vae(n_features=8, hidden=16, **params):
    return make_estimator(CapacityBetaVAE, n_features, hidden=hidden, **params)


@pytest.fixture
def data():
    return np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)


def test_capacity_rises_with_the_steps_and_is_logged(data):
    vae = make_vae(gamma=5.0, capacity_max=4.0, capacity_steps=4,
                   callbacks=[History()]).fit(data)
    steps = history(vae).steps
    # 40 samples in batches of 16: 3 steps per epoch, 6 in all.
    assert [s["train/capacity"] for s in steps] == pytest.approx(
        [0.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    )


def test_builds_the_capacity_loss_from_its_parameters(data):
    vae = make_vae(gamma=5.0, capacity_min=1.0, capacity_max=4.0,
                   capacity_steps=10).fit(data)
    assert isinstance(vae.criterion, CapacityBetaVAELoss)
    assert (vae.criterion.gamma, vae.criterion.capacity_min, vae.criterion.capacity_max,
            vae.criterion.capacity_steps) == (5.0, 1.0, 4.0, 10)
    assert "beta" not in vae.get_params()


@pytest.mark.parametrize(
    "params, match",
    [({"gamma": -1.0}, "gamma"),
     ({"capacity_min": 2.0, "capacity_max": 1.0}, "capacity_max")],
)
def test_invalid_parameters_fail_before_training(params, match, data):
    vae = make_vae(**params)
    with pytest.raises(ValueError, match=match):
        vae.fit(data)
    assert not hasattr(vae, "n_steps_")
