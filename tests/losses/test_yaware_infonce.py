import math

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from nidl.losses import InfoNCE, KernelMetric, YAwareInfoNCE

#: The kernel profiles of a distance u, as the y-Aware thesis lists them.
PROFILES = {
    "gaussian": lambda u: math.exp(-u * u / 2),
    "epanechnikov": lambda u: 1 - u * u if u < 1 else 0.0,
    "exponential": lambda u: math.exp(-u),
    "linear": lambda u: 1 - u if u < 1 else 0.0,
    "cosine": lambda u: math.cos(math.pi * u / 2) if u < 1 else 0.0,
}


def mahalanobis(a, b, H):
    diff = np.atleast_1d(np.subtract(a, b, dtype=float))
    return math.sqrt(diff @ np.linalg.inv(np.atleast_2d(H)) @ diff)


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def yaware_by_hand(z1, z2, labels, tau, kernel="gaussian", H=1.0):
    """Dufumier et al.'s loss over the 2N views, one anchor at a time.

    Each view is weighted by the kernel similarity of its label to the
    anchor's, normalised over the anchor's 2N - 1 other views.
    """
    views = z1.tolist() + z2.tolist()
    ys = list(labels) + list(labels)
    total = 0.0
    for i, anchor in enumerate(views):
        others = [k for k in range(len(views)) if k != i]
        denominator = sum(math.exp(cosine(anchor, views[k]) / tau) for k in others)
        weights = {k: PROFILES[kernel](mahalanobis(ys[i], ys[k], H)) for k in others}
        weight_sum = sum(weights.values())
        for k in others:
            log_p = cosine(anchor, views[k]) / tau - math.log(denominator)
            total += -weights[k] / weight_sum * log_p
    return total / len(views)


def views(n, d, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=generator, dtype=torch.float64),
            torch.randn(n, d, generator=generator, dtype=torch.float64))


# ----------------------------------------------------------------------------
# YAwareInfoNCE
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("kernel", sorted(PROFILES))
@pytest.mark.parametrize("tau, bandwidth", [(0.1, 1.0), (1.0, 4.0), (5.0, 0.3)])
def test_matches_the_formula_anchor_by_anchor(kernel, tau, bandwidth):
    z1, z2 = views(6, 3, seed=1)
    # Ages with ties and near neighbours, so that kernels with a compact
    # support give weights both inside and outside it.
    ages = [20.0, 20.5, 21.0, 23.0, 20.0, 30.0]
    loss = YAwareInfoNCE(kernel=kernel, bandwidth=bandwidth, temperature=tau)
    expected = yaware_by_hand(z1, z2, ages, tau, kernel, bandwidth)
    value = loss(z1, z2, torch.tensor(ages))
    assert value.ndim == 0
    assert value.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("bandwidth", [
    [0.5, 2.0],  # diagonal H
    [[1.0, 0.3], [0.3, 0.5]],  # a full symmetric positive definite H
])
def test_several_labels_with_a_bandwidth_matrix(bandwidth):
    z1, z2 = views(5, 4, seed=2)
    labels = np.random.default_rng(0).normal(size=(5, 2))
    H = np.diag(bandwidth) if np.ndim(bandwidth) == 1 else np.array(bandwidth)
    expected = yaware_by_hand(z1, z2, [tuple(y) for y in labels], 0.5, "gaussian", H)
    loss = YAwareInfoNCE(bandwidth=bandwidth, temperature=0.5)(z1, z2, labels)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_without_labels_it_is_infonce():
    z1, z2 = views(8, 5)
    assert YAwareInfoNCE()(z1, z2).item() == InfoNCE()(z1, z2).item()
    assert YAwareInfoNCE(temperature=0.7)(z1, z2).item() == (
        InfoNCE(temperature=0.7)(z1, z2).item()
    )


