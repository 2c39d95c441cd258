import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist
from scipy.stats import ortho_group

from nidl.metrics import (
    alignment_score,
    contrastive_accuracy_score,
    kruskal_similarity,
    procrustes_r2,
    procrustes_similarity,
    uniformity_score,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def unit_rows(z):
    return z / np.linalg.norm(z, axis=1, keepdims=True)


# Alignment ------------------------------------------------------------------


@pytest.mark.parametrize("normalize", [True, False])
def test_alignment_of_identical_views_is_zero(normalize):
    z = torch.randn(10, 4, generator=torch.Generator().manual_seed(0))
    score = alignment_score(z, z.clone(), normalize=normalize)
    assert isinstance(score, torch.Tensor) and score.ndim == 0
    assert score.item() == 0.0


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("alpha", [1, 2, 3.5])
def test_alignment_numpy_is_the_formula(rng, normalize, alpha):
    z1, z2 = rng.normal(size=(2, 12, 5))
    score = alignment_score(z1, z2, normalize=normalize, alpha=alpha)
    assert isinstance(score, np.floating) and score.dtype == np.float64
    if normalize:
        z1, z2 = unit_rows(z1), unit_rows(z2)
    expected = np.mean(np.sqrt(((z1 - z2) ** 2).sum(axis=1)) ** alpha)
    assert score == pytest.approx(expected, rel=1e-12)


def test_alignment_by_hand():
    # Pairs at squared distances 2 (a right angle) and 0 on the unit circle;
    # without normalisation, [0, 3] and [4, 0] are 5 apart.
    z1 = np.array([[1.0, 0.0], [0.0, 2.0]])
    z2 = np.array([[0.0, 1.0], [0.0, 1.0]])
    assert alignment_score(z1, z2) == pytest.approx(1.0)
    assert alignment_score(z1, z2, alpha=1) == pytest.approx(math.sqrt(2) / 2)
    assert alignment_score(np.array([[0.0, 3.0]]), np.array([[4.0, 0.0]]),
                           normalize=False, alpha=1) == pytest.approx(5.0)


def test_alignment_alpha_matters(rng):
    z1, z2 = rng.normal(size=(2, 20, 3))
    one, two = alignment_score(z1, z2, alpha=1), alignment_score(z1, z2, alpha=2)
    assert one >= 0 and two >= 0
    assert one != pytest.approx(two)


# Uniformity -----------------------------------------------------------------


def uniformity_by_hand(z, normalize, t=2.0):
    if normalize:
        z = unit_rows(z)
    squared = ((z[:, None, :] - z[None, :, :]) ** 2).sum(axis=-1)
    off_diagonal = ~np.eye(len(z), dtype=bool)
    return np.log(np.mean(np.exp(-t * squared[off_diagonal])))


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("t", [0.5, 2.0])
def test_uniformity_numpy_is_the_formula(rng, normalize, t):
    # Non-unit rows: without normalisation, 2 - 2 z_i . z_j is not the
    # squared distance, and the score must still be the exact one.
    z = 0.5 * rng.normal(size=(15, 4))
    score = uniformity_score(z, normalize=normalize, t=t)
    assert isinstance(score, np.floating) and score.dtype == np.float64
    assert score == pytest.approx(uniformity_by_hand(z, normalize, t), rel=1e-10)
    if not normalize:
        gram = z @ z.T
        shortcut = np.log(np.mean(np.exp(-t * (2 - 2 * gram))[~np.eye(15, dtype=bool)]))
        assert score != pytest.approx(shortcut, rel=1e-3)


@pytest.mark.parametrize("normalize", [True, False])
def test_uniformity_torch_equals_numpy(rng, normalize):
    z = rng.normal(size=(15, 4))
    from_torch = uniformity_score(torch.from_numpy(z), normalize=normalize)
    assert isinstance(from_torch, torch.Tensor) and from_torch.ndim == 0
    assert from_torch.item() == pytest.approx(
        float(uniformity_score(z, normalize=normalize)), abs=1e-6
    )
    from_float32 = uniformity_score(torch.from_numpy(z).float(), normalize=normalize)
    assert from_float32.dtype == torch.float32
    assert from_float32.item() == pytest.approx(
        float(uniformity_score(z, normalize=normalize)), abs=1e-5
    )


def test_uniformity_spread_scores_below_collapsed(rng):
    collapsed = np.tile(rng.normal(size=(1, 3)), (10, 1))
    spread = rng.normal(size=(10, 3))
    assert uniformity_score(collapsed) == pytest.approx(0.0, abs=1e-12)
    assert uniformity_score(spread) < uniformity_score(collapsed)


def test_uniformity_far_apart_stays_finite():
    # exp(-2 * 1e6) underflows; the log-sum-exp does not.
    z = np.array([[0.0], [1000.0], [3000.0]])
    score = uniformity_score(z, normalize=False)
    assert np.isfinite(score)
    assert score == pytest.approx(-2e6 + math.log(1 / 3), rel=1e-12)


# Contrastive accuracy -------------------------------------------------------


def test_contrastive_accuracy_of_identical_views_is_one(rng):
    z = rng.normal(size=(8, 4))
    score = contrastive_accuracy_score(torch.from_numpy(z), torch.from_numpy(z))
    assert isinstance(score, torch.Tensor) and score.ndim == 0
    assert score.item() == 1.0
    many = contrastive_accuracy_score(z, z.copy(), topk=10)
    assert isinstance(many, np.floating) and many == 1.0


def test_contrastive_accuracy_partial_swap():
    # Orthogonal embeddings: swapping the partners of samples 0 and 1 makes
    # exactly their retrievals fail, in both directions.
    z1 = np.eye(8)
    z2 = z1[[1, 0, 2, 3, 4, 5, 6, 7]]
    score = contrastive_accuracy_score(z1, z2)
    assert 0 < score < 1
    assert score == pytest.approx(6 / 8)
    # Among the top 2, the swapped partner ties with six others at 0.
    assert contrastive_accuracy_score(z1, z2, topk=2) == pytest.approx(6 / 8)
    assert contrastive_accuracy_score(z1, z2, topk=8) == 1.0


def test_contrastive_accuracy_torch_equals_numpy(rng):
    z1 = rng.normal(size=(30, 5))
    z2 = z1 + rng.normal(size=(30, 5))
    for topk in (1, 3):
        from_numpy = contrastive_accuracy_score(z1, z2, topk=topk)
        from_torch = contrastive_accuracy_score(
            torch.from_numpy(z1), torch.from_numpy(z2), topk=topk
        )
        assert 0 < from_numpy < 1
        assert from_torch.item() == pytest.approx(float(from_numpy))


def test_contrastive_accuracy_collapsed_is_not_perfect():
    # Ties count against the partner: equal embeddings retrieve nothing.
    z = np.ones((5, 3))
    assert contrastive_accuracy_score(z, z) == 0.0
    assert contrastive_accuracy_score(z, z, topk=5) == 1.0


def test_contrastive_accuracy_keeps_float64():
    # The rows of z2 differ by 1e-12: in float64 three of the four retrievals
    # succeed (column 1 fails: 1 - 1e-12 > -(1 - 1e-12)); in float32 the rows
    # are equal, the two rows tie and fail, and only column 0 succeeds.
    z1 = np.array([[1.0], [-1.0]])
    z2 = np.array([[1.0], [1.0 - 1e-12]])
    assert contrastive_accuracy_score(z1, z2, normalize=False) == 0.75
    float32 = contrastive_accuracy_score(z1.astype(np.float32), z2.astype(np.float32),
                                         normalize=False)
    assert float32.dtype == np.float32 and float32 == 0.25


def test_contrastive_accuracy_nan_pair_is_a_miss():
    z = np.eye(4)
    z_nan = z.copy()
    z_nan[0, 0] = np.nan
    assert contrastive_accuracy_score(z_nan, z) == pytest.approx(3 / 4)


# Errors of the view scores --------------------------------------------------

VIEW_SCORES = {
    "alignment": alignment_score,
    "accuracy": contrastive_accuracy_score,
}


@pytest.mark.parametrize("score", VIEW_SCORES.values(), ids=VIEW_SCORES.keys())
def test_view_scores_refuse_bad_input(score):
    z = np.ones((4, 3))
    with pytest.raises(TypeError, match="z1 is a torch tensor, z2 is a NumPy array"):
        score(torch.ones(4, 3), z)
    with pytest.raises(TypeError, match="z1 is a list"):
        score(z.tolist(), z)
    with pytest.raises(TypeError, match="dtype <U1"):
        score(np.array([["a"]]), np.array([["b"]]))
    with pytest.raises(ValueError, match=r"z2 has shape \(3, 3\)"):
        score(z, z[:3])
    with pytest.raises(ValueError, match=r"z1 must be 2-D.*\(2, 2, 3\)"):
        score(np.ones((2, 2, 3)), np.ones((2, 2, 3)))
    with pytest.raises(ValueError, match="z1 is empty"):
        score(np.ones((0, 3)), np.ones((0, 3)))
    with pytest.raises(ValueError, match="eps"):
        score(z, z, eps=0)


def test_parameter_errors():
    z = np.ones((4, 3))
    with pytest.raises(ValueError, match="topk == 0, must be >= 1"):
        contrastive_accuracy_score(z, z, topk=0)
    with pytest.raises(TypeError, match="topk"):
        contrastive_accuracy_score(z, z, topk=1.5)
    with pytest.raises(ValueError, match="alpha"):
        alignment_score(z, z, alpha=0)
    with pytest.raises(ValueError, match="t == -1"):
        uniformity_score(z, t=-1)
    with pytest.raises(TypeError, match="z is a str"):
        uniformity_score("not an array")
    with pytest.raises(ValueError, match="at least 2"):
        uniformity_score(np.ones((1, 3)))
    with pytest.raises(TypeError, match="complex"):
        uniformity_score(torch.ones(3, 2, dtype=torch.complex64))


# Gradients and dtypes -------------------------------------------------------

DIFFERENTIABLE = {
    "alignment": lambda x, y: alignment_score(x, y),
    "alignment_alpha1": lambda x, y: alignment_score(x, y, alpha=1),
    "uniformity": lambda x, y: uniformity_score(x),
    "procrustes_similarity": procrustes_similarity,
    "procrustes_r2": procrustes_r2,
    "kruskal": kruskal_similarity,
    "kruskal_spherical": lambda x, y: kruskal_similarity(x, y, spherical=True),
}


@pytest.mark.parametrize("score", DIFFERENTIABLE.values(), ids=DIFFERENTIABLE.keys())
def test_gradients_flow(score):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(10, 3, generator=generator, requires_grad=True)
    y = torch.randn(10, 3, generator=generator)
    score(x, y).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


def test_input_dtypes_and_layouts():
    eye = np.eye(3)
    expected = float(uniformity_score(eye))
    # Half precision is computed in float32 and returned in its own dtype.
    for dtype in (torch.float16, torch.bfloat16):
        score = uniformity_score(torch.from_numpy(eye).to(dtype))
        assert score.dtype == dtype
        assert score.item() == pytest.approx(expected, rel=1e-2)
    # Integers and booleans are numbers: torch's default dtype, or float64.
    assert uniformity_score(torch.eye(3, dtype=torch.int64)).dtype == torch.float32
    assert uniformity_score(eye.astype(bool)).dtype == np.float64
    # Read-only, broadcast and big-endian arrays are read as they are.
    read_only = eye.copy()
    read_only.flags.writeable = False
    assert uniformity_score(read_only) == expected
    assert uniformity_score(eye.astype(">f8")) == expected
    assert uniformity_score(np.broadcast_to(eye[:1], (3, 3))) == 0


def test_alignment_gradient_at_identical_views_is_zero():
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(0),
                    requires_grad=True)
    alignment_score(z, z.detach()).backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


