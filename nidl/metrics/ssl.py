"""Quality of self-supervised embeddings and agreement between two of them.

Two families of scores. Alignment, uniformity and contrastive accuracy judge
the embeddings of two views of the same samples, as a contrastive model sees
them. Procrustes similarity, Procrustes R^2 and Kruskal similarity compare
two representations of the same samples (two models, two layers, or a
representation and known coordinates) up to the transformations that do not
change their geometry.

Every score takes NumPy arrays or torch tensors. Tensors give a 0-dim tensor
with the dtype and device of the input, and gradients flow through it; NumPy
arrays give NumPy values. Both kinds of input go through the same torch
computation, so that they give the same values.
"""

import functools
import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils import check_scalar

#: Kinds of NumPy dtypes taken as numbers: booleans, integers, floats.
_NUMERIC_KINDS = "biuf"


def _to_tensor(x, name, array_like):
    """``x`` as a tensor, and whether it was given as one.

    With ``array_like=False`` only NumPy arrays and tensors are accepted;
    otherwise anything :func:`numpy.asarray` turns into numbers.
    """
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise TypeError(
                f"{name} holds complex values ({x.dtype}); pass real numbers, "
                f"for example {name}.real or {name}.abs()."
            )
        return x, True
    if not isinstance(x, np.ndarray):
        if not array_like:
            raise TypeError(
                f"{name} is a {type(x).__name__}; pass a NumPy array or a torch "
                f"tensor (for example np.asarray({name}))."
            )
        try:
            x = np.asarray(x)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"{name} ({type(x).__name__}) cannot be read as an array of "
                f"numbers ({error}); pass a NumPy array or a torch tensor."
            ) from error
    if x.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(
            f"{name} holds values of dtype {x.dtype}, not real numbers; pass "
            "an array of floats (for example np.asarray(values, dtype=float))."
        )
    # torch.from_numpy needs a writeable array in native byte order.
    x = np.require(x, dtype=x.dtype.newbyteorder("="), requirements="CW")
    return torch.from_numpy(x), False


def _prepare(arrays, names, *, array_like=False, same_kind=True):
    """Check the inputs and bring them to a common floating dtype and device.

    Returns the tensors, in a floating dtype of at least float32 precision
    (half-precision inputs are computed in float32), the dtype of the result
    and whether the result is a tensor: with ``same_kind`` all inputs must be
    tensors or all NumPy arrays; otherwise the result is a tensor only when
    every input is one.
    """
    converted = [_to_tensor(x, name, array_like) for x, name in zip(arrays, names)]
    tensors = [t for t, _ in converted]
    kinds = [is_tensor for _, is_tensor in converted]
    if same_kind and len(set(kinds)) > 1:
        described = ", ".join(
            f"{name} is a {'torch tensor' if kind else 'NumPy array'}"
            for name, kind in zip(names, kinds)
        )
        raise TypeError(
            f"{described}; pass inputs of one kind, for example "
            "torch.from_numpy(array) or tensor.detach().cpu().numpy()."
        )
    as_tensor = all(kinds)
    dtype = functools.reduce(torch.promote_types, [t.dtype for t in tensors])
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype() if as_tensor else torch.float64
    work_dtype = torch.promote_types(dtype, torch.float32)
    device = tensors[0].device
    tensors = [t.to(device=device, dtype=work_dtype) for t in tensors]
    return tensors, dtype, as_tensor


def _check_matrix(x, name, min_samples=1):
    """Refuse input that is not a non-empty 2-D (n_samples, n_features) matrix."""
    shape = tuple(x.shape)
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D, of shape (n_samples, n_features), but has shape "
            f"{shape}; reshape it, for example {name}.reshape(len({name}), -1)."
        )
    if x.numel() == 0:
        raise ValueError(
            f"{name} is empty (shape {shape}); pass at least one sample with at "
            "least one feature."
        )
    if shape[0] < min_samples:
        raise ValueError(
            f"{name} has {shape[0]} sample(s), but this score compares pairs of "
            f"samples and needs at least {min_samples}; pass more samples."
        )


def _check_same_shape(z1, z2):
    if z1.shape != z2.shape:
        raise ValueError(
            f"z1 has shape {tuple(z1.shape)} but z2 has shape {tuple(z2.shape)}; "
            "pass the embeddings of two views of the same samples, row i of z1 "
            "paired with row i of z2."
        )


