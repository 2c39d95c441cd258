"""The beta-TCVAE loss: the KL term split into three (Chen et al., 2018)."""

import math
import numbers

import torch
from sklearn.utils import check_scalar
from torch.distributions import Normal

from .beta_vae import BetaVAELoss
from .schedules import value_at


def log_importance_weights(batch_size, dataset_size, device=None):
    """Log-weights of minibatch stratified sampling (Chen et al., 2018).

    Row ``i`` holds the weights given to ``q(z_i | x_j)`` for each sample
    ``j`` of the batch when estimating the aggregate posterior ``q(z_i) =
    1/N sum_n q(z_i | x_n)`` from the batch: ``1/N`` for the sample ``z_i``
    was drawn from (the diagonal), ``(N - M) / (N M)`` for the last other
    sample of the batch and ``1/M`` for the others, with ``M = batch_size -
    1`` and ``N = dataset_size``. Each row sums to 1.

    Parameters
    ----------
    batch_size : int
        Number of samples in the batch, >= 2.
    dataset_size : int
        Number of samples in the data set, >= ``batch_size - 1``.
    device : torch.device, default=None
        Device of the returned tensor.

    Returns
    -------
    log_weights : torch.Tensor, shape (batch_size, batch_size)

    Raises
    ------
    ValueError
        If ``batch_size < 2`` or ``dataset_size < batch_size - 1``.

    Examples
    --------
    >>> from nidl.losses.beta_tcvae import log_importance_weights
    >>> log_importance_weights(3, 10).exp()
    tensor([[0.1000, 0.5000, 0.4000],
            [0.5000, 0.1000, 0.4000],
            [0.5000, 0.4000, 0.1000]])
    """
    if batch_size < 2:
        raise ValueError(
            f"the total-correlation estimate needs at least 2 samples per batch, "
            f"got a batch of {batch_size}; use a larger batch size (or drop the "
            "last, incomplete batch)."
        )
    n_others = batch_size - 1
    if dataset_size < n_others:
        raise ValueError(
            f"dataset_size={dataset_size} is smaller than a batch of "
            f"{batch_size} samples; set dataset_size to the number of training "
            "samples."
        )
    weights = torch.full((batch_size, batch_size), 1.0 / n_others, device=device)
    rows = torch.arange(batch_size, device=device)
    last_other = torch.where(rows == batch_size - 1, batch_size - 2, batch_size - 1)
    weights[rows, last_other] = (dataset_size - n_others) / (dataset_size * n_others)
    weights[rows, rows] = 1.0 / dataset_size
    return weights.log()


