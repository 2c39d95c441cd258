"""One implementation of each likelihood and KL term, per sample.

Training (the losses average these over the batch), ``score_samples`` and
``nidl.metrics`` all compute the reconstruction term and the KL divergence
here, so that their values agree.
"""

import math

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Laplace, Normal

#: Decoder distributions the losses understand, by the name users give them.
DISTRIBUTIONS = ("normal", "laplace", "bernoulli")

#: Per-feature additive constant of the negative log-likelihood that
#: ``reconstruction_loss`` leaves out: squared error is the NLL of a Normal of
#: variance 1/2 minus 0.5 * log(pi); absolute error is the NLL of a Laplace of
#: scale 1 minus log(2); binary cross-entropy is the exact Bernoulli NLL.
NLL_CONSTANTS = {
    "normal": 0.5 * math.log(math.pi),
    "laplace": math.log(2.0),
    "bernoulli": 0.0,
}


def check_distribution_name(default_dist):
    """Raise a ValueError unless ``default_dist`` names a supported likelihood.

    Parameters
    ----------
    default_dist : str
        The name to check.

    Raises
    ------
    ValueError
        If ``default_dist`` is not one of ``"normal"``, ``"laplace"`` or
        ``"bernoulli"``.

    Examples
    --------
    >>> check_distribution_name("laplace")
    >>> check_distribution_name("gauss")
    Traceback (most recent call last):
    ...
    ValueError: default_dist='gauss' is not supported; use one of 'normal',
    'laplace', 'bernoulli'.
    """
    if default_dist not in DISTRIBUTIONS:
        accepted = ", ".join(repr(name) for name in DISTRIBUTIONS)
        raise ValueError(
            f"default_dist={default_dist!r} is not supported; use one of {accepted}."
        )


def likelihood_name(p, default_dist):
    """Name of the likelihood a decoder output stands for.

    Parameters
    ----------
    p : torch.distributions.Distribution or torch.Tensor
        What the decoder returned.
    default_dist : str
        The likelihood a tensor stands for.

    Returns
    -------
    name : {"normal", "laplace", "bernoulli"}

    Raises
    ------
    TypeError
        If ``p`` is neither a tensor nor a supported distribution.

    Examples
    --------
    >>> import torch
    >>> from torch.distributions import Laplace
    >>> likelihood_name(Laplace(torch.zeros(1), 1.0), "normal")
    'laplace'
    >>> likelihood_name(torch.zeros(1), "bernoulli")
    'bernoulli'
    """
    if isinstance(p, torch.Tensor):
        return default_dist
    for name, distribution in (
        ("normal", Normal),
        ("laplace", Laplace),
        ("bernoulli", Bernoulli),
    ):
        if isinstance(p, distribution):
            return name
    raise TypeError(
        "the decoder must return a torch.Tensor or a Normal, Laplace or "
        f"Bernoulli distribution, got {type(p).__name__}."
    )


def check_same_shape(output, data):
    """Raise a ValueError unless the decoder output has the data's shape."""
    if output.shape != data.shape:
        raise ValueError(
            f"the decoder returns samples of shape {tuple(output.shape[1:])} but "
            f"the data has samples of shape {tuple(data.shape[1:])}; make the "
            "decoder output the shape of its input."
        )


def _per_sample(values):
    """Sum of elementwise values over every axis but the first."""
    return values.reshape(values.shape[0], -1).sum(dim=1)