def _check_same_samples(X, Y):
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"X has {X.shape[0]} samples but Y has {Y.shape[0]}; pass two "
            "representations of the same samples, row i of X and row i of Y "
            "describing the same sample."
        )


def _prepare_views(z1, z2):
    """Inputs of the scores comparing the embeddings of two views."""
    (z1, z2), dtype, as_tensor = _prepare((z1, z2), ("z1", "z2"))
    _check_matrix(z1, "z1")
    _check_matrix(z2, "z2")
    _check_same_shape(z1, z2)
    return z1, z2, dtype, as_tensor


def _check_eps(eps):
    check_scalar(eps, "eps", numbers.Real, min_val=0, include_boundaries="neither")


def _result(value, dtype, as_tensor, scalar):
    """The score as a 0-dim tensor, a NumPy scalar or a 0-d NumPy array."""
    if not as_tensor and dtype == torch.bfloat16:
        dtype = torch.float32  # NumPy has no bfloat16
    value = value.to(dtype)
    if as_tensor:
        return value
    array = value.detach().cpu().numpy()
    return array[()] if scalar else array


def alignment_score(z1, z2, normalize=True, alpha=2, eps=1e-12):
    """Alignment of the embeddings of positive pairs.

    Wang and Isola [1]_ describe a contrastive representation by two
    properties; alignment is the first: two views of the same sample should
    be embedded close to each other. The score is the mean distance between
    paired embeddings raised to the power ``alpha``,
    ``(1 / n) sum_i ||z1_i - z2_i||^alpha``, after projecting each embedding
    on the unit sphere if ``normalize`` is true. Lower is better; 0 means
    the two views always get the same embedding (which a collapsed model
    also achieves: read it with :func:`uniformity_score`).

    Parameters
    ----------
    z1 : torch.Tensor or numpy.ndarray of shape (n_samples, n_features)
        Embeddings of the first view of each sample.
    z2 : torch.Tensor or numpy.ndarray of shape (n_samples, n_features)
        Embeddings of the second view, of the same kind as ``z1``; row ``i``
        is the partner of row ``i`` of ``z1``.
    normalize : bool, default=True
        Whether to divide each embedding by its Euclidean norm first.
    alpha : float, default=2
        Power of the distances; must be positive.
    eps : float, default=1e-12
        Lower bound of the norms that ``normalize`` divides by, so that a
        zero embedding stays zero.

    Returns
    -------
    score : torch.Tensor or numpy scalar
        A 0-dim tensor of the dtype and device of ``z1`` for tensor input, a
        NumPy scalar for array input; >= 0, lower is better. With
        ``normalize=True`` and ``alpha=2`` it lies in [0, 4].

    Raises
    ------
    TypeError
        If an input is neither a tensor nor a NumPy array, if one is a tensor
        and the other an array, or if they do not hold real numbers.
    ValueError
        If the inputs are not 2-D, are empty or differ in shape, or if
        ``alpha`` or ``eps`` is not positive.

    See Also
    --------
    uniformity_score : The other property of Wang and Isola.
    contrastive_accuracy_score : Whether each partner is the nearest one.

    References
    ----------
    .. [1] T. Wang and P. Isola, "Understanding Contrastive Representation
       Learning through Alignment and Uniformity on the Hypersphere", ICML
       2020.

    Examples
    --------
    Two views embedded identically are perfectly aligned; embedding each
    view of a sample at a right angle from the other gives squared distances
    of 2 on the unit circle:

    >>> import torch
    >>> from nidl.metrics import alignment_score
    >>> z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    >>> alignment_score(z, z)
    tensor(0.)
    >>> alignment_score(z, torch.tensor([[0.0, 1.0], [-1.0, 0.0], [-0.8, 0.6]]))
    tensor(2.)
    """
    z1, z2, dtype, as_tensor = _prepare_views(z1, z2)
    check_scalar(alpha, "alpha", numbers.Real, min_val=0, include_boundaries="neither")
    _check_eps(eps)
    if normalize:
        z1, z2 = F.normalize(z1, dim=1, eps=eps), F.normalize(z2, dim=1, eps=eps)
    difference = z1 - z2
    if alpha == 2:
        # Squared distances directly: exact, and differentiable at 0.
        powered = difference.square().sum(dim=1)
    else:
        powered = torch.linalg.vector_norm(difference, dim=1).pow(alpha)
    return _result(powered.mean(), dtype, as_tensor, scalar=True)


