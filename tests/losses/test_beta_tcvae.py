import math

import pytest
import torch
from torch.distributions import Normal

from nidl.losses import BetaTCVAELoss, LinearWarmup
from nidl.losses.beta_tcvae import log_importance_weights

LOG_NORMAL_0 = -0.5 * math.log(2 * math.pi)  # log N(0; 0, 1)


def test_importance_weights_by_hand():
    # N = 10, batch of 4, M = 3 others: own sample 1/10, last other
    # (10 - 3) / (10 * 3), the rest 1/3.
    weights = log_importance_weights(4, 10).exp()
    third, strat = 1 / 3, 7 / 30
    expected = torch.tensor(
        [
            [0.1, third, third, strat],
            [third, 0.1, third, strat],
            [third, third, 0.1, strat],
            [third, third, strat, 0.1],
        ]
    )
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(4))


def test_one_dimension_by_hand():
    # Two samples of a data set of 4, posteriors N(0, 1) and N(1, 1), each
    # sampled at its mean. Weights: 1/4 for the own sample, 3/4 for the other.
    q = Normal(torch.tensor([[0.0], [1.0]]), torch.ones(2, 1))
    mi, tc, dw_kl = BetaTCVAELoss(dataset_size=4).decompose_kl(q, q.loc)
    # log q(z_i) = log N(0; 0, 1) + log(1/4 + 3/4 exp(-1/2)) for both samples.
    log_mix = math.log(0.25 + 0.75 * math.exp(-0.5))
    assert mi.item() == pytest.approx(-log_mix, rel=1e-5)
    assert tc.item() == pytest.approx(0.0, abs=1e-6)  # one dimension: no correlation
    # log q(z) - log p(z): log_mix for z = 0, log_mix + 1/2 for z = 1.
    assert dw_kl.item() == pytest.approx(log_mix + 0.25, rel=1e-5)


def test_total_correlation_by_hand():
    # Two dimensions that move together: posteriors N((0, 0), I) and N((1, 1), I).
    q = Normal(torch.tensor([[0.0, 0.0], [1.0, 1.0]]), torch.ones(2, 2))
    mi, tc, dw_kl = BetaTCVAELoss(dataset_size=4).decompose_kl(q, q.loc)
    joint = math.log(0.25 + 0.75 * math.exp(-1.0))  # log q(z) - 2 log N(0; 0, 1)
    marginal = math.log(0.25 + 0.75 * math.exp(-0.5))  # per dimension
    assert mi.item() == pytest.approx(-joint, rel=1e-5)
    assert tc.item() == pytest.approx(joint - 2 * marginal, rel=1e-4)
    assert dw_kl.item() == pytest.approx(2 * marginal + 0.5, rel=1e-5)


def test_terms_sum_to_the_sampled_kl():
    # MI + TC + dimension-wise KL telescope to E[log q(z|x) - log p(z)].
    torch.manual_seed(0)
    q = Normal(torch.randn(16, 3), torch.rand(16, 3) + 0.5)
    z = q.sample()
    mi, tc, dw_kl = BetaTCVAELoss(dataset_size=1000).decompose_kl(q, z)
    sampled_kl = (q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(1).mean()
    torch.testing.assert_close(mi + tc + dw_kl, sampled_kl, rtol=1e-5, atol=1e-5)


def test_loss_weights_the_three_terms():
    q = Normal(torch.tensor([[0.0, 0.0], [1.0, 1.0]]), torch.ones(2, 2))
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    loss = BetaTCVAELoss(alpha=2.0, beta=LinearWarmup(6.0, 10), gamma=0.5,
                         dataset_size=4)
    terms = loss(x, torch.zeros(2, 2), q, step=5, z=q.loc)
    assert terms["beta"].item() == 3.0
    assert terms["rec_loss"].item() == pytest.approx(15.0)
    assert terms["kl_loss"].item() == pytest.approx(0.5)  # closed form, for monitoring
    expected = (15.0 + 2.0 * terms["mi_loss"] + 3.0 * terms["tc_loss"]
                + 0.5 * terms["dw_kl_loss"])
    assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_defaults_follow_chen_et_al():
    loss = BetaTCVAELoss()
    assert (loss.alpha, loss.beta, loss.gamma,
            loss.dataset_size) == (1.0, 6.0, 1.0, None)


def test_missing_dataset_size_says_what_to_set():
    q = Normal(torch.zeros(2, 2), torch.ones(2, 2))
    with pytest.raises(ValueError, match="set dataset_size"):
        BetaTCVAELoss()(torch.zeros(2, 2), torch.zeros(2, 2), q)


def test_batch_of_one_sample_is_refused():
    q = Normal(torch.zeros(1, 2), torch.ones(1, 2))
    with pytest.raises(ValueError, match="at least 2 samples per batch"):
        BetaTCVAELoss(dataset_size=10)(torch.zeros(1, 2), torch.zeros(1, 2), q)


def test_scheduled_beta_needs_the_step():
    q = Normal(torch.zeros(2, 2), torch.ones(2, 2))
    loss = BetaTCVAELoss(beta=LinearWarmup(6.0, 10), dataset_size=10)
    with pytest.raises(ValueError, match="step"):
        loss(torch.zeros(2, 2), torch.zeros(2, 2), q)


@pytest.mark.parametrize(
    "params, match",
    [({"alpha": -1.0}, "alpha"), ({"gamma": -1.0}, "gamma"),
     ({"dataset_size": 0}, "dataset_size")],
)
def test_invalid_parameters_name_the_parameter(params, match):
    with pytest.raises(ValueError, match=match):
        BetaTCVAELoss(**params)