def reconstruction_error(p, data, default_dist):
    """The reconstruction term of the losses, per sample, without constants.

    Squared error for a Normal likelihood, absolute error for a Laplace,
    binary cross-entropy for a Bernoulli, summed over the features of each
    sample. The scale of a ``Normal`` or ``Laplace`` the decoder returns is
    not used: squared error is the negative log-likelihood of a Normal of
    variance 1/2, absolute error that of a Laplace of scale 1, each without
    its additive constant (:data:`NLL_CONSTANTS` per feature).

    Parameters
    ----------
    p : torch.distributions.Distribution or torch.Tensor
        The decoder's output: a ``Normal``, ``Laplace`` or ``Bernoulli``, or
        the mean of ``default_dist`` as a tensor.
    data : torch.Tensor, shape (batch_size, ...)
        The observed data.
    default_dist : {"normal", "laplace", "bernoulli"}
        The likelihood a tensor stands for.

    Returns
    -------
    error : torch.Tensor, shape (batch_size,)

    Examples
    --------
    >>> import torch
    >>> from nidl.losses._likelihood import reconstruction_error
    >>> data = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    >>> reconstruction_error(torch.tensor([[0.0, 0.0], [0.0, 2.0]]), data, "normal")
    tensor([1., 4.])
    """
    name = likelihood_name(p, default_dist)
    if isinstance(p, Bernoulli):
        check_same_shape(p.logits, data)
        # The logits form stays finite where log(sigmoid(logits)) would not.
        values = F.binary_cross_entropy_with_logits(p.logits, data, reduction="none")
    else:
        mean = p if isinstance(p, torch.Tensor) else p.loc
        check_same_shape(mean, data)
        if name == "normal":
            values = (mean - data).square()
        elif name == "laplace":
            values = (mean - data).abs()
        else:
            values = F.binary_cross_entropy(mean, data, reduction="none")
    return _per_sample(values)


def negative_log_likelihood(p, data, default_dist, use_scale=True):
    """Exact negative log-likelihood of each sample, constants included.

    ``-p.log_prob(data)`` for a ``Normal`` or ``Laplace`` decoder output
    (its scale is used); for a tensor or a ``Bernoulli``, and with
    ``use_scale=False``, the :func:`reconstruction_error` plus the
    likelihood's constant per feature (a Normal of variance 1/2, a Laplace
    of scale 1): the likelihood that error stands for.

    Parameters
    ----------
    p : torch.distributions.Distribution or torch.Tensor
        The decoder's output.
    data : torch.Tensor, shape (batch_size, ...)
        The observed data.
    default_dist : {"normal", "laplace", "bernoulli"}
        The likelihood a tensor stands for.
    use_scale : bool, default=True
        Whether the scale of a ``Normal`` or ``Laplace`` output is used (as
        the losses do with ``exact_likelihood=True``).

    Returns
    -------
    nll : torch.Tensor, shape (batch_size,)
        In nats.

    Examples
    --------
    >>> import math, torch
    >>> from torch.distributions import Normal
    >>> from nidl.losses._likelihood import negative_log_likelihood
    >>> nll = negative_log_likelihood(
    ...     Normal(torch.zeros(1, 1), 1.0), torch.zeros(1, 1), "normal"
    ... )
    >>> round(float(nll[0]), 4) == round(0.5 * math.log(2 * math.pi), 4)
    True
    """
    if use_scale and isinstance(p, (Normal, Laplace)):
        check_same_shape(p.loc, data)
        return -_per_sample(p.log_prob(data))
    name = likelihood_name(p, default_dist)
    constant = NLL_CONSTANTS[name] * data[0].numel()
    return reconstruction_error(p, data, default_dist) + constant


def kl_normal(q):
    """KL divergence from a diagonal Normal posterior to ``N(0, I)``, per sample.

    Parameters
    ----------
    q : torch.distributions.Normal, shape (batch_size, latent_dim)
        The posterior.

    Returns
    -------
    kl : torch.Tensor, shape (batch_size,)
        Summed over the latent dimensions.

    Raises
    ------
    TypeError
        If ``q`` is not a ``torch.distributions.Normal``.

    Examples
    --------
    >>> import torch
    >>> from torch.distributions import Normal
    >>> from nidl.losses._likelihood import kl_normal
    >>> kl_normal(Normal(torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.ones(2, 2)))
    tensor([0.5000, 0.0000])
    """
    if not isinstance(q, Normal):
        raise TypeError(
            "the posterior q must be a torch.distributions.Normal, got "
            f"{type(q).__name__}."
        )
    # Closed form of KL(N(mu, s^2) || N(0, 1)) = (mu^2 + s^2 - 1) / 2 - log s,
    # as kl_divergence computes it, without building the prior at every step.
    loc, scale = q.loc, q.scale
    return _per_sample(0.5 * (loc.square() + scale.square() - 1.0) - scale.log())