def test_distinct_labels_and_a_narrow_kernel_give_infonce():
    # The paper's limit, which holds at the same scale because the loss is
    # the mean over the 2N views (not twice it) and weights are normalised
    # per anchor.
    z1, z2 = views(8, 5)
    labels = torch.arange(8.0) * 10
    yaware = YAwareInfoNCE(bandwidth=0.01)(z1, z2, labels)
    assert yaware.item() == pytest.approx(InfoNCE()(z1, z2).item(), rel=1e-6)


def test_weights_are_normalised_over_each_anchor():
    # Uneven labels, where normalising columns instead of rows would differ.
    loss = YAwareInfoNCE(bandwidth=1.0)
    labels = np.array([[0.0], [0.5], [5.0]])
    loss.kernel_metric.fit(labels)
    weights = loss._label_weights(labels)
    assert weights.shape == (6, 5)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(6, dtype=torch.float64))


def test_labels_as_arrays_or_tensors_give_the_same_loss():
    z1, z2 = views(6, 3)
    labels = np.linspace(20, 60, 6)
    loss = YAwareInfoNCE(bandwidth=10.0)
    assert loss(z1, z2, labels).item() == loss(z1, z2, torch.tensor(labels)).item()
    assert loss(z1, z2, labels[:, None]).item() == loss(z1, z2, labels).item()


@pytest.mark.parametrize("tau", [0.1, 1.0, 5.0])
@pytest.mark.parametrize("d", [1, 10])
@pytest.mark.parametrize("bandwidth", [0.1, 1.0])
def test_aligned_views_cost_less_than_random_ones(tau, d, bandwidth):
    z1, z2 = views(10, d)
    labels = torch.arange(10) * 3
    loss = YAwareInfoNCE(bandwidth=bandwidth, temperature=tau)
    aligned = loss(z1, z1, labels)
    assert aligned >= 0
    assert aligned <= loss(z1, z2, labels)


def test_gradients_reach_both_views():
    z1, z2 = (z.requires_grad_() for z in views(4, 3))
    YAwareInfoNCE()(z1, z2, torch.tensor([1.0, 1.5, 2.0, 8.0])).backward()
    for z in (z1, z2):
        assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_repr():
    assert repr(YAwareInfoNCE()) == (
        "YAwareInfoNCE(kernel='gaussian', bandwidth=1.0, temperature=0.1)"
    )
    assert str(YAwareInfoNCE(kernel="cosine", bandwidth=2.0, temperature=0.5)) == (
        "YAwareInfoNCE(kernel='cosine', bandwidth=2.0, temperature=0.5)"
    )


@pytest.mark.parametrize("labels", [None, torch.tensor([3.0])])
def test_a_batch_of_one_is_refused(labels):
    z = torch.randn(1, 4)
    with pytest.raises(ValueError, match="needs at least 2 samples per batch"):
        YAwareInfoNCE()(z, z, labels)


@pytest.mark.parametrize("labels", [torch.arange(3.0), torch.ones(5, 1),
                                    torch.ones(4, 1, 1)])
def test_labels_must_give_one_row_per_sample(labels):
    with pytest.raises(ValueError, match="labels of shape"):
        YAwareInfoNCE()(torch.randn(4, 2), torch.randn(4, 2), labels)


def test_views_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        YAwareInfoNCE()(torch.randn(4, 3), torch.randn(4, 2), torch.ones(4))


def test_labels_of_another_dimension_than_the_first_batch_are_refused():
    loss = YAwareInfoNCE()
    z1, z2 = views(4, 3)
    loss(z1, z2, torch.ones(4, 2))
    with pytest.raises(ValueError, match="features"):
        loss(z1, z2, torch.ones(4, 3))


@pytest.mark.parametrize("tau", [-1.0, 0.0])
def test_temperature_must_be_positive(tau):
    with pytest.raises(ValueError, match="temperature"):
        YAwareInfoNCE(temperature=tau)