def uniformity_score(z, normalize=True, t=2.0, eps=1e-12):
    """Uniformity of embeddings: how evenly they spread.

    The second property of Wang and Isola [1]_: embeddings of different
    samples should spread over the space (the unit sphere when normalised)
    rather than collapse. The score is the logarithm of the mean Gaussian
    potential over all pairs of distinct samples,
    ``log( mean_{i != j} exp(-t ||z_i - z_j||^2) )``. Lower is better; 0
    means every embedding is the same point.

    Parameters
    ----------
    z : torch.Tensor or numpy.ndarray of shape (n_samples, n_features)
        Embeddings, at least two samples.
    normalize : bool, default=True
        Whether to divide each embedding by its Euclidean norm first.
    t : float, default=2.0
        Scale of the Gaussian potential; must be positive.
    eps : float, default=1e-12
        Lower bound of the norms that ``normalize`` divides by.

    Returns
    -------
    score : torch.Tensor or numpy scalar
        A 0-dim tensor of the dtype and device of ``z`` for tensor input, a
        NumPy scalar for array input; <= 0, lower is better.

    Raises
    ------
    TypeError
        If ``z`` is neither a tensor nor a NumPy array of real numbers.
    ValueError
        If ``z`` is not 2-D or has fewer than two samples, or if ``t`` or
        ``eps`` is not positive.

    See Also
    --------
    alignment_score : The other property of Wang and Isola.

    Notes
    -----
    The exact pairwise squared distances are used for both kinds of input,
    with or without normalisation. (The identity
    ``||z_i - z_j||^2 = 2 - 2 z_i . z_j`` holds for unit vectors only, so a
    computation built on it is wrong for ``normalize=False``.) The mean is
    taken in log space (log-sum-exp), so that far-apart embeddings give a
    large negative score rather than ``-inf``.

    References
    ----------
    .. [1] T. Wang and P. Isola, "Understanding Contrastive Representation
       Learning through Alignment and Uniformity on the Hypersphere", ICML
       2020.

    Examples
    --------
    Collapsed embeddings score 0; spreading them lowers the score. Four
    points at the corners of a square on the unit circle are at squared
    distances 2, 2 and 4 from the others:

    >>> import math
    >>> import numpy as np
    >>> from nidl.metrics import uniformity_score
    >>> float(uniformity_score(np.ones((4, 2))))
    0.0
    >>> square = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    >>> score = uniformity_score(square)
    >>> bool(np.isclose(score, math.log((2 * math.exp(-4) + math.exp(-8)) / 3)))
    True
    """
    (z,), dtype, as_tensor = _prepare((z,), ("z",))
    _check_matrix(z, "z", min_samples=2)
    check_scalar(t, "t", numbers.Real, min_val=0, include_boundaries="neither")
    _check_eps(eps)
    if normalize:
        z = F.normalize(z, dim=1, eps=eps)
    # Distances of the n (n - 1) / 2 pairs i < j; the mean over i != j is
    # the same by symmetry.
    squared = torch.pdist(z, p=2).square()
    score = torch.logsumexp(-t * squared, dim=0) - math.log(squared.numel())
    return _result(score, dtype, as_tensor, scalar=True)


