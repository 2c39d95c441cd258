"""Joint VAE: continuous and categorical latents (Dupont, 2018)."""

import numbers
from collections.abc import Sequence

import torch
from sklearn.utils import check_scalar
from torch import nn
from torch.distributions import Normal, OneHotCategorical, RelaxedOneHotCategorical

from ...losses import JointPosterior, JointVAELoss
from ..base import ClusterMixin
from .vae import VAE, decoder_mean


class JointVAE(ClusterMixin, VAE):
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
        Maps a batch of codes ``(batch_size, latent_dim + sum(categorical_dims))``
        to a tensor or a distribution shaped like the input.
    encoder_out_dim : int
        Number of features the encoder returns per sample.
    latent_dim : int
        Number of continuous latent dimensions.
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
        Decoder likelihood when the decoder returns a tensor.
    lr : float, default=1e-4
        Learning rate of the AdamW optimiser.
    weight_decay : float, default=1e-2
        Weight decay of the AdamW optimiser.
    random_state : int, default=None
        Seed of everything a fit draws (see :class:`VAE`).
    batch_size : int, default=128
        Batch size for Dataset, array and tensor input.
    **kwargs
        Options of ``pytorch_lightning.Trainer``.

    Attributes
    ----------
    fc_mu : torch.nn.Linear
        Head mapping encoder features to the continuous posterior means.
    fc_logvar : torch.nn.Linear
        Head mapping encoder features to the continuous log-variances.
    fc_logits : torch.nn.Linear
        Head mapping encoder features to the logits of all categoricals.
    criterion : JointVAELoss
        The loss minimised.
    n_features_in_ : int
        Size of the second axis of the training data.
    n_epochs_ : int
        Number of epochs trained.
    n_steps_ : int
        Number of optimiser steps taken.

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
    >>> import numpy as np
    >>> from torch import nn
    >>> from nidl.estimators.autoencoders import JointVAE
    >>> X = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    >>> vae = JointVAE(nn.Sequential(nn.Linear(8, 16), nn.ReLU()),
    ...                nn.Linear(2 + 3, 8), encoder_out_dim=16, latent_dim=2,
    ...                categorical_dims=(3,), temperature=1.0, min_temperature=0.5,
    ...                temperature_steps=100, lr=1e-2, random_state=0,
    ...                max_epochs=2, enable_progress_bar=False)
    >>> vae.fit(X).transform(X).shape  # 2 means and 3 class probabilities
    (64, 5)
    >>> vae.predict(X).shape, set(vae.predict(X)) <= {0, 1, 2}
    ((64,), True)
    >>> vae.temperature_at(50)  # halfway through the annealing
    0.7071067811865476
    """

    _layer_parameters = VAE._layer_parameters + ("categorical_dims",)

    def __init__(
        self,
        encoder,
        decoder,
        encoder_out_dim,
        latent_dim,
        categorical_dims=(10,),
        temperature=0.67,
        min_temperature=0.5,
        temperature_steps=25000,
        continuous_gamma=30.0,
        continuous_capacity_min=0.0,
        continuous_capacity_max=25.0,
        continuous_capacity_steps=25000,
        discrete_gamma=30.0,
        discrete_capacity_min=0.0,
        discrete_capacity_max=25.0,
        discrete_capacity_steps=25000,
        default_dist="normal",
        lr=1e-4,
        weight_decay=1e-2,
        random_state=None,
        batch_size=128,
        **kwargs,
    ):
        # The base estimator's constructor: this model has neither the beta
        # nor the stochastic_transform of VAE.
        super(VAE, self).__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.encoder_out_dim = encoder_out_dim
        self.latent_dim = latent_dim
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
        self.default_dist = default_dist
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.batch_size = batch_size

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

    def _make_criterion(self):
        return JointVAELoss(
            continuous_gamma=self.continuous_gamma,
            continuous_capacity_min=self.continuous_capacity_min,
            continuous_capacity_max=self.continuous_capacity_max,
            continuous_capacity_steps=self.continuous_capacity_steps,
            discrete_gamma=self.discrete_gamma,
            discrete_capacity_min=self.discrete_capacity_min,
            discrete_capacity_max=self.discrete_capacity_max,
            discrete_capacity_steps=self.discrete_capacity_steps,
            default_dist=self.default_dist,
        )

    def _build_modules(self):
        super()._build_modules()
        self.fc_logits = nn.Linear(self.encoder_out_dim, sum(self.categorical_dims))

    def _non_deterministic(self):
        return False

    @property
    def _n_features_out(self):
        return self.latent_dim + sum(self.categorical_dims)

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
        training step (see :meth:`temperature_at`).

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
        features = self.encoder(x)
        mu = self.fc_mu(features)
        logvar = self.fc_logvar(features)
        continuous = Normal(mu, torch.exp(0.5 * logvar), validate_args=False)
        temperature = torch.tensor(
            self.temperature_at(self.global_step), dtype=mu.dtype, device=mu.device
        )
        logits = self.fc_logits(features).split(list(self.categorical_dims), dim=1)
        categoricals = [
            RelaxedOneHotCategorical(temperature, logits=part, validate_args=False)
            for part in logits
        ]
        return JointPosterior(continuous, categoricals)

    def forward(self, x):
        """Encode the input and draw a code from the posterior.

        Parameters
        ----------
        x : torch.Tensor
            Input batch.

        Returns
        -------
        z : torch.Tensor, shape (batch_size, latent_dim + sum(categorical_dims))
            Continuous samples followed by relaxed one-hot samples.
        """
        return self.encode(x).rsample()

    def _forward_for_loss(self, x, stage):
        # The relaxation of the categoricals depends on the step: the
        # posterior comes from encode, not from the Gaussian heads alone.
        q = self.encode(x)
        return q, self.decoder(q.rsample())

    def _values_in_force(self, values, step):
        in_force = super()._values_in_force(values, step)
        in_force.pop("beta", None)
        in_force["temperature"] = self.temperature_at(step)
        return in_force

    def _kl_divergence(self, q):
        return self.criterion.kl_normal_loss(q.continuous) + self.criterion.kl_categorical_loss(q)

    def training_step(self, batch, batch_idx, dataloader_idx=0):
        """Compute and log the training losses of one batch.

        The loss terms are logged per epoch (``train/loss``,
        ``train/rec_loss``, ``train/kl_loss``, ``train/continuous_kl_loss``,
        ``train/discrete_kl_loss``); the capacities and the temperature in
        force at every step (``train/continuous_capacity``,
        ``train/discrete_capacity``, ``train/temperature``).

        Parameters
        ----------
        batch : torch.Tensor or tuple
            Input batch, or ``(x, y, ...)`` of which ``x`` is used.
        batch_idx : int
            Ignored.
        dataloader_idx : int, default=0
            Ignored.

        Returns
        -------
        losses : dict
            ``"loss"``, ``"rec_loss"``, ``"kl_loss"``,
            ``"continuous_kl_loss"`` and ``"discrete_kl_loss"``.
        """
        return super().training_step(batch, batch_idx, dataloader_idx)

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        """Compute and log the validation losses of one batch.

        The loss terms are logged per epoch as ``val/loss``,
        ``val/rec_loss``, ``val/kl_loss``, ``val/continuous_kl_loss`` and
        ``val/discrete_kl_loss``, at the capacities of the last training
        step.

        Parameters
        ----------
        batch : torch.Tensor or tuple
            Input batch, or ``(x, y, ...)`` of which ``x`` is used.
        batch_idx : int
            Ignored.
        dataloader_idx : int, default=0
            Ignored.

        Returns
        -------
        losses : dict
            As :meth:`training_step`.
        """
        return self._losses(batch, batch_idx, "val")

    def transform_step(self, batch, batch_idx, dataloader_idx=0):
        """Codes of one batch: continuous means, then class probabilities.

        Parameters
        ----------
        batch : torch.Tensor or tuple
            Input batch, or ``(x, y, ...)`` of which ``x`` is used.
        batch_idx : int
            Ignored.
        dataloader_idx : int, default=0
            Ignored.

        Returns
        -------
        codes : torch.Tensor, shape (batch_size, latent_dim + sum(categorical_dims))
        """
        return self.encode(self._batch_input(batch)).mean

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        """Most likely category of each categorical latent for one batch.

        Parameters
        ----------
        batch : torch.Tensor or tuple
            Input batch, or ``(x, y, ...)`` of which ``x`` is used.
        batch_idx : int
            Ignored.
        dataloader_idx : int, default=0
            Ignored.

        Returns
        -------
        labels : torch.Tensor of int64
            Shape (batch_size,) with one categorical latent,
            (batch_size, n_categoricals) with several.
        """
        q = self.encode(self._batch_input(batch))
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

    # ------------------------------------------------------------------
    # scikit-learn methods beyond transform and predict
    # ------------------------------------------------------------------
    def sample(self, n_samples):
        """Generate data by decoding draws of the prior.

        The continuous latents are drawn from ``N(0, I)`` and each
        categorical latent uniformly, as a one-hot vector.

        Parameters
        ----------
        n_samples : int
            Number of samples to generate.

        Returns
        -------
        x : torch.Tensor, shape (n_samples, ...)
            Decoder means, on the model's device.
        """
        check_scalar(n_samples, "n_samples", numbers.Integral, min_val=1)
        with torch.no_grad():
            parts = [torch.randn(n_samples, self.latent_dim, device=self.device)]
            for n_categories in self.categorical_dims:
                uniform = torch.zeros(n_samples, n_categories, device=self.device)
                parts.append(OneHotCategorical(logits=uniform).sample())
            return decoder_mean(self.decoder(torch.cat(parts, dim=1)))