# Procrustes and Kruskal -----------------------------------------------------

PAIR_SCORES = {
    "procrustes_similarity": procrustes_similarity,
    "procrustes_r2": procrustes_r2,
    "kruskal": kruskal_similarity,
    "kruskal_spherical": lambda X, Y: kruskal_similarity(X, Y, spherical=True),
}


@pytest.fixture
def pair(rng):
    X = rng.normal(size=(40, 4))
    return X, X @ rng.normal(size=(4, 3)) + 0.1 * rng.normal(size=(40, 3))


@pytest.mark.parametrize("score", PAIR_SCORES.values(), ids=PAIR_SCORES.keys())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pair_scores_numpy_out(score, pair, dtype):
    X, Y = pair
    result = score(X.astype(dtype), Y.astype(dtype))
    assert isinstance(result, np.ndarray) and result.shape == ()
    assert result.dtype == dtype
    # Integer input gives float64.
    assert score(np.round(10 * X).astype(int), Y.astype(int)).dtype == np.float64


@pytest.mark.parametrize("score", PAIR_SCORES.values(), ids=PAIR_SCORES.keys())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_pair_scores_torch_out(score, pair, dtype, device):
    X, Y = (torch.from_numpy(a).to(device=device, dtype=dtype) for a in pair)
    result = score(X, Y)
    assert isinstance(result, torch.Tensor) and result.ndim == 0
    assert result.dtype == dtype and result.device == X.device
    assert result.item() == pytest.approx(float(score(*pair)), abs=1e-4)