def test_unknown_kernel_is_refused():
    with pytest.raises(ValueError, match="kernel='box'"):
        YAwareInfoNCE(kernel="box")


@pytest.mark.parametrize("bandwidth", ["scott", "silverman", None, {"h": 1.0}])
def test_other_bandwidth_types_are_refused_at_construction(bandwidth):
    with pytest.raises(TypeError, match="bandwidth"):
        YAwareInfoNCE(bandwidth=bandwidth)


@pytest.mark.parametrize("bandwidth", [
    [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]],  # asymmetric
    -np.eye(3),  # not positive definite
    -1.0, 0.0, [1.0, -1.0],
])
def test_invalid_bandwidth_matrices_are_refused(bandwidth):
    z1, z2 = views(4, 3)
    with pytest.raises(ValueError, match="bandwidth"):
        YAwareInfoNCE(bandwidth=bandwidth)(z1, z2, np.ones((4, 3)))


SPD = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 0.5]])


@pytest.mark.parametrize("bandwidth", ["scott", "silverman", SPD])
def test_a_kernel_metric_must_be_fitted_on_the_labels_first(bandwidth):
    z1, z2 = views(10, 4)
    labels = np.random.default_rng(0).normal(size=(10, 3))
    metric = KernelMetric(bandwidth=bandwidth)
    with pytest.raises(TypeError, match="unfitted"):
        YAwareInfoNCE(bandwidth=metric)(z1, z2, labels)
    metric.fit(labels)
    loss = YAwareInfoNCE(bandwidth=metric)
    assert loss.kernel_metric is metric
    assert loss(z1, z2, labels) >= 0


def test_a_matrix_or_the_metric_fitted_with_it_give_the_same_loss():
    z1, z2 = views(10, 4)
    labels = np.random.default_rng(0).normal(size=(10, 3))
    metric = KernelMetric(bandwidth=SPD).fit(labels)
    assert YAwareInfoNCE(bandwidth=metric)(z1, z2, labels).item() == (
        YAwareInfoNCE(bandwidth=SPD)(z1, z2, labels).item()
    )


def test_the_kernel_of_a_metric_must_be_the_loss_kernel():
    metric = KernelMetric(kernel="cosine", bandwidth=1.0).fit(np.ones((2, 1)))
    with pytest.raises(ValueError, match="same kernel"):
        YAwareInfoNCE(bandwidth=metric)
    assert YAwareInfoNCE(kernel="cosine", bandwidth=metric).kernel == "cosine"


