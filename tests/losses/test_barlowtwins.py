import math

import pytest
import torch

from nidl.losses import BarlowTwinsLoss


def barlow_twins_by_hand(z1, z2, lambd):
    """Zbontar et al.'s loss, entry by entry of the cross-correlation matrix."""
    a, b = z1.tolist(), z2.tolist()
    n, d = len(a), len(a[0])

    def standardised(z, j):
        column = [row[j] for row in z]
        mean = sum(column) / n
        std = math.sqrt(sum((x - mean) ** 2 for x in column) / (n - 1))
        return [(x - mean) / std for x in column]

    za = [standardised(a, j) for j in range(d)]
    zb = [standardised(b, j) for j in range(d)]
    loss = 0.0
    for i in range(d):
        for j in range(d):
            c_ij = sum(x * y for x, y in zip(za[i], zb[j])) / (n - 1)
            loss += (1 - c_ij) ** 2 if i == j else lambd * c_ij**2
    return loss


def views(n, d, seed=0):
    generator = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=generator, dtype=torch.float64)
    return z1, z1 + 0.5 * torch.randn(n, d, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("lambd", [0.0, 5e-3, 1.0])
@pytest.mark.parametrize("n, d", [(2, 3), (6, 4), (9, 2)])
def test_matches_the_formula_entry_by_entry(lambd, n, d):
    z1, z2 = views(n, d, seed=n + d)
    loss = BarlowTwinsLoss(lambd=lambd)(z1, z2)
    assert loss.ndim == 0
    assert loss.item() == pytest.approx(barlow_twins_by_hand(z1, z2, lambd), rel=1e-6)


def test_perfectly_correlated_features_by_hand():
    # Identical views; the two features have correlation -1.
    z = torch.tensor([[1.0, -1.0], [2.0, -2.0], [3.0, -3.0]])
    assert BarlowTwinsLoss(lambd=0.01)(z, z).item() == pytest.approx(0.02)


@pytest.mark.parametrize("n, d", [(5, 5), (5, 10), (10, 5), (10, 10)])
def test_identical_views_without_redundancy_term_cost_nothing(n, d):
    z = torch.randn(n, d, generator=torch.Generator().manual_seed(0))
    assert BarlowTwinsLoss(lambd=0.0)(z, z).item() == pytest.approx(0.0, abs=1e-10)


def test_positive_on_random_views():
    z1, z2 = torch.randn(4, 3), torch.randn(4, 3)
    loss = BarlowTwinsLoss()(z1, z2)
    assert loss.ndim == 0 and loss > 0


def test_a_batch_of_one_has_no_correlation():
    # Correlations are undefined: taken as 0, the loss is the number of
    # features, and it gives no gradient.
    z1, z2 = torch.randn(1, 6, requires_grad=True), torch.randn(1, 6)
    loss = BarlowTwinsLoss()(z1, z2)
    assert loss.ndim == 0 and loss.item() == pytest.approx(6.0)
    loss.backward()
    assert torch.all(z1.grad == 0)


def test_a_constant_feature_has_no_correlation():
    z1, z2 = views(5, 3)
    z1[:, 0] = 2.0
    loss = BarlowTwinsLoss(lambd=0.0)(z1, z2)
    expected = 1.0 + barlow_twins_by_hand(z1[:, 1:], z2[:, 1:], 0.0)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_gradients_reach_both_views():
    z1, z2 = (z.requires_grad_() for z in views(4, 3))
    BarlowTwinsLoss()(z1, z2).backward()
    for z in (z1, z2):
        assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_repr():
    assert str(BarlowTwinsLoss(lambd=0.01)) == "BarlowTwinsLoss(lambd=0.01)"
    assert repr(BarlowTwinsLoss()) == "BarlowTwinsLoss(lambd=0.005)"


def test_lambd_must_not_be_negative():
    with pytest.raises(ValueError, match="lambd"):
        BarlowTwinsLoss(lambd=-1.0)


def test_views_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        BarlowTwinsLoss()(torch.randn(4, 3), torch.randn(4, 2))
