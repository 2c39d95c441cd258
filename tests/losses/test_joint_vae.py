import math

import pytest
import torch
from torch.distributions import Normal, RelaxedOneHotCategorical

from nidl.losses import JointPosterior, JointVAELoss

X = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
ZEROS = torch.zeros(2, 2)


def posterior(probs_list, temperature=0.5):
    # Continuous part: N(1, 1) and N(0, 1) per sample, a KL of 0.5.
    continuous = Normal(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.ones(2, 2))
    categoricals = [
        RelaxedOneHotCategorical(torch.tensor(temperature), probs=torch.tensor(probs))
        for probs in probs_list
    ]
    return JointPosterior(continuous, categoricals)


def test_discrete_kl_by_hand():
    # KL(p || uniform over K) = sum_k p_k log(K p_k).
    probs = [[0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]]
    q = posterior([probs])
    first = 0.7 * math.log(4 * 0.7) + 3 * 0.1 * math.log(4 * 0.1)
    assert JointVAELoss().kl_categorical_loss(q).item() == pytest.approx(
        first / 2, rel=1e-5
    )


def test_discrete_kl_sums_over_categoricals():
    q = posterior([[[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    # One-hot posteriors hold log K nats: log 2 + log 3 per sample.
    expected = math.log(2) + math.log(3)
    assert JointVAELoss().kl_categorical_loss(q).item() == pytest.approx(
        expected, rel=1e-5
    )


@pytest.mark.parametrize(
    "step, continuous, discrete",
    [
        (0, 1.0, 0.0),
        (5, 3.0, 1.0),  # continuous: 1 + (5 - 1) * 5 / 10; discrete: 10 * 5 / 50
        (10, 5.0, math.log(2) + math.log(3)),  # discrete 2.0 capped at log 2 + log 3
        (99, 5.0, math.log(2) + math.log(3)),
    ],
)
def test_capacities_rise_and_discrete_is_capped(step, continuous, discrete):
    loss = JointVAELoss(
        continuous_gamma=2.0, continuous_capacity_min=1.0, continuous_capacity_max=5.0,
        continuous_capacity_steps=10, discrete_gamma=3.0, discrete_capacity_max=10.0,
        discrete_capacity_steps=50,
    )
    q = posterior([[[0.5, 0.5], [0.5, 0.5]], [[1 / 3] * 3, [1 / 3] * 3]])
    terms = loss(X, ZEROS, q, step=step)
    assert terms["continuous_capacity"].item() == pytest.approx(continuous)
    assert terms["discrete_capacity"].item() == pytest.approx(discrete, rel=1e-6)
    # Uniform posteriors: no discrete KL; continuous KL 0.5; reconstruction 15.
    assert terms["discrete_kl_loss"].item() == pytest.approx(0.0, abs=1e-6)
    assert terms["continuous_kl_loss"].item() == pytest.approx(0.5)
    assert terms["kl_loss"].item() == pytest.approx(0.5)
    expected = 15.0 + 2.0 * abs(0.5 - continuous) + 3.0 * abs(0.0 - discrete)
    assert terms["loss"].item() == pytest.approx(expected, rel=1e-6)


def test_defaults_follow_the_reference_notes():
    loss = JointVAELoss()
    assert (loss.continuous_gamma, loss.discrete_gamma) == (30.0, 30.0)
    assert loss.capacities(12500, [10]) == pytest.approx((12.5, math.log(10)))
    assert loss.capacities(12500, [10] * 20) == pytest.approx((12.5, 12.5))
    assert loss.capacities(25000, [10] * 20) == pytest.approx((25.0, 25.0))


def test_step_is_required():
    with pytest.raises(ValueError, match="step"):
        JointVAELoss()(X, ZEROS, posterior([[[0.5, 0.5], [0.5, 0.5]]]))


def test_posterior_must_be_joint():
    with pytest.raises(TypeError, match="JointPosterior"):
        JointVAELoss()(X, ZEROS, Normal(ZEROS, 1.0), step=0)


def test_joint_posterior_samples_and_means():
    torch.manual_seed(0)
    q = posterior([[[0.9, 0.1], [0.2, 0.8]]], temperature=0.1)
    z = q.rsample()
    assert z.shape == (2, 4)
    # Relaxed one-hot samples lie on the simplex.
    torch.testing.assert_close(z[:, 2:].sum(1), torch.ones(2))
    torch.testing.assert_close(q.mean[:, 2:], torch.tensor([[0.9, 0.1], [0.2, 0.8]]))
    torch.testing.assert_close(q.mean[:, :2], torch.tensor([[1.0, 0.0], [1.0, 0.0]]))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"continuous_gamma": -1.0}, "continuous_gamma"),
        ({"discrete_capacity_min": 3.0, "discrete_capacity_max": 1.0},
         "discrete_capacity_max"),
        ({"continuous_capacity_steps": 1.5}, "continuous_capacity_steps"),
    ],
)
def test_invalid_parameters_name_the_parameter(params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        JointVAELoss(**params)
