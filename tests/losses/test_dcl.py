import math

import pytest
import torch

from nidl.losses import DCLLoss, DCLWLoss


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def dcl_by_hand(z1, z2, tau, weights=None):
    """Yeh et al.'s decoupled loss, one anchor at a time: -w s_pos + log sum_neg."""
    views = z1.tolist() + z2.tolist()
    n = len(z1)
    weights = [1.0] * n if weights is None else list(weights)
    total = 0.0
    for i, anchor in enumerate(views):
        p = (i + n) % (2 * n)
        negatives = sum(
            math.exp(cosine(anchor, other) / tau)
            for k, other in enumerate(views) if k not in (i, p)
        )
        total += -weights[i % n] * cosine(anchor, views[p]) / tau + math.log(negatives)
    return total / (2 * n)


def von_mises_fisher_by_hand(z1, z2, sigma):
    """w_i = 2 - exp(cos_i / sigma) / mean_j exp(cos_j / sigma)."""
    terms = [math.exp(cosine(a, b) / sigma) for a, b in zip(z1.tolist(), z2.tolist())]
    mean = sum(terms) / len(terms)
    return [2 - term / mean for term in terms]


def views(n, d, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=generator, dtype=torch.float64),
            torch.randn(n, d, generator=generator, dtype=torch.float64))


@pytest.mark.parametrize("tau", [0.1, 1.0, 5.0])
@pytest.mark.parametrize("n, d", [(2, 1), (2, 3), (7, 4)])
def test_dcl_matches_the_formula_anchor_by_anchor(tau, n, d):
    z1, z2 = views(n, d, seed=n * d)
    loss = DCLLoss(temperature=tau)(z1, z2)
    assert loss.item() == pytest.approx(dcl_by_hand(z1, z2, tau), rel=1e-6, abs=1e-9)


def test_dcl_weights_each_positive_in_both_directions():
    z1, z2 = views(5, 3)
    weights = torch.tensor([0.5, 1.0, 2.0, 0.0, 3.0], dtype=torch.float64)
    received = []

    def pos_weight_fn(a, b):
        received.append((a, b))
        return weights

    loss = DCLLoss(temperature=0.5, pos_weight_fn=pos_weight_fn)(z1, z2)
    expected = dcl_by_hand(z1, z2, 0.5, weights.tolist())
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # The weighting function sees the L2-normalised views.
    a, b = received[0]
    torch.testing.assert_close(a.norm(dim=1), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(b, z2 / z2.norm(dim=1, keepdim=True))


@pytest.mark.parametrize("sigma, tau", [(0.5, 0.1), (0.2, 1.0), (2.0, 0.3)])
def test_dclw_matches_the_formula_anchor_by_anchor(sigma, tau):
    z1, z2 = views(6, 4, seed=3)
    loss = DCLWLoss(sigma=sigma, temperature=tau)
    weights = von_mises_fisher_by_hand(z1, z2, sigma)
    assert loss(z1, z2).item() == pytest.approx(dcl_by_hand(z1, z2, tau, weights),
                                                rel=1e-6, abs=1e-9)
    computed = loss.von_mises_fisher_weights(z1, z2)
    torch.testing.assert_close(computed, torch.tensor(weights, dtype=torch.float64))
    assert computed.mean().item() == pytest.approx(1.0)


def test_orthogonal_embeddings_by_hand():
    # Each view: similarity 1 with its positive, 0 with its two negatives.
    z = torch.eye(2)
    assert DCLLoss(temperature=0.5)(z, z).item() == pytest.approx(-2 + math.log(2))
    # Equally close pairs: every von Mises-Fisher weight is 1.
    assert DCLWLoss(temperature=0.5)(z, z).item() == pytest.approx(-2 + math.log(2))


@pytest.mark.parametrize("make_loss", [
    lambda tau: DCLLoss(temperature=tau),
    lambda tau: DCLWLoss(sigma=tau, temperature=tau),
])
@pytest.mark.parametrize("tau", [0.1, 1.0, 5.0])
@pytest.mark.parametrize("d", [1, 10])
def test_aligned_views_cost_less_than_random_ones(make_loss, tau, d):
    z1, z2 = views(10, d)
    loss = make_loss(tau)
    aligned, random = loss(z1, z1), loss(z1, z2)
    assert aligned.ndim == 0 and torch.isfinite(aligned)
    assert aligned <= random


@pytest.mark.parametrize("loss", [DCLLoss(), DCLWLoss()])
def test_gradients_reach_both_views(loss):
    z1, z2 = (z.requires_grad_() for z in views(4, 3))
    loss(z1, z2).backward()
    for z in (z1, z2):
        assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_dclw_is_dcl_with_its_weighting():
    loss = DCLWLoss(sigma=0.5, temperature=0.2)
    assert callable(loss.pos_weight_fn)
    assert loss.temperature == 0.2 and loss.sigma == 0.5


def test_repr():
    assert repr(DCLLoss()) == "DCLLoss(temperature=0.1, pos_weight_fn=None)"
    assert repr(DCLWLoss(sigma=0.5, temperature=0.2)) == (
        "DCLWLoss(sigma=0.5, temperature=0.2)"
    )


@pytest.mark.parametrize("loss", [DCLLoss(), DCLWLoss()])
def test_a_batch_of_one_is_refused(loss):
    z = torch.randn(1, 4)
    with pytest.raises(ValueError, match="needs at least 2 samples per batch"):
        loss(z, z)


def test_views_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        DCLLoss()(torch.randn(4, 3), torch.randn(3, 3))


def test_pos_weight_fn_must_be_callable():
    with pytest.raises(ValueError, match="pos_weight_fn"):
        DCLLoss(pos_weight_fn="string_fn")


def test_pos_weight_fn_must_return_one_weight_per_sample():
    loss = DCLLoss(pos_weight_fn=lambda z1, z2: torch.ones(len(z1) + 1))
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        loss(torch.randn(4, 3), torch.randn(4, 3))


@pytest.mark.parametrize("make", [
    lambda: DCLLoss(temperature=-0.1),
    lambda: DCLLoss(temperature=0.0),
    lambda: DCLWLoss(temperature=-1.0),
])
def test_temperature_must_be_positive(make):
    with pytest.raises(ValueError, match="temperature"):
        make()


@pytest.mark.parametrize("sigma", [0.0, -0.5])
def test_sigma_must_be_positive(sigma):
    with pytest.raises(ValueError, match="sigma"):
        DCLWLoss(sigma=sigma)