class BetaTCVAELoss(BetaVAELoss):
    r"""Beta-TCVAE loss: the KL term split into MI, TC and dimension-wise KL.

    Chen et al. (2018) decompose the KL term of the VAE, averaged over the
    data, into the index-code mutual information, the total correlation of
    the aggregate posterior ``q(z)`` and the dimension-wise KL to the prior,
    and weight each:

    .. math::

        \mathcal{L} = -\mathbb{E}[\log p(x|z)]
            + \alpha \, I_q(x; z)
            + \beta \, KL\big(q(z) \,\|\, \textstyle\prod_j q(z_j)\big)
            + \gamma \sum_j KL\big(q(z_j) \,\|\, p(z_j)\big).

    Penalising the total correlation (``beta > 1``) pushes towards
    statistically independent latent dimensions without penalising the
    information the code carries. ``alpha = beta = gamma = 1`` recovers the
    VAE objective. The terms are estimated on each batch by minibatch
    stratified sampling (see :func:`log_importance_weights`), which needs
    the size of the data set, from one posterior sample per data point.
    Batches must hold at least two samples.

    Parameters
    ----------
    alpha : float, default=1.0
        Weight of the index-code mutual information.
    beta : float or callable, default=6.0
        Weight of the total correlation, or a schedule ``step -> weight``.
    gamma : float, default=1.0
        Weight of the dimension-wise KL divergence.
    dataset_size : int, default=None
        Number of samples in the training set. Required to call the loss;
        the :class:`~nidl.estimators.autoencoders.BetaTCVAE` estimator fills
        it in from the data it is fitted on.
    default_dist : {"normal", "laplace", "bernoulli"}, default="normal"
        Decoder likelihood when the decoder returns a tensor (see
        :class:`BetaVAELoss`).
    exact_likelihood : bool, default=False
        Use the exact negative log-likelihood (see :class:`BetaVAELoss`).

    Raises
    ------
    ValueError
        If a parameter is out of its range.
    TypeError
        If a parameter is not a number.

    See Also
    --------
    BetaVAELoss : Weights the whole KL term.
    nidl.metrics.mig_score : The mutual information gap of the same paper, a
        measure of the disentanglement this loss seeks.
    nidl.estimators.autoencoders.BetaTCVAE : The estimator.

    References
    ----------
    .. [1] R. T. Q. Chen, X. Li, R. Grosse and D. Duvenaud, "Isolating
       Sources of Disentanglement in Variational Autoencoders", NeurIPS 2018.

    Examples
    --------
    >>> import torch
    >>> from torch.distributions import Normal
    >>> from nidl.losses import BetaTCVAELoss
    >>> q = Normal(torch.tensor([[0.0, 0.0], [1.0, 1.0]]), torch.ones(2, 2))
    >>> x = torch.zeros(2, 3)
    >>> terms = BetaTCVAELoss(dataset_size=100)(x, torch.zeros(2, 3), q, z=q.loc)
    >>> sorted(terms)
    ['beta', 'dw_kl_loss', 'kl_loss', 'loss', 'mi_loss', 'rec_loss', 'tc_loss']
    >>> round(float(terms["mi_loss"]), 4), round(float(terms["tc_loss"]), 4)
    (0.983, 0.0041)
    """

    def __init__(
        self,
        alpha=1.0,
        beta=6.0,
        gamma=1.0,
        dataset_size=None,
        default_dist="normal",
        exact_likelihood=False,
    ):
        check_scalar(alpha, "alpha", numbers.Real, min_val=0)
        check_scalar(gamma, "gamma", numbers.Real, min_val=0)
        if dataset_size is not None:
            check_scalar(dataset_size, "dataset_size", numbers.Integral, min_val=1)
        # ``beta`` is a number or a schedule, as in the beta-VAE; here it
        # weights the total correlation only.
        super().__init__(
            beta=beta, default_dist=default_dist, exact_likelihood=exact_likelihood
        )
        self.alpha = alpha
        self.gamma = gamma
        self.dataset_size = dataset_size

    def decompose_kl(self, q, z):
        """Estimate the mutual information, total correlation and dimension-wise KL.

        Parameters
        ----------
        q : torch.distributions.Normal, shape (batch_size, latent_dim)
            The posterior of each sample of the batch.
        z : torch.Tensor, shape (batch_size, latent_dim)
            One sample of each posterior.

        Returns
        -------
        mi, tc, dw_kl : torch.Tensor
            Scalars, averaged over the batch, in nats.

        Raises
        ------
        ValueError
            If ``dataset_size`` is not set or the batch holds one sample.

        Examples
        --------
        >>> import torch
        >>> from torch.distributions import Normal
        >>> from nidl.losses import BetaTCVAELoss
        >>> q = Normal(torch.zeros(4, 2), torch.ones(4, 2))
        >>> mi, tc, dw_kl = BetaTCVAELoss(dataset_size=4).decompose_kl(q, q.loc)
        >>> abs(float(mi)) < 1e-6, abs(float(tc)) < 1e-6, abs(float(dw_kl)) < 1e-6
        (True, True, True)
        """
        if not isinstance(q, Normal):
            raise TypeError(
                "the posterior q must be a torch.distributions.Normal, got "
                f"{type(q).__name__}."
            )
        if self.dataset_size is None:
            raise ValueError(
                "BetaTCVAELoss needs dataset_size, the number of training "
                "samples, to estimate the total correlation; set dataset_size."
            )
        batch_size = z.shape[0]
        log_weights = log_importance_weights(batch_size, self.dataset_size, z.device)
        # log q(z_i | x_j) per latent dimension: shape (batch, batch, latent).
        log_q_pairs = Normal(q.loc[None], q.scale[None], validate_args=False).log_prob(
            z[:, None]
        )
        log_q_given_x = log_q_pairs.diagonal(dim1=0, dim2=1).sum(dim=0)
        log_qz = torch.logsumexp(log_weights + log_q_pairs.sum(dim=2), dim=1)
        log_prod_qzj = torch.logsumexp(
            log_weights[..., None] + log_q_pairs, dim=1
        ).sum(1)
        log_pz = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(dim=1)
        mi = (log_q_given_x - log_qz).mean()
        tc = (log_qz - log_prod_qzj).mean()
        dw_kl = (log_prod_qzj - log_pz).mean()
        return mi, tc, dw_kl

    def __call__(self, x, p, q, step=None, z=None):
        """Compute the loss and its terms for one batch.

        Parameters
        ----------
        x : torch.Tensor, shape (batch_size, ...)
            The input data.
        p : torch.distributions.Distribution or torch.Tensor
            The decoder's likelihood: a ``Normal``, ``Laplace`` or ``Bernoulli``
            distribution, or a tensor holding the mean (the probability of
            success for ``"bernoulli"``) of ``default_dist``.
        q : torch.distributions.Normal
            The encoder's posterior ``q(z|x)`` with diagonal covariance.
        step : int, default=None
            Training step (number of optimiser steps taken), at which a ``beta``
            schedule is evaluated; needed only if ``beta`` is a schedule.
        z : torch.Tensor, default=None
            The posterior samples the decoder was given; drawn from ``q``
            if None.

        Returns
        -------
        losses : dict of str to torch.Tensor
            Scalar tensors ``"loss"``, ``"rec_loss"``, ``"kl_loss"`` (the
            closed-form KL to the prior, for monitoring), ``"mi_loss"``,
            ``"tc_loss"``, ``"dw_kl_loss"`` and ``"beta"`` (the weight in
            force).

        Raises
        ------
        ValueError
            If ``dataset_size`` is not set, the batch holds one sample, or
            ``beta`` is a schedule and ``step`` is None.
        """
        beta = value_at(self.beta, step, "beta")
        rec_loss = self.reconstruction_loss(p, x)
        kl_loss = self.kl_normal_loss(q)
        mi, tc, dw_kl = self.decompose_kl(q, q.rsample() if z is None else z)
        return {
            "loss": rec_loss + self.alpha * mi + beta * tc + self.gamma * dw_kl,
            "rec_loss": rec_loss,
            "kl_loss": kl_loss,
            "mi_loss": mi,
            "tc_loss": tc,
            "dw_kl_loss": dw_kl,
            "beta": kl_loss.new_tensor(beta),
        }