@pytest.mark.parametrize("score", PAIR_SCORES.values(), ids=PAIR_SCORES.keys())
def test_pair_scores_mixed_input(score, pair):
    X, Y = pair
    expected = float(score(X, Y))
    for mixed in [(torch.from_numpy(X), Y), (X, torch.from_numpy(Y)),
                  (X.tolist(), torch.from_numpy(Y).float())]:
        result = score(*mixed)
        assert isinstance(result, np.ndarray)
        assert float(result) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("score", PAIR_SCORES.values(), ids=PAIR_SCORES.keys())
def test_pair_scores_refuse_bad_input(score):
    X = np.ones((5, 2))
    with pytest.raises(ValueError, match="X has 5 samples but Y has 4"):
        score(X, np.ones((4, 2)))
    with pytest.raises(ValueError, match="Y must be 2-D"):
        score(X, np.ones(5))
    with pytest.raises(ValueError, match="X is empty"):
        score(np.ones((0, 2)), np.ones((0, 2)))
    with pytest.raises(TypeError, match="Y holds values of dtype <U"):
        score(X, np.full((5, 2), "a"))
    with pytest.raises(TypeError, match="X holds values of dtype object"):
        score(np.array([[None]] * 5), X)


def test_procrustes_numpy_formulas(pair):
    X, Y = pair
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    similarity = np.linalg.norm(Xc.T @ Yc, "nuc") / (
        np.linalg.norm(Xc) * np.linalg.norm(Yc)
    )
    assert procrustes_similarity(X, Y) == pytest.approx(similarity, rel=1e-10)
    U, _, Vt = np.linalg.svd(Xc.T @ Yc, full_matrices=False)
    residual = np.linalg.norm(Yc - Xc @ U @ Vt, axis=1).sum()
    r2 = 1 - residual / np.linalg.norm(Yc, axis=1).sum()
    assert procrustes_r2(X, Y) == pytest.approx(r2, rel=1e-10)