def contrastive_accuracy_score(z1, z2, normalize=True, topk=1, eps=1e-12):
    """Top-k accuracy of retrieving each sample's partner view.

    For each embedding of the first view, the embeddings of the second view
    are ranked by similarity (dot product, the cosine similarity when
    normalised); the retrieval succeeds when the partner of the same sample
    is among the ``topk`` most similar. The score averages the accuracy of
    this retrieval from ``z1`` to ``z2`` and from ``z2`` to ``z1``: it is
    the accuracy of the classification task that a contrastive loss such as
    InfoNCE trains for.

    Parameters
    ----------
    z1 : torch.Tensor or numpy.ndarray of shape (n_samples, n_features)
        Embeddings of the first view of each sample.
    z2 : torch.Tensor or numpy.ndarray of shape (n_samples, n_features)
        Embeddings of the second view, of the same kind as ``z1``; row ``i``
        is the partner of row ``i`` of ``z1``.
    normalize : bool, default=True
        Whether to divide each embedding by its Euclidean norm first.
    topk : int, default=1
        Number of most similar candidates among which the partner must be;
        values above ``n_samples`` count as ``n_samples`` (every retrieval
        succeeds).
    eps : float, default=1e-12
        Lower bound of the norms that ``normalize`` divides by.

    Returns
    -------
    score : torch.Tensor or numpy scalar
        A 0-dim tensor of the dtype and device of ``z1`` for tensor input, a
        NumPy scalar for array input; in [0, 1], higher is better. Chance
        level is ``topk / n_samples``.

    Raises
    ------
    TypeError
        If an input is neither a tensor nor a NumPy array, if one is a tensor
        and the other an array, or if they do not hold real numbers.
    ValueError
        If the inputs are not 2-D, are empty or differ in shape, if ``topk``
        is below 1 or ``eps`` is not positive.

    See Also
    --------
    alignment_score : How close the partners are, rather than whether they
        are the closest.

    Notes
    -----
    Ties count against the partner: the retrieval succeeds when fewer than
    ``topk`` other candidates are at least as similar as the partner. So
    collapsed embeddings, all equal, score 0 (unless ``topk`` reaches
    ``n_samples``) rather than a perfect 1, and the score does not depend
    on how a sort orders equal values. A pair whose
    similarity is NaN counts as a miss. The similarities are computed in the
    floating dtype of the input (float64 for float64 arrays), not cast to
    float32.

    Examples
    --------
    >>> import torch
    >>> from nidl.metrics import contrastive_accuracy_score
    >>> z1 = torch.tensor([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.0], [0.0, -1.0]])
    >>> contrastive_accuracy_score(z1, z1)
    tensor(1.)

    Swapping the partners of two samples makes their retrievals fail:

    >>> contrastive_accuracy_score(z1, z1[[1, 0, 2, 3]])
    tensor(0.5000)

    The swapped partner is the second most similar candidate, so each
    retrieval succeeds among the top 2:

    >>> contrastive_accuracy_score(z1, z1[[1, 0, 2, 3]], topk=2)
    tensor(1.)
    """
    z1, z2, dtype, as_tensor = _prepare_views(z1, z2)
    check_scalar(topk, "topk", numbers.Integral, min_val=1)
    _check_eps(eps)
    if normalize:
        z1, z2 = F.normalize(z1, dim=1, eps=eps), F.normalize(z2, dim=1, eps=eps)
    similarity = z1 @ z2.T
    partner = similarity.diagonal()
    others = similarity.masked_fill(
        torch.eye(len(similarity), dtype=torch.bool, device=similarity.device),
        -math.inf,
    )
    k = min(int(topk), len(similarity))
    # Candidates at least as similar as the partner, from z1 (rows) and from
    # z2 (columns); comparisons with NaN are false, hence the explicit check.
    found = ~partner.isnan()
    hits_12 = ((others >= partner[:, None]).sum(dim=1) < k) & found
    hits_21 = ((others >= partner[None, :]).sum(dim=0) < k) & found
    score = (hits_12.to(z1.dtype).mean() + hits_21.to(z1.dtype).mean()) / 2
    return _result(score, dtype, as_tensor, scalar=True)


def _prepare_pair(X, Y):
    """Inputs of the scores comparing two representations of the samples."""
    (X, Y), dtype, as_tensor = _prepare(
        (X, Y), ("X", "Y"), array_like=True, same_kind=False
    )
    _check_matrix(X, "X")
    _check_matrix(Y, "Y")
    _check_same_samples(X, Y)
    return X, Y, dtype, as_tensor


def _is_constant(x):
    """Whether every row of ``x`` is the same (exactly, not up to rounding)."""
    return (x == x[:1]).all()


def _centred(x):
    return x - x.mean(dim=0, keepdim=True)


