"""Joint VAE: continuous and categorical latents (Dupont, 2018)."""

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.utils import check_scalar
from torch import nn
from torch.distributions import Normal, OneHotCategorical, RelaxedOneHotCategorical

from ..._docstrings import fill_doc
from ...losses import JointPosterior, JointVAELoss
from ...losses._likelihood import kl_normal
from ...losses.joint_vae import kl_categorical
from ..base import ClusterMixin
from ._base import VAEBase


@fill_doc
class JointVAE(ClusterMixin, VAEBase):
    r"""Joint VAE: a VAE with continuous and categorical latents (Dupont, 2018).

    The code of each sample is a vector of ``latent_dim`` continuous latents
    with a unit Normal prior, followed by one categorical latent with a
    uniform prior per entry of ``categorical_dims``. The categoricals are
    relaxed with the Gumbel-softmax (concrete) distribution so that their
    samples are differentiable; the decoder takes the continuous sample
    followed by the relaxed one-hot sample of each categorical, that is
    ``latent_dim + sum(categorical_dims)`` inputs. Training minimises
    :class:`~nidl.losses.JointVAELoss`: the reconstruction term plus each
    KL divergence pulled towards a capacity that rises during training (the
    discrete one capped at the sum of ``log(K)``).

    Without labels, the categorical latent often picks up a discrete factor
    of the data, such as the class of a digit: ``predict`` returns the most
    likely category of each categorical latent, which makes the model a
    clusterer, and ``transform`` returns the continuous posterior means
    followed by each categorical's class probabilities.

    **Temperature.** The Gumbel-softmax temperature anneals exponentially
    from ``temperature`` at the first optimiser step to ``min_temperature``
    at step ``temperature_steps``, then stays there:

    .. math::

        \tau(t) = \tau_0 \left(\frac{\tau_{min}}{\tau_0}\right)^{\min(t / T, 1)},

    the schedule ``max(tau_min, tau_0 exp(-r t))`` of Jang et al. (2017) with
    the rate ``r = log(tau_0 / tau_min) / T`` chosen to reach ``tau_min`` at
    ``T = temperature_steps``. A high temperature gives smooth samples and
    well-behaved gradients early; a low one makes the samples nearly one-hot,
    as the categorical latent they stand for. The temperature, the
    capacities in force and the loss terms are logged as
    ``train/temperature``, ``train/continuous_capacity``,
    ``train/discrete_capacity``, ``train/loss``, ``train/rec_loss``,
    ``train/continuous_kl_loss`` and ``train/discrete_kl_loss``.

    Parameters
    ----------
    encoder : torch.nn.Module
        Backbone mapping a batch of inputs to ``(batch_size, encoder_out_dim)``.
    decoder : torch.nn.Module
        Maps a batch of codes (``latent_dim`` values per sample, followed by
        the categorical ones for a Joint VAE) to a tensor or a distribution
        shaped like the input.
    encoder_out_dim : int
        Number of features the encoder returns per sample.
    latent_dim : int
        Number of (continuous) latent dimensions.
    categorical_dims : sequence of int, default=(10,)
        Number of categories of each categorical latent (each >= 2).
    temperature : float, default=0.67
        Gumbel-softmax temperature at the first step.
    min_temperature : float, default=0.5
        Temperature reached at ``temperature_steps`` and kept after;
        ``0 < min_temperature <= temperature`` (equal values keep the
        temperature constant).
    temperature_steps : int, default=25000
        Number of optimiser steps of the annealing.
    continuous_gamma : float, default=30.0
        Weight of the continuous capacity term.
    continuous_capacity_min : float, default=0.0
        Continuous capacity at the first step, in nats.
    continuous_capacity_max : float, default=25.0
        Continuous capacity from ``continuous_capacity_steps`` on, in nats.
    continuous_capacity_steps : int, default=25000
        Number of optimiser steps over which the continuous capacity rises.
    discrete_gamma : float, default=30.0
        Weight of the discrete capacity term.
    discrete_capacity_min : float, default=0.0
        Discrete capacity at the first step, in nats.
    discrete_capacity_max : float, default=25.0
        Discrete capacity from ``discrete_capacity_steps`` on, in nats,
        capped at the sum of ``log(K)`` over ``categorical_dims``.
    discrete_capacity_steps : int, default=25000
        Number of optimiser steps over which the discrete capacity rises.
    default_dist : {"normal", "laplace", "bernoulli"}, default="normal"
        Decoder likelihood when the decoder returns a tensor: squared error
        for ``"normal"``, absolute error for ``"laplace"``, binary
        cross-entropy for ``"bernoulli"`` (data in [0, 1]).
    observation_scale : {"fixed", "shared", "feature"}, default="fixed"
        Scale of a Normal or Laplace likelihood: ``"fixed"`` keeps the scale
        ``default_dist`` implies (the squared or absolute error); ``"shared"``
        learns one scale for all features and ``"feature"`` one per feature
        (``observation_scale_``), both trained on the exact negative
        log-likelihood. A learned scale lets the likelihood match the noise of
        the data, so that the KL term does not dominate on data of small
        variance, as intensities of brain images are.
    lr : float, default=1e-4
        Learning rate of the AdamW optimiser.
    weight_decay : float, default=1e-2
        Weight decay of the AdamW optimiser, decoupled from the gradient: every
        weight shrinks by ``lr * weight_decay`` at each step. Much larger
        values can pay off on small cohorts of large images (the user guide on
        brains compares them).
    %(random_state)s
    %(batch_size)s
    %(trainer_kwargs)s

    Attributes
    ----------
    encoder : torch.nn.Module
        The encoder backbone.
    decoder : torch.nn.Module
        The decoder.
    fc_mu : torch.nn.Linear
        Head mapping encoder features to the posterior mean, built at
        construction and again by every ``fit``.
    fc_logvar : torch.nn.Linear
        Head mapping encoder features to the posterior log-variance.
    observation_scale_ : numpy.ndarray
        The learned scale of the likelihood, of shape () or the samples'
        shape; only with a learned ``observation_scale``.
    n_features_in_ : int
        Size of the second axis of the training data.
    sample_shape_ : tuple of int
        Shape of one training sample.
    n_epochs_ : int
        Number of epochs trained.
    n_steps_ : int
        Number of optimiser steps taken.
    history_ : dict of str to list of float
        Epoch means of the logged values: ``"train/loss"``,
        ``"train/rec_loss"``, ... one value per epoch, and ``"val/..."`` per
        epoch validated.
    callbacks_ : list of pytorch_lightning.Callback
        Copies of ``callbacks`` as the last fit left them.
    criterion : object
        The loss minimised (the one named under See Also), built from the
        parameters at construction and again by every ``fit``.
    fc_logits : torch.nn.Linear
        Head mapping encoder features to the logits of all categoricals.

    See Also
    --------
    VAE : Continuous latents only.
    nidl.losses.JointVAELoss : The loss this estimator minimises.

    References
    ----------
    .. [1] E. Dupont, "Learning Disentangled Joint Continuous and Discrete
       Representations", NeurIPS 2018.
    .. [2] E. Jang, S. Gu and B. Poole, "Categorical Reparameterization with
       Gumbel-Softmax", ICLR 2017.

    Examples
    --------
    Clustering three groups of samples with one categorical latent of three
    categories:

    >>> from sklearn.datasets import make_blobs
    >>> from torch import nn
    >>> from nidl.estimators.autoencoders import JointVAE
    >>> X, groups = make_blobs(n_samples=90, n_features=8, centers=3, random_state=0)
    >>> vae = JointVAE(nn.Sequential(nn.Linear(8, 16), nn.ReLU()), nn.Linear(2 + 3, 8),
    ...                encoder_out_dim=16, latent_dim=2, categorical_dims=(3,),
    ...                temperature=1.0, min_temperature=0.5, temperature_steps=100,
    ...                lr=1e-2, random_state=0, max_epochs=2, enable_progress_bar=False)
    >>> labels = vae.fit_predict(X)  # the category of each sample
    >>> labels.shape, set(labels) <= {0, 1, 2}
    ((90,), True)
    >>> vae.transform(X).shape  # 2 means and 3 class probabilities
    (90, 5)
    >>> vae.temperature_at(50)  # halfway through the annealing
    0.7071067811865476
    """

    _loss_parameters = (
        "continuous_gamma", "continuous_capacity_min", "continuous_capacity_max",
        "continuous_capacity_steps", "discrete_gamma", "discrete_capacity_min",
        "discrete_capacity_max", "discrete_capacity_steps",
    )

    def __init__(
        self, encoder, decoder, encoder_out_dim, latent_dim, categorical_dims=(10,),
        temperature=0.67, min_temperature=0.5, temperature_steps=25000,
        continuous_gamma=30.0, continuous_capacity_min=0.0,
        continuous_capacity_max=25.0, continuous_capacity_steps=25000,
        discrete_gamma=30.0, discrete_capacity_min=0.0, discrete_capacity_max=25.0,
        discrete_capacity_steps=25000, default_dist="normal",
        observation_scale="fixed", lr=1e-4,
        weight_decay=1e-2, random_state=None, batch_size=128, **kwargs,
    ):
        self.categorical_dims = categorical_dims
        self.temperature = temperature
        self.min_temperature = min_temperature
        self.temperature_steps = temperature_steps
        self.continuous_gamma = continuous_gamma
        self.continuous_capacity_min = continuous_capacity_min
        self.continuous_capacity_max = continuous_capacity_max
        self.continuous_capacity_steps = continuous_capacity_steps
        self.discrete_gamma = discrete_gamma
        self.discrete_capacity_min = discrete_capacity_min
        self.discrete_capacity_max = discrete_capacity_max
        self.discrete_capacity_steps = discrete_capacity_steps
        # Codes are continuous means and class probabilities: the transform
        # of a Joint VAE draws nothing, and it takes no stochastic_transform.
        super().__init__(
            encoder, decoder, encoder_out_dim, latent_dim, default_dist=default_dist,
            observation_scale=observation_scale, lr=lr, weight_decay=weight_decay,
            random_state=random_state, batch_size=batch_size, **kwargs,
        )

    # ------------------------------------------------------------------
    # Hooks of the base class
    # ------------------------------------------------------------------
    def _check_params(self):
        super()._check_params()
        dims = self.categorical_dims
        if (
            isinstance(dims, (str, bytes))
            or not isinstance(dims, Sequence)
            or len(dims) == 0
        ):
            raise ValueError(
                f"categorical_dims={dims!r} must be a non-empty sequence of "
                "numbers of categories; pass e.g. categorical_dims=(10,)."
            )
        for index, n_categories in enumerate(dims):
            check_scalar(
                n_categories, f"categorical_dims[{index}]", numbers.Integral, min_val=2
            )
        check_scalar(
            self.temperature, "temperature", numbers.Real, min_val=0,
            include_boundaries="neither",
        )
        check_scalar(
            self.min_temperature, "min_temperature", numbers.Real, min_val=0,
            max_val=self.temperature, include_boundaries="right",
        )
        check_scalar(
            self.temperature_steps, "temperature_steps", numbers.Integral, min_val=0
        )

    def _weights_change(self):
        return True  # the capacities rise with the step, the temperature falls

    def _make_criterion(self, facts):
        return JointVAELoss(**self._loss_arguments())

    def _build_modules(self, facts):
        super()._build_modules(facts)
        self.fc_logits = nn.Linear(self.encoder_out_dim, sum(self.categorical_dims))

    def _non_deterministic(self):
        return False

    def _n_outputs(self):
        return self.fc_mu.out_features + self.fc_logits.out_features

    def _step(self):
        """The optimiser step the model is at: the Trainer's, or the last one.

        Outside training (a fitted or unpickled model), the temperature is
        the one training ended at.
        """
        trainer = self._attached_trainer()
        if trainer is not None:
            return trainer.global_step
        return getattr(self, "n_steps_", 0)

    # ------------------------------------------------------------------
    # Model
    # ------------------------------------------------------------------
    def temperature_at(self, step):
        """Gumbel-softmax temperature at a training step.

        Parameters
        ----------
        step : int
            Optimiser step, >= 0.

        Returns
        -------
        temperature : float

        Examples
        --------
        >>> from torch import nn
        >>> from nidl.estimators.autoencoders import JointVAE
        >>> vae = JointVAE(nn.Linear(4, 8), nn.Linear(12, 4), encoder_out_dim=8,
        ...                latent_dim=2, temperature=1.0, min_temperature=0.25,
        ...                temperature_steps=100)
        >>> vae.temperature_at(0), vae.temperature_at(50), vae.temperature_at(500)
        (1.0, 0.5, 0.25)
        """
        check_scalar(step, "step", numbers.Real, min_val=0)
        if step >= self.temperature_steps:
            return float(self.min_temperature)
        fraction = step / self.temperature_steps
        return float(
            self.temperature * (self.min_temperature / self.temperature) ** fraction
        )

    def encode(self, x):
        """Posterior of a batch: continuous Normal and relaxed categoricals.

        The categoricals are relaxed at the temperature of the current
        training step, or of the last one once trained (see
        :meth:`temperature_at`).

        Parameters
        ----------
        x : torch.Tensor
            Input batch.

        Returns
        -------
        q : nidl.losses.JointPosterior
            The posterior; ``q.rsample()`` draws a code for the decoder and
            ``q.mean`` holds the continuous means followed by the class
            probabilities.
        """
        return self._encode(x, None)

    def _encode(self, x, context):
        features = self.encoder(x)
        mu, logvar = self._heads(features, context)
        continuous = Normal(mu, torch.exp(0.5 * logvar), validate_args=False)
        temperature = torch.tensor(
            self.temperature_at(self._step()), dtype=mu.dtype, device=mu.device
        )
        logits = self.fc_logits(features).split(list(self.categorical_dims), dim=1)
        categoricals = [
            RelaxedOneHotCategorical(temperature, logits=part, validate_args=False)
            for part in logits
        ]
        return JointPosterior(continuous, categoricals)

    def _forward_for_loss(self, x, context, stage):
        # The relaxation of the categoricals depends on the step: the
        # posterior comes from _encode, not from the Gaussian heads alone.
        q = self._encode(x, context)
        return q, self._likelihood(self._decode(q.rsample(), context))

    def _values_in_force(self, values, step):
        in_force = super()._values_in_force(values, step)
        in_force.pop("beta", None)
        in_force["temperature"] = self.temperature_at(step)
        return in_force

    # ------------------------------------------------------------------
    # Hooks of the latent space: continuous and categorical latents
    # ------------------------------------------------------------------
    def _kl_per_sample(self, q):
        return kl_normal(q.continuous) + kl_categorical(q)

    def _sample_prior(self, n_samples):
        # The continuous latents from N(0, I), each categorical uniformly,
        # as a one-hot vector.
        parts = [torch.randn(n_samples, self.latent_dim, device=self.device)]
        for n_categories in self.categorical_dims:
            uniform = torch.zeros(n_samples, n_categories, device=self.device)
            parts.append(OneHotCategorical(logits=uniform).sample())
        return torch.cat(parts, dim=1)

    def _prior_mean_code(self):
        # Codes hold class probabilities: the uniform prior's are 1/K.
        parts = [np.zeros(self.latent_dim, dtype=np.float32)]
        parts += [np.full(k, 1.0 / k, dtype=np.float32) for k in self.categorical_dims]
        return np.concatenate(parts)

    def _importance_codes(self, q, n_draws):
        # Categories are drawn exactly (one-hot), not relaxed: the bound
        # is on the likelihood of the model with discrete latents.
        z = q.continuous.sample((n_draws,))
        prior = Normal(torch.zeros_like(z), torch.ones_like(z))
        log_ratio = prior.log_prob(z).sum(-1) - q.continuous.log_prob(z).sum(-1)
        parts = [z]
        for categorical in q.categoricals:
            posterior = OneHotCategorical(
                logits=categorical.logits, validate_args=False
            )
            draws = posterior.sample((n_draws,))
            n_categories = draws.shape[-1]
            log_ratio = log_ratio - math.log(n_categories) - posterior.log_prob(draws)
            parts.append(draws)
        return torch.cat(parts, dim=-1), log_ratio

    @fill_doc
    def transform_step(self, batch, batch_idx, dataloader_idx=0):
        """Codes of one batch: continuous means, then class probabilities.

        %(step_parameters)s

        Returns
        -------
        codes : torch.Tensor, shape (batch_size, latent_dim + sum(categorical_dims))
        """
        return self._encode(*self._split_batch(batch)).mean

    @fill_doc
    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        """Most likely category of each categorical latent for one batch.

        %(step_parameters)s

        Returns
        -------
        labels : torch.Tensor of int64
            Shape (batch_size,) with one categorical latent,
            (batch_size, n_categoricals) with several.
        """
        q = self._encode(*self._split_batch(batch))
        labels = torch.stack(
            [categorical.logits.argmax(dim=1) for categorical in q.categoricals], dim=1
        )
        return labels[:, 0] if labels.shape[1] == 1 else labels

    def fit_predict(self, X, y=None, **kwargs):
        """Fit the model and return the most likely category of each sample.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Training data.
        y : None
            Ignored.
        **kwargs
            Passed to :meth:`fit`.

        Returns
        -------
        labels : numpy.ndarray or torch.Tensor of int64
            As :meth:`predict`.
        """
        return self.fit(X, y, **kwargs).predict(X)
