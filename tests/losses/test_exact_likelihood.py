import math

import pytest
import torch
from torch.distributions import Bernoulli, Laplace, Normal

from nidl.losses import BetaVAELoss

DATA = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
MEAN = torch.tensor([[0.0, 0.0], [0.0, 2.0]])
# Squared errors 1, 0, 0, 4; absolute errors 1, 0, 0, 2; two samples.


def test_normal_with_learned_scale_gives_full_gaussian_nll():
    scale = torch.tensor([[2.0, 1.0], [0.5, 1.0]])
    loss = BetaVAELoss(exact_likelihood=True).reconstruction_loss(
        Normal(MEAN, scale), DATA
    )
    # -log N(x; m, s) = (x - m)^2 / (2 s^2) + log s + log(2 pi) / 2
    per_feature = [
        1.0 / 8.0 + math.log(2.0),
        0.0 + 0.0,
        0.0 + math.log(0.5),
        4.0 / 2.0 + 0.0,
    ]
    expected = (sum(per_feature) + 4 * 0.5 * math.log(2 * math.pi)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_laplace_with_learned_scale_gives_full_nll():
    loss = BetaVAELoss(exact_likelihood=True).reconstruction_loss(
        Laplace(MEAN, 2.0), DATA
    )
    # -log Laplace(x; m, b) = |x - m| / b + log(2 b)
    expected = ((1.0 + 2.0) / 2.0 + 4 * math.log(4.0)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "dist, expected",
    [
        # A tensor stands for a Normal of variance 1/2: squared error plus
        # log(pi) / 2 per feature; a Laplace of scale 1: absolute error plus log 2.
        ("normal", (5.0 + 4 * 0.5 * math.log(math.pi)) / 2),
        ("laplace", (3.0 + 4 * math.log(2.0)) / 2),
    ],
)
def test_tensor_output_gets_the_constants_of_its_likelihood(dist, expected):
    loss = BetaVAELoss(default_dist=dist,
                       exact_likelihood=True).reconstruction_loss(MEAN, DATA)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_bernoulli_is_already_exact():
    probs = torch.tensor([[0.5, 0.25]])
    data = torch.tensor([[1.0, 0.0]])
    expected = -math.log(0.5) - math.log(0.75)
    for exact in (False, True):
        loss = BetaVAELoss(default_dist="bernoulli", exact_likelihood=exact)
        assert loss.reconstruction_loss(probs, data).item() == pytest.approx(
            expected, rel=1e-6
        )
        p = Bernoulli(probs=probs)
        assert loss.reconstruction_loss(p, data).item() == pytest.approx(
            expected, rel=1e-6
        )


def test_default_ignores_the_scale_and_constants():
    # Default numbers do not change: half the sum of squared errors 5.
    loss = BetaVAELoss().reconstruction_loss(Normal(MEAN, 3.0 * torch.ones(2, 2)), DATA)
    assert loss.item() == pytest.approx(2.5)


def test_learned_scale_receives_a_gradient_only_with_the_exact_likelihood():
    log_scale = torch.zeros(2, 2, requires_grad=True)
    p = Normal(MEAN, log_scale.exp())
    BetaVAELoss(exact_likelihood=True).reconstruction_loss(p, DATA).backward()
    # d/dlog s of (x - m)^2 / (2 s^2) + log s at s = 1: 1 - (x - m)^2, halved by
    # the batch mean.
    expected = (1.0 - (DATA - MEAN) ** 2) / 2
    torch.testing.assert_close(log_scale.grad, expected)