def procrustes_similarity(X, Y):
    """Similarity of two representations up to rotation, scale and shift.

    The two representations are centred; their similarity is then the
    cosine of the angle between them after the best orthogonal alignment
    (a rotation or reflection of one onto the other, with the best scaling):
    ``||Xc^T Yc||_* / (||Xc||_F ||Yc||_F)``, where ``||.||_*`` is the
    nuclear norm (sum of singular values) and ``||.||_F`` the Frobenius
    norm. It is 1 exactly when ``Y = s X Q + b`` for an orthogonal ``Q``, a
    non-zero scale ``s`` and a shift ``b`` (with ``X`` and ``Y`` padded with
    zero features to the same width), and it is symmetric in ``X`` and
    ``Y``.

    Parameters
    ----------
    X : torch.Tensor or array-like of shape (n_samples, n_features_X)
        A representation of the samples.
    Y : torch.Tensor or array-like of shape (n_samples, n_features_Y)
        Another representation of the same samples; the number of features
        may differ.

    Returns
    -------
    score : torch.Tensor or numpy.ndarray
        In [0, 1], higher is more similar; 0 when either representation is
        constant. A 0-dim tensor on the device of ``X`` when both inputs are
        tensors, a 0-d NumPy array otherwise; of the floating dtype the two
        inputs promote to (float64 for integer arrays).

    Raises
    ------
    TypeError
        If an input does not hold real numbers.
    ValueError
        If an input is not 2-D or is empty, or if the numbers of samples
        differ.

    See Also
    --------
    procrustes_r2 : How well an orthogonal map of ``X`` predicts ``Y``.
    kruskal_similarity : Agreement of the pairwise distances.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import ortho_group
    >>> from nidl.metrics import procrustes_similarity
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> Q = ortho_group.rvs(3, random_state=0)
    >>> round(float(procrustes_similarity(X, 2 * X @ Q + 1)), 6)
    1.0
    >>> bool(procrustes_similarity(X, X ** 2) < 0.5)
    True
    """
    X, Y, dtype, as_tensor = _prepare_pair(X, Y)
    Xc, Yc = _centred(X), _centred(Y)
    norms = torch.linalg.matrix_norm(Xc) * torch.linalg.matrix_norm(Yc)
    nuclear = torch.linalg.matrix_norm(Xc.T @ Yc, ord="nuc")
    degenerate = _is_constant(X) | _is_constant(Y) | (norms == 0)
    # The clamps keep the ratio finite (and its gradient too) where it is
    # replaced by 0, and within [0, 1] despite rounding.
    ratio = (nuclear / norms.clamp_min(torch.finfo(norms.dtype).tiny)).clamp(0, 1)
    score = torch.where(degenerate, torch.zeros_like(ratio), ratio)
    return _result(score, dtype, as_tensor, scalar=False)


def procrustes_r2(X, Y):
    """How well an orthogonal map of one representation predicts another.

    Both representations are centred, and ``X`` is mapped onto ``Y`` by the
    orthogonal matrix ``R = U V^T`` (rotation or reflection, no scaling)
    that minimises ``||Yc - Xc R||_F``, where ``U S V^T`` is the singular
    value decomposition of ``Xc^T Yc``. The score compares the distances of
    the samples to their predictions with their distances to the centre of
    ``Y``: ``1 - sum_i ||Yc_i - (Xc R)_i|| / sum_i ||Yc_i||``. It is 1 when
    ``Y = X Q + b`` for an orthogonal ``Q`` and a shift ``b``; unlike
    :func:`procrustes_similarity`, it is not symmetric and depends on the
    scales of ``X`` and ``Y``.

    Parameters
    ----------
    X : torch.Tensor or array-like of shape (n_samples, n_features_X)
        The representation that predicts.
    Y : torch.Tensor or array-like of shape (n_samples, n_features_Y)
        The representation to predict, of the same samples.

    Returns
    -------
    score : torch.Tensor or numpy.ndarray
        At most 1, higher is better; negative when the prediction is worse
        than the centre of ``Y``; 0 when ``Y`` is constant. A 0-dim tensor
        on the device of ``X`` when both inputs are tensors, a 0-d NumPy
        array otherwise; of the floating dtype the two inputs promote to.

    Raises
    ------
    TypeError
        If an input does not hold real numbers.
    ValueError
        If an input is not 2-D or is empty, or if the numbers of samples
        differ.

    See Also
    --------
    procrustes_similarity : The symmetric, scale-free comparison.

    Notes
    -----
    The errors are summed as distances, not squared distances, so the score
    is not a fraction of explained variance: with squared distances, a
    prediction half as far from each sample as the centre scores 0.75; here
    it scores 0.5. This is the definition of upstream nidl, kept so that
    values compare.

    Gradients pass through the singular value decomposition, which has
    none where ``Xc^T Yc`` has repeated singular values, for example when
    ``X`` or ``Y`` is constant: they are NaN there.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import ortho_group
    >>> from nidl.metrics import procrustes_r2
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> Q = ortho_group.rvs(3, random_state=0)
    >>> round(float(procrustes_r2(X, X @ Q + 1)), 6)
    1.0

    Scaling ``Y`` by 2 puts each prediction halfway between the centre and
    its sample, since ``R`` does not scale:

    >>> round(float(procrustes_r2(X, 2 * X @ Q)), 6)
    0.5
    """
    X, Y, dtype, as_tensor = _prepare_pair(X, Y)
    Xc, Yc = _centred(X), _centred(Y)
    U, _, Vh = torch.linalg.svd(Xc.T @ Yc, full_matrices=False)
    residual = torch.linalg.vector_norm(Yc - Xc @ (U @ Vh), dim=1).sum()
    spread = torch.linalg.vector_norm(Yc, dim=1).sum()
    degenerate = _is_constant(Y) | (spread == 0)
    ratio = residual / spread.clamp_min(torch.finfo(spread.dtype).tiny)
    score = torch.where(degenerate, torch.zeros_like(ratio), 1 - ratio)
    return _result(score, dtype, as_tensor, scalar=False)


