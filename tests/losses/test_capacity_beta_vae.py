import pytest
import torch
from torch.distributions import Normal

from nidl.losses import BetaVAELoss, CapacityBetaVAELoss

X = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
ZEROS = torch.zeros(2, 2)
# Reconstruction 15 (squared errors 5 and 25, averaged); KL of N(1, 1) 0.5.
Q = Normal(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.ones(2, 2))


@pytest.mark.parametrize(
    "step, capacity",
    [(0, 0.0), (2, 1.0), (4, 2.0), (8, 4.0), (100, 4.0)],
)
def test_loss_pulls_kl_towards_rising_capacity(step, capacity):
    loss = CapacityBetaVAELoss(gamma=2.0, capacity_max=4.0, capacity_steps=8)
    terms = loss(X, ZEROS, Q, step=step)
    assert terms["capacity"].item() == pytest.approx(capacity)
    assert terms["rec_loss"].item() == pytest.approx(15.0)
    assert terms["kl_loss"].item() == pytest.approx(0.5)
    assert terms["loss"].item() == pytest.approx(15.0 + 2.0 * abs(0.5 - capacity))


def test_capacity_starts_at_capacity_min():
    loss = CapacityBetaVAELoss(capacity_min=1.0, capacity_max=3.0, capacity_steps=4)
    assert [loss.capacity(s) for s in (0, 2, 4, 9)] == [1.0, 2.0, 3.0, 3.0]


def test_defaults_follow_burgess_et_al():
    loss = CapacityBetaVAELoss()
    assert (loss.gamma, loss.capacity_min, loss.capacity_max, loss.capacity_steps) == (
        1000.0, 0.0, 25.0, 100000,
    )
    assert loss.capacity(50000) == pytest.approx(12.5)


def test_shares_the_likelihood_of_beta_vae_loss():
    p = Normal(ZEROS, 3.0 * torch.ones(2, 2))
    capacity = CapacityBetaVAELoss(default_dist="laplace")
    reference = BetaVAELoss(default_dist="laplace")
    assert (capacity.reconstruction_loss(ZEROS, X).item()
            == reference.reconstruction_loss(ZEROS, X).item())
    assert capacity.reconstruction_loss(p, X).item() == pytest.approx(15.0)


def test_step_is_required():
    with pytest.raises(ValueError, match=r"needs the training step.*step=step"):
        CapacityBetaVAELoss()(X, ZEROS, Q)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"gamma": -1.0}, "gamma"),
        ({"capacity_min": -1.0}, "capacity_min"),
        ({"capacity_min": 5.0, "capacity_max": 1.0}, "capacity_max"),
        ({"capacity_steps": -1}, "capacity_steps"),
        ({"default_dist": "gauss"}, "default_dist"),
    ],
)
def test_invalid_parameters_name_the_parameter(params, match):
    with pytest.raises(ValueError, match=match):
        CapacityBetaVAELoss(**params)