def test_procrustes_similarity_by_hand():
    # Y keeps the first axis of X: X^T Y = diag(2, 0), ||X|| = 2, ||Y|| = sqrt 2.
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    Y = X * [1.0, 0.0]
    assert procrustes_similarity(X, Y) == pytest.approx(1 / math.sqrt(2))
    assert procrustes_similarity(Y, X) == pytest.approx(1 / math.sqrt(2))


@pytest.mark.parametrize("scale", [2, 3, 4, -0.5])
def test_procrustes_similarity_invariances(rng, scale):
    X = rng.normal(size=(30, 4))
    Q = ortho_group.rvs(4, random_state=1)
    shift = rng.normal(size=4)
    Y = scale * X @ Q + shift
    assert procrustes_similarity(X, Y) == pytest.approx(1.0, abs=1e-10)
    # Padding either side with zero features changes nothing.
    padded = np.hstack([X, np.zeros((30, 3))])
    assert procrustes_similarity(padded, Y) == pytest.approx(1.0, abs=1e-10)
    assert procrustes_similarity(Y, padded) == pytest.approx(1.0, abs=1e-10)
    # A map that is not orthogonal is detected.
    A = rng.normal(size=(4, 4))
    assert procrustes_similarity(X, scale * X @ A + shift) < 0.99


def test_procrustes_similarity_symmetric_and_bounded(pair):
    X, Y = pair
    assert procrustes_similarity(X, Y) == pytest.approx(procrustes_similarity(Y, X))
    assert 0 <= procrustes_similarity(X, Y) <= 1