def _pairwise(x, spherical):
    """Distances (or cosine similarities) of the pairs i < j of rows."""
    if not spherical:
        return torch.pdist(x, p=2)
    unit = F.normalize(x, dim=1)
    rows, columns = torch.triu_indices(len(x), len(x), offset=1, device=x.device)
    return (unit @ unit.T)[rows, columns]


def kruskal_similarity(X, Y, spherical=False):
    """Agreement of the pairwise distances of two representations.

    In the spirit of Kruskal's stress for multidimensional scaling [1]_, the
    distances between all pairs of samples in ``X``, ``d_X``, are compared
    with those in ``Y``, ``d_Y``: ``1 - ||d_X - d_Y|| / ||d_Y - mean(d_Y)||``.
    It is 1 when the two representations have the same geometry, that is
    when ``Y = X Q + b`` for an orthogonal ``Q`` and a shift ``b``; it is
    not symmetric, and a scaled copy scores below 1. With ``spherical=True``
    the cosine similarities between samples are compared instead of
    distances, which ignores the norm of each sample (its position on the
    sphere is what counts) and any orthogonal map, but not shifts.

    Parameters
    ----------
    X : torch.Tensor or array-like of shape (n_samples, n_features_X)
        A representation of the samples, at least two.
    Y : torch.Tensor or array-like of shape (n_samples, n_features_Y)
        The reference representation of the same samples.
    spherical : bool, default=False
        Whether to compare cosine similarities rather than Euclidean
        distances.

    Returns
    -------
    score : torch.Tensor or numpy.ndarray
        At most 1, higher is better; negative when ``d_X`` is further from
        ``d_Y`` than the mean of ``d_Y`` is. A 0-dim tensor on the device of
        ``X`` when both inputs are tensors, a 0-d NumPy array otherwise; of
        the floating dtype the two inputs promote to.

    Raises
    ------
    TypeError
        If an input does not hold real numbers.
    ValueError
        If an input is not 2-D or is empty, if there are fewer than two
        samples, or if the numbers of samples differ.

    See Also
    --------
    procrustes_similarity : Agreement up to rotation, scale and shift.

    Notes
    -----
    When all pairwise values of ``Y`` are equal (two samples only, or a
    constant ``Y``), the ratio is undefined; as scikit-learn's ``r2_score``
    does, the score is then 1 if ``d_X`` equals ``d_Y`` exactly and 0
    otherwise.

    References
    ----------
    .. [1] J. B. Kruskal, "Multidimensional scaling by optimizing goodness of
       fit to a nonmetric hypothesis", Psychometrika 29(1), 1964.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import ortho_group
    >>> from nidl.metrics import kruskal_similarity
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> Q = ortho_group.rvs(3, random_state=0)
    >>> round(float(kruskal_similarity(X, X @ Q + 1)), 6)
    1.0
    >>> bool(kruskal_similarity(X, 2 * X) < 1)
    True
    >>> round(float(kruskal_similarity(X, 2 * X @ Q, spherical=True)), 6)
    1.0
    """
    X, Y, dtype, as_tensor = _prepare_pair(X, Y)
    _check_matrix(X, "X", min_samples=2)
    d_X, d_Y = _pairwise(X, spherical), _pairwise(Y, spherical)
    error = torch.linalg.vector_norm(d_X - d_Y)
    spread = torch.linalg.vector_norm(d_Y - d_Y.mean())
    ratio = error / spread.clamp_min(torch.finfo(spread.dtype).tiny)
    undefined = (spread == 0) | _is_constant(d_Y)
    fallback = (error == 0).to(ratio.dtype)
    score = torch.where(undefined, fallback, 1 - ratio)
    return _result(score, dtype, as_tensor, scalar=False)
