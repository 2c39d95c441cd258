import math

import pytest
import torch

from nidl.losses import InfoNCE


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def infonce_by_hand(z1, z2, tau):
    """NT-Xent as SimCLR writes it: one anchor at a time, positive below."""
    views = z1.tolist() + z2.tolist()
    n = len(z1)
    total = 0.0
    for i, anchor in enumerate(views):
        positive = views[(i + n) % (2 * n)]
        numerator = math.exp(cosine(anchor, positive) / tau)
        denominator = sum(
            math.exp(cosine(anchor, other) / tau)
            for k, other in enumerate(views) if k != i
        )
        total += -math.log(numerator / denominator)
    return total / (2 * n)


def views(n, d, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=generator, dtype=torch.float64),
            torch.randn(n, d, generator=generator, dtype=torch.float64))


@pytest.mark.parametrize("tau", [0.1, 1.0, 5.0])
@pytest.mark.parametrize("n, d", [(2, 1), (2, 3), (7, 4)])
def test_matches_the_formula_anchor_by_anchor(tau, n, d):
    z1, z2 = views(n, d, seed=n + d)
    loss = InfoNCE(temperature=tau)(z1, z2)
    assert loss.ndim == 0
    assert loss.item() == pytest.approx(infonce_by_hand(z1, z2, tau), rel=1e-6)


def test_orthogonal_embeddings_by_hand():
    # Each view: similarity 1 with its positive, 0 with the two others.
    z = torch.eye(2)
    for tau in (0.5, 1.0):
        expected = -1 / tau + math.log(math.exp(1 / tau) + 2)
        assert InfoNCE(tau)(z, z).item() == pytest.approx(expected, rel=1e-6)


def test_only_directions_count():
    z1, z2 = views(5, 3)
    loss = InfoNCE()
    assert loss(3 * z1, 0.5 * z2).item() == pytest.approx(loss(z1, z2).item())


@pytest.mark.parametrize("tau", [0.1, 1.0, 5.0])
@pytest.mark.parametrize("d", [1, 10])
def test_aligned_views_cost_less_than_random_ones(tau, d):
    z1, z2 = views(10, d)
    loss = InfoNCE(temperature=tau)
    aligned = loss(z1, z1)
    assert aligned >= 0
    assert aligned <= loss(z1, z2)


def test_gradients_reach_both_views():
    z1, z2 = (z.requires_grad_() for z in views(4, 3))
    InfoNCE()(z1, z2).backward()
    assert torch.isfinite(z1.grad).all() and z1.grad.abs().sum() > 0
    assert torch.isfinite(z2.grad).all() and z2.grad.abs().sum() > 0


def test_repr():
    assert repr(InfoNCE()) == "InfoNCE(temperature=0.1)"
    assert str(InfoNCE(temperature=0.5)) == "InfoNCE(temperature=0.5)"


def test_a_batch_of_one_is_refused():
    z = torch.randn(1, 4)
    with pytest.raises(ValueError, match="needs at least 2 samples per batch"):
        InfoNCE()(z, z)


@pytest.mark.parametrize(
    "z1, z2",
    [(torch.randn(4, 3), torch.randn(4, 2)), (torch.randn(4, 3), torch.randn(5, 3)),
     (torch.randn(4), torch.randn(4)), (torch.randn(2, 3, 4), torch.randn(2, 3, 4))],
)
def test_views_must_be_two_matrices_of_one_shape(z1, z2):
    with pytest.raises(ValueError, match="same shape"):
        InfoNCE()(z1, z2)


def test_views_must_be_tensors():
    with pytest.raises(TypeError, match="torch tensors"):
        InfoNCE()([[1.0, 0.0]], torch.ones(1, 2))


@pytest.mark.parametrize("tau", [-1.0, 0.0])
def test_temperature_must_be_positive(tau):
    with pytest.raises(ValueError, match="temperature"):
        InfoNCE(temperature=tau)