def test_procrustes_constant_gives_zero(rng):
    X = rng.normal(size=(10, 3))
    constant = np.full((10, 2), 0.1)
    assert procrustes_similarity(X, constant) == 0
    assert procrustes_similarity(constant, X) == 0
    assert procrustes_r2(X, constant) == 0
    assert procrustes_r2(constant, X) == pytest.approx(0.0, abs=1e-12)


def test_procrustes_r2_invariances_and_scale(rng):
    X = rng.normal(size=(30, 4))
    Q = ortho_group.rvs(4, random_state=1)
    Y = X @ Q + rng.normal(size=4)
    assert procrustes_r2(X, Y) == pytest.approx(1.0, abs=1e-10)
    assert procrustes_r2(np.hstack([X, np.zeros((30, 2))]), Y) == pytest.approx(
        1.0, abs=1e-10
    )
    # No scaling is fitted: each prediction of 2 X Q lies halfway to its sample,
    # and X predicted from 2 X Q overshoots by the same distance.
    assert procrustes_r2(X, 2 * X @ Q) == pytest.approx(0.5)
    assert procrustes_r2(2 * X @ Q, X) == pytest.approx(0.0, abs=1e-10)
    assert procrustes_r2(X, X @ rng.normal(size=(4, 4))) < 0.99


def test_kruskal_numpy_formula(pair):
    X, Y = pair
    d_X, d_Y = pdist(X), pdist(Y)
    expected = 1 - np.linalg.norm(d_X - d_Y) / np.linalg.norm(d_Y - d_Y.mean())
    assert kruskal_similarity(X, Y) == pytest.approx(expected, rel=1e-10)
    c_X, c_Y = 1 - pdist(X, "cosine"), 1 - pdist(Y, "cosine")
    expected = 1 - np.linalg.norm(c_X - c_Y) / np.linalg.norm(c_Y - c_Y.mean())
    assert kruskal_similarity(X, Y, spherical=True) == pytest.approx(expected,
                                                                     rel=1e-10)


def test_kruskal_by_hand():
    # d_X = (1, 3, 2), d_Y = (1, 4, 3): error sqrt 2, spread sqrt(42) / 3.
    X, Y = np.array([[0.0], [1.0], [3.0]]), np.array([[0.0], [1.0], [4.0]])
    assert kruskal_similarity(X, Y) == pytest.approx(1 - 3 / math.sqrt(21))


def test_kruskal_invariances(rng):
    X = rng.normal(size=(30, 4))
    Q = ortho_group.rvs(4, random_state=1)
    shift = rng.normal(size=4)
    A = rng.normal(size=(4, 4))
    padded = np.hstack([X, np.zeros((30, 2))])
    assert kruskal_similarity(X, X @ Q + shift) == pytest.approx(1.0, abs=1e-10)
    assert kruskal_similarity(padded, X @ Q + shift) == pytest.approx(1.0, abs=1e-10)
    assert kruskal_similarity(X, X @ A) < 0.99
    assert kruskal_similarity(X, 2 * X) < 0.99
    assert kruskal_similarity(X, X @ Q, spherical=True) == pytest.approx(1.0,
                                                                         abs=1e-10)
    assert kruskal_similarity(padded, X @ Q, spherical=True) == pytest.approx(
        1.0, abs=1e-10
    )
    assert kruskal_similarity(X, X @ A, spherical=True) < 0.99
    # Spherical: the norm of each sample does not count.
    scales = rng.uniform(0.1, 10, size=(30, 1))
    assert kruskal_similarity(X, scales * (X @ Q), spherical=True) == pytest.approx(
        1.0, abs=1e-10
    )
    assert kruskal_similarity(X, scales * X) < 0.99


def test_kruskal_undefined_ratio():
    # Two samples, or a constant Y: every pairwise value of Y is the same.
    X = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert kruskal_similarity(X, np.array([[1.0], [6.0]])) == 1.0
    assert kruskal_similarity(X, np.array([[1.0], [7.0]])) == 0.0
    assert kruskal_similarity(np.ones((4, 2)), np.zeros((4, 3))) == 1.0
    with pytest.raises(ValueError, match="at least 2"):
        kruskal_similarity(np.ones((1, 2)), np.ones((1, 2)))
