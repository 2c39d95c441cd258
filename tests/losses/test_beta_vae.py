import math

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Laplace, Normal

from nidl.losses import BetaVAELoss

X = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
ZEROS = torch.zeros(2, 2)


@pytest.mark.parametrize(
    "dist, expected",
    [
        # Per-sample sums of squared errors 5 and 25, averaged over the batch.
        ("normal", 15.0),
        # Per-sample sums of absolute errors 3 and 7.
        ("laplace", 5.0),
    ],
)
def test_reconstruction_loss_of_tensor_mean(dist, expected):
    loss = BetaVAELoss(default_dist=dist).reconstruction_loss(ZEROS, X)
    assert loss.item() == pytest.approx(expected)


def test_bernoulli_reconstruction_loss_of_probabilities():
    data = torch.tensor([[1.0, 0.0]])
    probs = torch.tensor([[0.5, 0.25]])
    expected = -math.log(0.5) - math.log(0.75)
    loss = BetaVAELoss(default_dist="bernoulli").reconstruction_loss(probs, data)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "p, expected",
    [
        # The scale of a given distribution does not enter the default loss.
        (Normal(ZEROS, 3.0 * torch.ones(2, 2)), 15.0),
        (Laplace(ZEROS, 0.1 * torch.ones(2, 2)), 5.0),
    ],
)
def test_reconstruction_loss_of_distribution(p, expected):
    # default_dist does not matter when the decoder returns a distribution.
    loss = BetaVAELoss(default_dist="bernoulli").reconstruction_loss(p, X)
    assert loss.item() == pytest.approx(expected)


def test_bernoulli_logits_stay_finite_at_extremes():
    data = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    p = Bernoulli(logits=torch.tensor([[-100.0, 100.0, 100.0, -100.0]]))
    loss = BetaVAELoss().reconstruction_loss(p, data)
    # Two confidently wrong features cost 100 nats each, two right ones ~0.
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(200.0, rel=1e-6)


def test_kl_normal_loss_by_hand():
    q = Normal(torch.tensor([[1.0, 0.0], [0.0, 0.0]]),
               torch.tensor([[1.0, 2.0], [1.0, 1.0]]))
    # KL of N(1, 1) is 0.5; of N(0, 4) is 0.5 * (4 - 1 - log 4); of N(0, 1) is 0.
    first = 0.5 + 0.5 * (4.0 - 1.0 - math.log(4.0))
    assert BetaVAELoss().kl_normal_loss(q).item() == pytest.approx(first / 2, rel=1e-6)


def test_call_combines_terms_with_beta():
    q = Normal(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.ones(2, 2))
    losses = BetaVAELoss(beta=3.0)(X, ZEROS, q)
    assert set(losses) == {"loss", "rec_loss", "kl_loss"}
    assert all(value.ndim == 0 for value in losses.values())
    assert losses["rec_loss"].item() == pytest.approx(15.0)
    assert losses["kl_loss"].item() == pytest.approx(0.5)
    assert losses["loss"].item() == pytest.approx(15.0 + 3.0 * 0.5)


def test_loss_is_differentiable():
    mean = torch.zeros(2, 2, requires_grad=True)
    loc = torch.zeros(2, 3, requires_grad=True)
    losses = BetaVAELoss()(X, mean, Normal(loc, torch.ones(2, 3)))
    losses["loss"].backward()
    # d/dmean of the batch-averaged squared error is -(x - mean).
    torch.testing.assert_close(mean.grad, -X)


def test_unknown_default_dist_names_accepted_values():
    with pytest.raises(ValueError, match="'normal', 'laplace', 'bernoulli'"):
        BetaVAELoss(default_dist="gaussian")


@pytest.mark.parametrize(
    "p", [Categorical(probs=torch.ones(2, 2) / 2), [[0.0, 0.0], [0.0, 0.0]]]
)
def test_unsupported_decoder_output_raises_type_error(p):
    with pytest.raises(TypeError, match="decoder must return"):
        BetaVAELoss().reconstruction_loss(p, X)


def test_posterior_must_be_normal():
    with pytest.raises(TypeError, match="Normal"):
        BetaVAELoss().kl_normal_loss(Laplace(ZEROS, 1.0))


def test_decoder_output_of_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="decoder returns samples of shape"):
        BetaVAELoss().reconstruction_loss(torch.zeros(2, 3), X)
