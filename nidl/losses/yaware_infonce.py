"""y-Aware InfoNCE: contrastive learning guided by continuous labels.

:class:`KernelMetric` gives the similarity of two labels (a kernel of their
distance scaled by a bandwidth matrix), which :class:`YAwareInfoNCE` turns
into the weights of its positive pairs.
"""

import numbers

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from ._contrastive import (
    check_positive,
    check_views,
    contrastive_logits,
    global_views,
)

#: Kernel profiles of a distance ``u >= 0`` (a tensor), unnormalised
#: (``K(0) = 1``).
KERNELS = {
    "gaussian": lambda u: torch.exp(-(u**2) / 2),
    "epanechnikov": lambda u: (1 - u**2).clamp(min=0),
    "exponential": lambda u: torch.exp(-u),
    "linear": lambda u: (1 - u).clamp(min=0),
    "cosine": lambda u: torch.where(u < 1, torch.cos(torch.pi * u / 2), 0.0),
}

#: Bandwidth rules estimated from the data.
RULES = ("scott", "silverman")


def _check_kernel(kernel):
    if kernel not in KERNELS:
        accepted = ", ".join(repr(name) for name in KERNELS)
        raise ValueError(
            f"kernel={kernel!r} is not supported; use one of {accepted}."
        )


def _is_numeric(bandwidth):
    """Whether ``bandwidth`` is a number, or a list or array of numbers."""
    if isinstance(bandwidth, numbers.Real):
        return not isinstance(bandwidth, bool)
    if isinstance(bandwidth, (list, tuple, np.ndarray, torch.Tensor)):
        return np.asarray(bandwidth).dtype.kind in "iuf"
    return False


def _bandwidth_matrix(bandwidth, n_features=None):
    """The bandwidth matrix ``H`` a numeric bandwidth stands for.

    A scalar ``h`` is ``h I``, a vector the diagonal of ``H``, a matrix
    ``H`` itself, which must be symmetric positive definite. With
    ``n_features=None`` the value is checked alone (a scalar gives a 1 x 1
    matrix); otherwise ``H`` must be ``n_features x n_features``.
    """
    H = np.asarray(bandwidth, dtype=np.float64)
    shown = np.array2string(H, separator=", ") if H.ndim else repr(bandwidth)
    if H.ndim > 2 or (H.ndim == 2 and H.shape[0] != H.shape[1]):
        raise ValueError(
            f"bandwidth must be a number, a vector (the diagonal of H) or a "
            f"square matrix H; got an array of shape {H.shape}."
        )
    if not np.all(np.isfinite(H)):
        raise ValueError(f"bandwidth must be finite; got {shown}.")
    if H.ndim == 0:
        if H <= 0:
            raise ValueError(f"bandwidth == {bandwidth!r}, must be > 0.")
        return H * np.eye(1 if n_features is None else n_features)
    if n_features is not None and len(H) != n_features:
        raise ValueError(
            f"bandwidth has size {len(H)} but the data have {n_features} "
            f"features; give a bandwidth of size {n_features}."
        )
    if H.ndim == 1:
        if np.any(H <= 0):
            raise ValueError(
                f"a bandwidth vector is the diagonal of H and must be > 0; got "
                f"{shown}."
            )
        return np.diag(H)
    if not np.allclose(H, H.T, rtol=1e-10, atol=1e-12):
        raise ValueError(
            f"a bandwidth matrix must be symmetric positive definite; got the "
            f"asymmetric {shown}."
        )
    H = (H + H.T) / 2
    if np.linalg.eigvalsh(H).min() <= 0:
        raise ValueError(
            f"a bandwidth matrix must be symmetric positive definite; {shown} has "
            "eigenvalues <= 0."
        )
    return H


def kernel_similarities(scaled, kernel):
    """``K(||s_i - s_j||)`` between every two rows ``s`` of a tensor ``scaled``.

    The rows are the samples already multiplied by ``H^{-1/2}``; the result
    is computed on their device, in their dtype.
    """
    distances = torch.linalg.vector_norm(scaled[:, None] - scaled[None], dim=-1)
    return KERNELS[kernel](distances)


def _square_roots(H):
    """``H^{1/2}`` and ``H^{-1/2}`` of a symmetric positive definite ``H``."""
    if np.array_equal(H, np.diag(np.diagonal(H))):
        root = np.sqrt(np.diagonal(H))
        return np.diag(root), np.diag(1 / root)
    values, vectors = np.linalg.eigh(H)
    root = np.sqrt(values)
    return (vectors * root) @ vectors.T, (vectors / root) @ vectors.T


