"""The beta-VAE loss: a likelihood term plus a weighted KL divergence."""

from ._likelihood import (
    check_distribution_name,
    kl_normal,
    negative_log_likelihood,
    reconstruction_error,
)
from .schedules import check_number_or_schedule, value_at


class BetaVAELoss:
    r"""Beta-VAE loss: reconstruction negative log-likelihood plus beta times KL.

    The beta-VAE [1]_ maximises the evidence lower bound with the KL term
    weighted by ``beta``:

    .. math::

        \mathcal{L}(x) = -\mathbb{E}_{q(z|x)}[\log p(x|z)]
            + \beta \, D_{KL}(q(z|x) \,\|\, \mathcal{N}(0, I)).

    ``beta=1`` is the plain VAE objective; ``beta>1`` trades reconstruction
    for a more factorised, more constrained latent code. The likelihood term
    is computed up to an additive constant (see
    :meth:`reconstruction_loss`). Both terms are summed over features (or
    latent dimensions) and averaged over the batch, so their scale does not
    depend on the batch size.

    Parameters
    ----------
    beta : float or callable, default=4.0
        Weight of the KL divergence, or a schedule ``step -> weight`` such
        as :class:`~nidl.losses.LinearWarmup` or
        :class:`~nidl.losses.CyclicalSchedule`, evaluated at the ``step``
        given to each call.
    default_dist : {"normal", "laplace", "bernoulli"}, default="normal"
        Decoder likelihood used when the decoder returns a tensor rather than
        a distribution: squared error for ``"normal"``, absolute error for
        ``"laplace"`` and binary cross-entropy for ``"bernoulli"``.
    exact_likelihood : bool, default=False
        If False, the reconstruction term is the squared error, absolute
        error or cross-entropy, without the likelihood's constants and
        ignoring the scale of a ``Normal`` or ``Laplace`` the decoder
        returns. If True, it is the exact negative log-likelihood: for a
        decoder that returns a ``Normal`` or ``Laplace`` (for instance with
        a learned scale), ``-p.log_prob(x)`` with its scale and constants;
        for a tensor, the likelihood ``default_dist`` stands for (a Normal of
        variance 1/2, a Laplace of scale 1) with its constants. Use it to
        learn the decoder's scale, which the default term cannot see.

    Raises
    ------
    ValueError
        If ``default_dist`` is not one of the supported names or ``beta`` is
        negative.
    TypeError
        If ``beta`` is neither a number nor a callable.

    See Also
    --------
    nidl.estimators.autoencoders.VAE : The estimator that minimises this loss.

    References
    ----------
    .. [1] I. Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a
       Constrained Variational Framework", ICLR 2017.

    Examples
    --------
    >>> import torch
    >>> from torch.distributions import Normal
    >>> from nidl.losses import BetaVAELoss
    >>> x = torch.tensor([[1.0, 2.0]])
    >>> q = Normal(torch.zeros(1, 3), torch.ones(1, 3))
    >>> losses = BetaVAELoss(beta=4.0)(x, torch.tensor([[0.0, 0.0]]), q)
    >>> float(losses["rec_loss"]), float(losses["kl_loss"]), float(losses["loss"])
    (5.0, 0.0, 5.0)

    A schedule for ``beta`` is evaluated at the training step:

    >>> from nidl.losses import LinearWarmup
    >>> warm = BetaVAELoss(beta=LinearWarmup(max_value=4.0, warmup_steps=100))
    >>> q = Normal(torch.ones(1, 3), torch.ones(1, 3))
    >>> float(warm(x, torch.tensor([[0.0, 0.0]]), q, step=25)["loss"])
    6.5
    """

    def __init__(self, beta=4.0, default_dist="normal", exact_likelihood=False):
        self._set_likelihood(default_dist, exact_likelihood)
        check_number_or_schedule(beta, "beta")
        self.beta = beta

    def _set_likelihood(self, default_dist, exact_likelihood):
        # The parameters of the reconstruction term, which every loss of the
        # family shares; the subclasses that weight the KL term without a
        # ``beta`` set them here rather than through this constructor.
        check_distribution_name(default_dist)
        self.default_dist = default_dist
        self.exact_likelihood = exact_likelihood

    def __call__(self, x, p, q, step=None):
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

        Returns
        -------
        losses : dict of str to torch.Tensor
            Scalar tensors ``"loss"`` (``rec_loss + beta * kl_loss``),
            ``"rec_loss"`` and ``"kl_loss"``.

        Raises
        ------
        ValueError
            If ``beta`` is a schedule and ``step`` is None.
        """
        beta = value_at(self.beta, step, "beta")
        rec_loss = self.reconstruction_loss(p, x)
        kl_loss = self.kl_normal_loss(q)
        return {
            "loss": rec_loss + beta * kl_loss,
            "rec_loss": rec_loss,
            "kl_loss": kl_loss,
        }

    def reconstruction_loss(self, p, data):
        """Negative log-likelihood of the data, per sample, up to a constant.

        The per-feature terms are summed over every non-batch dimension and
        averaged over the batch: squared error for a Normal likelihood,
        absolute error for a Laplace likelihood, binary cross-entropy for a
        Bernoulli likelihood. The scale of a given ``Normal`` or ``Laplace``
        is not used: squared error is the negative log-likelihood of a Normal
        of variance 1/2 and absolute error that of a Laplace of scale 1, each
        without its additive constant (:data:`NLL_CONSTANTS` per feature).
        With ``exact_likelihood=True`` it is the exact negative
        log-likelihood instead: ``-p.log_prob(data)`` for a ``Normal`` or
        ``Laplace``, and the above plus its constants for a tensor.

        Parameters
        ----------
        p : torch.distributions.Distribution or torch.Tensor
            The decoder's likelihood, or the mean of ``default_dist`` as a
            tensor (the probability of success for ``"bernoulli"``).
        data : torch.Tensor, shape (batch_size, ...)
            The observed data.

        Returns
        -------
        loss : torch.Tensor
            Scalar: the summed per-feature loss averaged over the batch.

        Raises
        ------
        TypeError
            If ``p`` is neither a tensor nor a ``Normal``, ``Laplace`` or
            ``Bernoulli`` distribution.
        ValueError
            If the decoder's output does not have the shape of ``data``.

        Examples
        --------
        >>> import torch
        >>> from nidl.losses import BetaVAELoss
        >>> data = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
        >>> mean = torch.tensor([[0.0, 0.0], [0.0, 2.0]])
        >>> float(BetaVAELoss(default_dist="laplace").reconstruction_loss(mean, data))
        1.5

        The exact likelihood uses the decoder's scale:

        >>> from torch.distributions import Normal
        >>> exact = BetaVAELoss(exact_likelihood=True)
        >>> round(float(exact.reconstruction_loss(Normal(mean, 2.0), data)), 4)
        3.5367
        """
        if self.exact_likelihood:
            return negative_log_likelihood(p, data, self.default_dist).mean()
        return reconstruction_error(p, data, self.default_dist).mean()

    def kl_normal_loss(self, q):
        """KL divergence from ``q`` to the unit Normal prior, the batch mean.

        ``q`` is a ``torch.distributions.Normal`` with diagonal covariance,
        of shape (batch_size, latent_dim); the divergence is summed over the
        latent dimensions and averaged over the batch (a TypeError for any
        other distribution).

        Examples
        --------
        >>> import torch
        >>> from torch.distributions import Normal
        >>> from nidl.losses import BetaVAELoss
        >>> q = Normal(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]]))
        >>> float(BetaVAELoss().kl_normal_loss(q))
        0.5
        """
        return kl_normal(q).mean()