# ----------------------------------------------------------------------------
# KernelMetric
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("kernel", sorted(PROFILES))
@pytest.mark.parametrize("bandwidth", [0.7, [0.5, 2.0], [[1.0, 0.3], [0.3, 0.5]]])
def test_pairwise_matches_the_kernel_of_the_mahalanobis_distance(kernel, bandwidth):
    X = np.random.default_rng(1).normal(size=(6, 2))
    H = bandwidth * np.eye(2) if np.ndim(bandwidth) == 0 else np.array(bandwidth)
    if H.ndim == 1:
        H = np.diag(H)
    expected = [[PROFILES[kernel](mahalanobis(a, b, H)) for b in X] for a in X]
    metric = KernelMetric(kernel=kernel, bandwidth=bandwidth)
    np.testing.assert_allclose(metric.fit_pairwise(X), expected, rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(metric.bandwidth_, H)


@pytest.mark.parametrize("rule, factor", [
    ("scott", lambda n, d: n ** (-1 / (d + 4))),
    ("silverman", lambda n, d: (n * (d + 2) / 4) ** (-1 / (d + 4))),
])
def test_rules_of_thumb(rule, factor):
    X = np.random.default_rng(2).normal(size=(50, 3)) * [1.0, 5.0, 0.1]
    metric = KernelMetric(bandwidth=rule).fit(X)
    assert (metric.n_, metric.d_, metric.n_features_in_) == (50, 3, 3)
    assert getattr(metric, f"{'scotts' if rule == 'scott' else rule}_factor")() == (
        pytest.approx(factor(50, 3))
    )
    root = np.diag(X.std(axis=0, ddof=1) * factor(50, 3))
    np.testing.assert_allclose(metric.sqr_bandwidth_, root)
    np.testing.assert_allclose(metric.bandwidth_, root @ root)
    np.testing.assert_allclose(metric.inv_sqr_bandwidth_, np.linalg.inv(root))


def test_a_constant_feature_is_ignored_by_a_rule():
    X = np.column_stack([np.arange(5.0), np.full(5, 3.0)])
    metric = KernelMetric().fit(X)
    assert metric.inv_sqr_bandwidth_[1, 1] == 0
    moved = X + [0.0, 100.0]
    np.testing.assert_allclose(metric.pairwise(moved), metric.pairwise(X))


@pytest.mark.parametrize("bandwidth", ["scott", "silverman", 2.0, [1.0, 2.0, 3.0],
                                       SPD])
def test_square_roots_of_the_bandwidth(bandwidth):
    X = np.random.default_rng(3).normal(size=(20, 3))
    metric = KernelMetric(bandwidth=bandwidth).fit(X)
    H, root, inverse = (metric.bandwidth_, metric.sqr_bandwidth_,
                        metric.inv_sqr_bandwidth_)
    np.testing.assert_allclose(inverse @ inverse @ H, np.eye(3), atol=1e-6)
    np.testing.assert_allclose(inverse @ root, np.eye(3), atol=1e-6)
    np.testing.assert_allclose(root @ root, H, atol=1e-6)


def test_fit_leaves_the_parameters_as_given():
    metric = KernelMetric(kernel="linear", bandwidth=2.0)
    metric.fit(np.ones((3, 2)))
    assert metric.get_params() == {"kernel": "linear", "bandwidth": 2.0}
    assert clone(metric).get_params() == metric.get_params()


def test_pairwise_needs_a_fitted_metric_of_the_same_width():
    with pytest.raises(NotFittedError):
        KernelMetric(bandwidth=1.0).pairwise(np.ones((2, 1)))
    metric = KernelMetric(bandwidth=1.0).fit(np.ones((2, 1)))
    with pytest.raises(ValueError, match="features"):
        metric.pairwise(np.ones((2, 2)))


@pytest.mark.parametrize("bandwidth, match", [
    ([[1.0, 2.0], [4.0, 5.0]], "symmetric"),
    (-np.eye(2), "positive definite"),
    ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "square"),
    (np.ones((2, 2, 2)), "square"),
    (np.eye(3), "size 3"),
    ([1.0, 2.0, 3.0], "size 3"),
    ([1.0, -2.0], "> 0"),
    (-1.0, "> 0"),
    (np.inf, "finite"),
    ("gauss", "rule"),
])
def test_invalid_bandwidths_are_refused(bandwidth, match):
    with pytest.raises(ValueError, match=match):
        KernelMetric(bandwidth=bandwidth).fit(np.ones((4, 2)))


def test_bandwidth_of_another_type_is_refused():
    with pytest.raises(TypeError, match="bandwidth"):
        KernelMetric(bandwidth={"h": 1.0}).fit(np.ones((4, 2)))


def test_unknown_kernel_is_refused_by_fit():
    with pytest.raises(ValueError, match="kernel='box'"):
        KernelMetric(kernel="box").fit(np.ones((4, 2)))


def test_a_rule_needs_two_samples():
    with pytest.raises(ValueError, match="minimum of 2"):
        KernelMetric(bandwidth="scott").fit(np.ones((1, 2)))


@parametrize_with_checks([KernelMetric(), KernelMetric(bandwidth=1.0)])
def test_kernel_metric_is_a_scikit_learn_estimator(estimator, check):
    check(estimator)