class KernelMetric(BaseEstimator):
    r"""Kernel similarity of samples, with a bandwidth matrix as in KDE.

    The similarity of two samples :math:`x_i, x_j` of dimension :math:`d` is
    a kernel of their distance scaled by the bandwidth matrix :math:`H`, as
    in multivariate kernel density estimation [1]_ [2]_:

    .. math::

        k(x_i, x_j) = K\big(\|H^{-1/2} (x_i - x_j)\|\big).

    The bandwidth is given, or estimated from the data by Scott's rule [3]_,
    :math:`H^{1/2} = n^{-1/(d + 4)} \operatorname{diag}(\sigma_1, \ldots,
    \sigma_d)`, or Silverman's rule [4]_, :math:`H^{1/2} = (n (d + 2) / 4)^{-1
    / (d + 4)} \operatorname{diag}(\sigma_1, \ldots, \sigma_d)`, where
    :math:`\sigma_j` is the standard deviation (unbiased) of feature
    :math:`j` over the :math:`n` samples.

    Parameters
    ----------
    kernel : str, default="gaussian"
        The kernel profile :math:`K(u)` of a distance :math:`u`, one of
        ``"gaussian"``, ``"epanechnikov"``, ``"exponential"``, ``"linear"``
        and ``"cosine"``: :math:`e^{-u^2/2}`, :math:`(1 - u^2) 1_{u < 1}`,
        :math:`e^{-u}`, :math:`(1 - u) 1_{u < 1}` or :math:`\cos(\pi u / 2)
        1_{u < 1}`. They are not normalised: :math:`K(0) = 1`.
    bandwidth : {"scott", "silverman"}, float or array-like, default="scott"
        A rule that estimates :math:`H` in ``fit``, or :math:`H` itself: a
        number :math:`h` for :math:`h I`, a vector of shape ``(n_features,)``
        for a diagonal :math:`H`, or a symmetric positive definite matrix of
        shape ``(n_features, n_features)``. For one feature,
        a number is the variance :math:`\sigma^2` of a Gaussian kernel.

    Attributes
    ----------
    bandwidth_ : ndarray of shape (n_features, n_features)
        The bandwidth matrix :math:`H`.
    sqr_bandwidth_ : ndarray of shape (n_features, n_features)
        Its square root :math:`H^{1/2}`.
    inv_sqr_bandwidth_ : ndarray of shape (n_features, n_features)
        The inverse square root :math:`H^{-1/2}`.
    n_ : int
        Number of samples seen during ``fit``.
    d_ : int
        Number of features seen during ``fit``.
    n_features_in_ : int
        Number of features seen during ``fit``.

    See Also
    --------
    nidl.losses.YAwareInfoNCE : The loss that weights its positives with it.

    Notes
    -----
    ``fit`` leaves ``bandwidth`` as given (the matrix is ``bandwidth_``), as
    scikit-learn estimators do. A rule applied to a feature of zero standard
    deviation gives it a zero inverse bandwidth: the feature is ignored.

    References
    ----------
    .. [1] M. Rosenblatt, "Remarks on Some Nonparametric Estimates of a Density
       Function", Annals of Mathematical Statistics, 27(3), 1956.
    .. [2] E. Parzen, "On Estimation of a Probability Density Function and
       Mode", Annals of Mathematical Statistics, 33(3), 1962.
    .. [3] D. W. Scott, "Multivariate Density Estimation: Theory, Practice, and
       Visualization", Wiley, 1992.
    .. [4] B. W. Silverman, "Density Estimation for Statistics and Data
       Analysis", Chapman and Hall, 1986.

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.losses import KernelMetric
    >>> ages = np.array([[20.0], [22.0], [60.0]])
    >>> metric = KernelMetric(kernel="gaussian", bandwidth=4.0).fit(ages)
    >>> np.round(metric.pairwise(ages), 3)
    array([[1.   , 0.607, 0.   ],
           [0.607, 1.   , 0.   ],
           [0.   , 0.   , 1.   ]])

    Scott's rule estimates the bandwidth from the data:

    >>> scott = KernelMetric(bandwidth="scott").fit(ages)
    >>> round(float(scott.sqr_bandwidth_[0, 0]), 3)  # std * 3 ** (-1 / 5)
    18.093
    """

    def __init__(self, kernel="gaussian", bandwidth="scott"):
        self.kernel = kernel
        self.bandwidth = bandwidth

    def fit(self, X, y=None):
        """Set the bandwidth matrix, estimating it from ``X`` for a rule.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples (labels, for y-Aware InfoNCE).
        y : None
            Ignored.

        Returns
        -------
        self : KernelMetric
            The fitted metric.

        Raises
        ------
        ValueError
            If ``kernel`` is unknown, the bandwidth is not a valid matrix for
            ``n_features``, or a rule gets fewer than 2 samples.
        TypeError
            If ``bandwidth`` is neither a rule's name nor numeric.
        """
        _check_kernel(self.kernel)
        is_rule = isinstance(self.bandwidth, str)
        if is_rule and self.bandwidth not in RULES:
            raise ValueError(
                f"bandwidth={self.bandwidth!r} is not a known rule; use 'scott', "
                "'silverman' or a numeric bandwidth."
            )
        if not is_rule and not _is_numeric(self.bandwidth):
            raise TypeError(
                f"bandwidth must be 'scott', 'silverman', a number, a vector or a "
                f"matrix; got {type(self.bandwidth).__name__}."
            )
        X = validate_data(self, X, dtype=np.float64,
                          ensure_min_samples=2 if is_rule else 1)
        self.n_, self.d_ = X.shape
        if is_rule:
            factor = (self.scotts_factor() if self.bandwidth == "scott"
                      else self.silverman_factor())
            scale = X.std(axis=0, ddof=1) * factor
            inverse = np.divide(1.0, scale, out=np.zeros_like(scale),
                                where=scale > 0)
            self.sqr_bandwidth_ = np.diag(scale)
            self.inv_sqr_bandwidth_ = np.diag(inverse)
            self.bandwidth_ = np.diag(scale**2)
        else:
            self.bandwidth_ = _bandwidth_matrix(self.bandwidth, self.d_)
            self.sqr_bandwidth_, self.inv_sqr_bandwidth_ = _square_roots(
                self.bandwidth_
            )
        return self

    def pairwise(self, X):
        """Kernel similarities between every two samples of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples of the dimension seen during ``fit``.

        Returns
        -------
        similarities : ndarray of shape (n_samples, n_samples)
            ``K(||H^{-1/2} (x_i - x_j)||)``; 1 on the diagonal.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the metric is not fitted.
        ValueError
            If ``X`` does not have ``n_features_in_`` features.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        scaled = torch.from_numpy(X @ self.inv_sqr_bandwidth_)
        return kernel_similarities(scaled, self.kernel).numpy()

    def fit_pairwise(self, X):
        """Fit on ``X`` and return its pairwise similarities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        similarities : ndarray of shape (n_samples, n_samples)
            As :meth:`pairwise`.
        """
        return self.fit(X).pairwise(X)

    def scotts_factor(self):
        """Scott's factor ``n ** (-1 / (d + 4))`` of the fitted data.

        Returns
        -------
        factor : float
        """
        return self.n_ ** (-1.0 / (self.d_ + 4))

    def silverman_factor(self):
        """Silverman's factor ``(n (d + 2) / 4) ** (-1 / (d + 4))`` of the fitted data.

        Returns
        -------
        factor : float
        """
        return (self.n_ * (self.d_ + 2) / 4.0) ** (-1.0 / (self.d_ + 4))


class YAwareInfoNCE(nn.Module):
    r"""y-Aware InfoNCE: positives weighted by the similarity of their labels.

    Dufumier et al. [1]_ extend InfoNCE to samples with continuous labels
    (age, clinical scores: "proxy meta-data"): a view is pulled towards
    every other view in proportion to the kernel similarity of their labels,
    not only towards the other view of its own sample. Of the ``2N`` views
    ``u = [z1; z2]`` of a batch of ``N`` samples with labels :math:`y`
    (repeated for both views),

    .. math::

        \mathcal{L} = \frac{1}{2N} \sum_{i=1}^{2N} \sum_{k \neq i}
            -\frac{w_{ik}}{\sum_{j \neq i} w_{ij}} \log
            \frac{\exp(s_{ik})}{\sum_{j \neq i} \exp(s_{ij})},
        \qquad s_{ik} = \frac{\cos(u_i, u_k)}{\tau},

    with :math:`w_{ik} = K(\|H^{-1/2} (y_i - y_k)\|)` given by a
    :class:`KernelMetric`. Without labels, the only positive of a view is
    the other view of its sample: the loss is :class:`InfoNCE`. It is also
    the limit of a vanishing bandwidth with distinct labels.

    Parameters
    ----------
    kernel : str, default="gaussian"
        Kernel profile of the label similarity: ``"gaussian"``,
        ``"epanechnikov"``, ``"exponential"``, ``"linear"`` or ``"cosine"``
        (see :class:`KernelMetric`).
    bandwidth : float, array-like or KernelMetric, default=1.0
        Bandwidth matrix :math:`H` of the kernel: a number :math:`h` for
        :math:`h I` (for one label, the variance :math:`\sigma^2` of a
        Gaussian kernel :math:`\exp(-(y_i - y_k)^2 / 2\sigma^2)`), a vector
        for a diagonal :math:`H`, a symmetric positive definite matrix, or a
        :class:`KernelMetric` already fitted on the training labels (the way
        to use Scott's or Silverman's rule, which need every label rather
        than one batch).
    temperature : float, default=0.1
        Temperature :math:`\tau > 0` the cosine similarities are divided by.

    Attributes
    ----------
    kernel_metric : KernelMetric
        The metric that computes :math:`w`: ``bandwidth`` if it is one, else
        one built from ``kernel`` and ``bandwidth`` (fitted on the first
        labelled batch, which sets the number of label dimensions).

    Raises
    ------
    ValueError
        If ``temperature`` is not > 0, ``kernel`` is unknown, a numeric
        ``bandwidth`` is not a valid bandwidth matrix, or a
        :class:`KernelMetric` bandwidth has another kernel than ``kernel``.
    TypeError
        If ``bandwidth`` is of another type (a rule's name included).

    See Also
    --------
    nidl.losses.InfoNCE : The loss without labels.
    nidl.losses.KernelMetric : The label similarity.

    Notes
    -----
    Choices where the authors' code and the paper differ:

    - The weights of view :math:`i` are normalised over the views it is
      compared with, :math:`w_{ik} / \sum_{j \neq i} w_{ij}`, as the paper
      writes (the code normalises columns, which differs for views whose
      labels are unevenly spread).
    - The loss is the mean over the :math:`2N` views (the code sums them
      and divides by :math:`N`, twice as much). Then, as the paper states,
      distinct labels and a vanishing bandwidth give InfoNCE itself, and the
      losses with and without labels have one scale.
    - As in the code and in SimCLR, each view is compared with the
      :math:`2N - 1` other views, its own view's samples included; the
      paper's equation writes the comparisons across views.
    - The kernels are not normalised: their constants cancel in the weights.

    Under ``torch.distributed`` (DDP), the embeddings and labels of every
    process are gathered, the embeddings with their gradients, and the loss
    is that of the global batch; a global batch of one sample has no
    negatives and is refused.

    References
    ----------
    .. [1] B. Dufumier, P. Gori, J. Victor, A. Grigis, M. Wessa, P. Brambilla,
       P. Favre, M. Polosan, C. McDonald, C. M. Piguet and E. Duchesnay,
       "Contrastive Learning with Continuous Proxy Meta-Data for 3D MRI
       Classification", MICCAI 2021.

    Examples
    --------
    >>> import torch
    >>> from nidl.losses import InfoNCE, YAwareInfoNCE
    >>> z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> z2 = torch.tensor([[1.0, 0.1], [0.1, 1.0], [1.0, 0.9]])
    >>> loss = YAwareInfoNCE(bandwidth=4.0, temperature=0.5)
    >>> loss
    YAwareInfoNCE(kernel='gaussian', bandwidth=4.0, temperature=0.5)

    Without labels it is InfoNCE:

    >>> bool(loss(z1, z2) == InfoNCE(temperature=0.5)(z1, z2))
    True
    >>> round(float(loss(z1, z2)), 4)
    1.0284

    So it is with labels too far apart for the kernel: each view's only
    positive is then the other view of its sample.

    >>> round(float(loss(z1, z2, torch.tensor([30.0, 70.0, 90.0]))), 4)
    1.0284

    Close ages make the first and last samples partly positive for each
    other, and their embeddings, 45 degrees apart, now cost more:

    >>> round(float(loss(z1, z2, torch.tensor([30.0, 70.0, 31.0]))), 4)
    1.232
    """

    def __init__(self, kernel="gaussian", bandwidth=1.0, temperature=0.1):
        super().__init__()
        check_positive(temperature, "temperature")
        _check_kernel(kernel)
        if isinstance(bandwidth, KernelMetric):
            if bandwidth.kernel != kernel:
                raise ValueError(
                    f"bandwidth is a KernelMetric with kernel={bandwidth.kernel!r} "
                    f"but kernel={kernel!r}; give the same kernel to both."
                )
            kernel_metric = bandwidth
        elif _is_numeric(bandwidth):
            _bandwidth_matrix(bandwidth)
            kernel_metric = KernelMetric(kernel=kernel, bandwidth=bandwidth)
        else:
            fix = "KernelMetric(...)"
            if isinstance(bandwidth, str) and bandwidth in RULES:
                fix = f"KernelMetric(kernel={kernel!r}, bandwidth={bandwidth!r})"
            raise TypeError(
                f"bandwidth must be a number, a vector, a matrix or a fitted "
                f"KernelMetric; got {bandwidth!r}. A rule must see every training "
                f"label, not one batch: pass {fix}.fit(y_train)."
            )
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.temperature = temperature
        self.kernel_metric = kernel_metric

    def forward(self, z1, z2, labels=None):
        """y-Aware InfoNCE of a batch seen through two views.

        Parameters
        ----------
        z1, z2 : torch.Tensor, shape (batch_size, n_features)
            Embeddings of the two views; row ``i`` of both comes from sample
            ``i``. A batch (over all processes) needs at least 2 samples.
        labels : torch.Tensor or array-like, shape (batch_size,) or \
(batch_size, n_labels), default=None
            Labels of the samples. None gives :class:`InfoNCE`.

        Returns
        -------
        loss : torch.Tensor
            0-dim tensor, the mean over the ``2 * batch_size`` views.

        Raises
        ------
        ValueError
            If ``z1`` and ``z2`` differ in shape or are not 2-D, the batch
            holds a single sample, or ``labels`` do not give one row per
            sample (or have another dimension than the fitted metric's).
        TypeError
            If ``bandwidth`` is a :class:`KernelMetric` that is not fitted.
        """
        name = type(self).__name__
        if labels is None:
            z1, z2 = global_views(z1, z2, loss=name)
            logits, positive = contrastive_logits(z1, z2, self.temperature)
            return F.cross_entropy(logits, positive)
        check_views(z1, z2, name)
        labels = torch.as_tensor(labels, device=z1.device)
        if labels.ndim not in (1, 2) or len(labels) != len(z1):
            raise ValueError(
                f"{name} expects labels of shape (batch_size,) or (batch_size, "
                f"n_labels) with batch_size={len(z1)}, one row per sample of z1 "
                f"and z2; got labels of shape {tuple(labels.shape)}."
            )
        labels = labels.reshape(len(labels), -1)
        self._check_kernel_metric(labels)
        z1, z2, labels = global_views(z1, z2, labels, loss=name)
        logits, _ = contrastive_logits(z1, z2, self.temperature)
        weights = self._label_weights(labels.detach())
        return F.cross_entropy(logits, weights.to(logits))

    def _check_kernel_metric(self, labels):
        metric = self.kernel_metric
        if isinstance(self.bandwidth, KernelMetric):
            if not hasattr(metric, "bandwidth_"):
                raise TypeError(
                    f"bandwidth is an unfitted {metric!r}; fit it on the labels of "
                    "the whole training set first: bandwidth=KernelMetric(...)"
                    ".fit(y_train)."
                )
        elif not hasattr(metric, "bandwidth_"):
            # A numeric bandwidth needs only the number of label dimensions.
            metric.fit(labels.detach().cpu().numpy())

    def _label_weights(self, labels):
        """Normalised weights ``(2N, 2N - 1)`` of the views other than each.

        Computed on the labels' device, so that a training step sends
        nothing to the host but whether the labels are finite.
        """
        labels = torch.as_tensor(labels)
        metric = self.kernel_metric
        if labels.shape[1] != metric.n_features_in_:
            raise ValueError(
                f"the labels have {labels.shape[1]} features, but the kernel "
                f"metric was fitted on labels with {metric.n_features_in_} "
                "features; give every batch labels of the same width."
            )
        if not bool(torch.isfinite(labels).all()):
            raise ValueError(
                "the labels hold NaN or infinite values; remove or replace them "
                "in the dataset."
            )
        inverse = torch.as_tensor(
            metric.inv_sqr_bandwidth_, dtype=torch.float64, device=labels.device
        )
        similarity = kernel_similarities(labels.to(torch.float64) @ inverse,
                                         metric.kernel)
        n_views = 2 * len(labels)
        similarity = similarity.repeat(2, 2)
        others = ~torch.eye(n_views, dtype=torch.bool, device=labels.device)
        weights = similarity[others].reshape(n_views, n_views - 1)
        # The other view of a view's sample has weight K(0) = 1: no row is 0.
        return weights / weights.sum(dim=1, keepdim=True)

    def extra_repr(self):
        return (
            f"kernel={self.kernel!r}, bandwidth={self.bandwidth!r}, "
            f"temperature={self.temperature!r}"
        )

