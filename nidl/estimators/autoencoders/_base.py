"""The base of the VAE family: what every variational autoencoder of nidl shares."""

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils import check_array, check_scalar
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.distributions import Laplace, Normal

from ..._docstrings import fill_doc
from ...losses._likelihood import check_distribution_name, kl_normal
from ...utils import returns_numpy
from ..base import BaseEstimator, TransformerMixin
from ._vae_scoring import VAEScoringMixin
from ._vae_training import VAETrainingMixin


def decoder_mean(p):
    """Mean of a decoder output: the tensor itself or the distribution's mean.

    Parameters
    ----------
    p : torch.Tensor or torch.distributions.Distribution
        What the decoder returned.

    Returns
    -------
    mean : torch.Tensor
        For a Bernoulli, the probabilities of success.

    Examples
    --------
    >>> import torch
    >>> from torch.distributions import Bernoulli
    >>> decoder_mean(Bernoulli(logits=torch.zeros(2)))
    tensor([0.5000, 0.5000])
    """
    return p if isinstance(p, torch.Tensor) else p.mean


#: Range of the log-variances the family trains, of the posterior and of a
#: learned observation scale: standard deviations from about 3e-7 to 2e4.
#: Unbounded, a log-variance that a large learning rate drives to -180 or
#: +100 underflows or overflows its variance, and training gives NaN.
LOG_VARIANCE_RANGE = (-30.0, 20.0)

#: The learned observation scales :class:`VAEBase` offers.
OBSERVATION_SCALES = ("fixed", "shared", "feature")


def bounded_log_variance(value, low=LOG_VARIANCE_RANGE[0], high=LOG_VARIANCE_RANGE[1]):
    """A log-variance kept inside ``(low, high)``, smoothly.

    The identity (up to rounding) well inside the range; near and beyond
    its ends, the value saturates through softplus functions, so that the
    variance and its gradient stay finite and the gradient never vanishes
    exactly (a hard clamp would leave a unit stuck at a bound).

    Parameters
    ----------
    value : torch.Tensor
        Unbounded log-variances.
    low, high : float
        The bounds.

    Returns
    -------
    bounded : torch.Tensor
        Of the shape of ``value``.

    Examples
    --------
    >>> import torch
    >>> bounded_log_variance(torch.tensor([-200.0, -1.0, 0.0, 200.0]))
    tensor([-30.,  -1.,   0.,  20.])
    """
    return high - F.softplus(high - (low + F.softplus(value - low)))


def float32_matrix(values, input_name, n_columns, expectation):
    """A checked 2-D float32 array of a known number of columns.

    Parameters
    ----------
    values : array-like or torch.Tensor, shape (n_samples, n_columns)
        The values; a tensor is copied to the CPU.
    input_name : str
        Their name, for the errors.
    n_columns : int
        The number of columns they must have.
    expectation : str
        What the columns stand for and how to pass the right ones: the end
        of the error message that a wrong number of columns raises.

    Returns
    -------
    array : numpy.ndarray of float32

    Examples
    --------
    >>> import torch
    >>> float32_matrix(torch.ones(2, 3), "X", 3, "three are expected").dtype
    dtype('float32')
    >>> float32_matrix(torch.ones(2, 3), "X", 2, "two are expected")
    Traceback (most recent call last):
    ...
    ValueError: X has 3 columns, but two are expected.
    """
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = check_array(values, dtype="float32", input_name=input_name)
    if array.shape[1] != n_columns:
        raise ValueError(
            f"{input_name} has {array.shape[1]} columns, but {expectation}."
        )
    return array


class VAEBase(VAEScoringMixin, VAETrainingMixin, TransformerMixin, BaseEstimator):
    """Base of the VAE family: shared parameters, encoding, decoding, sampling.

    Holds what every variational autoencoder of nidl does: the posterior
    heads and the loss built from the parameters, the training and
    validation steps, inference (``transform``, ``inverse_transform``,
    ``score_samples``, ``score``) and sampling.

    **Construction.** This constructor stores the shared parameters and
    builds the layers (heads, loss) from all the parameters, so that an
    estimator is a working model at once. An estimator of the family
    therefore stores its own parameters first, then calls this constructor
    (its own parameters are plain values, which a module may hold before
    ``torch.nn.Module.__init__`` runs)::

        def __init__(self, encoder, decoder, encoder_out_dim, latent_dim,
                     beta=1.0, ..., **kwargs):
            self.beta = beta
            super().__init__(encoder, decoder, encoder_out_dim, latent_dim,
                             ..., **kwargs)

    ``stochastic_transform``, which most estimators of the family take, is
    stored by each of them, so that one whose transform draws nothing (the
    Joint VAE) does not take it.

    **Hooks.** An estimator of the family states what it adds:

    - ``_make_criterion(facts)``: the loss it minimises;
    - ``_encode``, ``_forward_for_loss``: its posterior, when not a diagonal
      Normal;
    - ``_split_batch``, ``_heads``, ``_decode``: what a batch holds besides
      its input (a conditional VAE's covariates), passed to the model as
      ``context``;
    - ``_kl_per_sample``, ``_sample_prior``, ``_prior_mean_code``,
      ``_importance_codes``: the KL term, prior draws, the code at the
      prior's mean and importance samples, for other latents.
    """

    _user_modules = ("encoder", "decoder")

    #: Names of the estimator's parameters that its loss takes unchanged.
    _loss_parameters = ()

    _logs_epoch_means = True

    def __init__(
        self, encoder, decoder, encoder_out_dim, latent_dim, default_dist="normal",
        observation_scale="fixed", lr=1e-4, weight_decay=1e-2, random_state=None,
        batch_size=128, **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.encoder_out_dim = encoder_out_dim
        self.latent_dim = latent_dim
        self.default_dist = default_dist
        self.observation_scale = observation_scale
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.batch_size = batch_size
        # The training loss compiled by torch.compile (compile=True), made
        # in the process that trains and dropped at the end of training.
        self._compiled_loss_values = None
        # Last, once every parameter of the estimator is stored.
        self._build_initial_modules()

    # ------------------------------------------------------------------
    # Hooks of the base class
    # ------------------------------------------------------------------
    def _check_params(self):
        super()._check_params()
        check_scalar(
            self.encoder_out_dim, "encoder_out_dim", numbers.Integral, min_val=1
        )
        check_scalar(self.latent_dim, "latent_dim", numbers.Integral, min_val=1)
        check_distribution_name(self.default_dist)
        if self.observation_scale not in OBSERVATION_SCALES:
            accepted = ", ".join(repr(name) for name in OBSERVATION_SCALES)
            raise ValueError(
                f"observation_scale={self.observation_scale!r} is not supported; "
                f"use one of {accepted}."
            )
        if self.observation_scale != "fixed" and self.default_dist == "bernoulli":
            raise ValueError(
                f"observation_scale={self.observation_scale!r} learns the scale of a "
                "Normal or Laplace likelihood, but a Bernoulli has none; use "
                "default_dist='normal' or 'laplace', or observation_scale='fixed'."
            )
        check_scalar(
            self.lr, "lr", numbers.Real, min_val=0, include_boundaries="neither"
        )
        check_scalar(self.weight_decay, "weight_decay", numbers.Real, min_val=0)
        # The loss checks its own parameters (beta: a number >= 0 or a
        # schedule); building it here raises before any data is touched.
        self._make_criterion(None)

    def _make_criterion(self, facts):
        """The loss this estimator minimises, built from its parameters.

        ``facts`` are what ``fit`` learned of the training data (see
        :class:`~nidl.estimators.BaseEstimator`), None before any data.
        """
        raise NotImplementedError

    def _loss_arguments(self):
        """Keyword arguments of the loss: its parameters and likelihood options.

        The parameters named in ``_loss_parameters`` are passed under their
        own names, as the estimator stores them. A learned observation
        scale is trained on the exact negative log-likelihood, the only one
        in which the scale appears.
        """
        return {
            **{name: getattr(self, name) for name in self._loss_parameters},
            "default_dist": self.default_dist,
            "exact_likelihood": self.observation_scale != "fixed",
        }

    def _build_modules(self, facts):
        self.fc_mu = nn.Linear(self._head_width(), self.latent_dim)
        self.fc_logvar = nn.Linear(self._head_width(), self.latent_dim)
        scale = None if facts is None else facts["scale"]
        self.observation_log_scale = self._initial_log_scale(scale)
        self._criterion = self._make_criterion(facts)

    def _head_width(self):
        """Number of inputs of the posterior heads."""
        return self.encoder_out_dim

    def _initial_log_scale(self, scale):
        """The learned log observation scale at the start of training, or None.

        It starts at the standard deviation of the training data, ``scale``
        (of its first batch, for a Dataset or DataLoader): the scale of a
        model that reconstructs nothing yet. It then moves by about the
        learning rate per step, so that starting at 1 would leave it far
        from the noise of data of small variance. Before any data is seen,
        it is 1, and one value per feature needs the samples' shape: until
        ``fit`` has seen the data, the model holds a single value.
        """
        if self.observation_scale == "fixed":
            return None
        shape = ()
        if self.observation_scale == "feature":
            shape = getattr(self, "sample_shape_", ())
        return nn.Parameter(torch.full(shape, math.log(scale or 1.0)))

    def _learns_data_scale(self):
        return self.observation_scale != "fixed"

    def _adopt_data_facts(self, facts):
        # A Trainer of the user's: the learned scale starts at the first
        # batch's standard deviation, and the loss knows the data's size.
        if self.observation_log_scale is not None and facts["scale"] is not None:
            with torch.no_grad():
                self.observation_log_scale.fill_(math.log(facts["scale"]))
        self._criterion = self._make_criterion(facts)

    def configure_model(self):
        super().configure_model()
        if self.observation_scale == "feature" and not hasattr(self, "sample_shape_"):
            raise ValueError(
                "observation_scale='feature' learns one scale per feature, whose "
                "number is known from the data: train with fit(), which builds "
                "the scales from the data, or use observation_scale='shared'."
            )

    def _shape_for_weights(self, state_dict):
        # One scale per feature has the shape of the samples, which a freshly
        # built estimator does not know yet: take the saved one's shape.
        saved = state_dict.get("observation_log_scale")
        current = self.observation_log_scale
        if saved is not None and current is not None and saved.shape != current.shape:
            self.observation_log_scale = nn.Parameter(torch.empty_like(saved))

    def on_train_end(self):
        super().on_train_end()
        # A compiled function does not pickle; it is made again when needed.
        self._compiled_loss_values = None

    @property
    def criterion(self):
        """The loss minimised, built from the parameters by the last build."""
        return self._criterion

    def _likelihood(self, output):
        """The decoder's output as the likelihood trained: with its learned scale.

        A tensor output is the mean of a Normal or Laplace whose scale is
        the learned one; without a learned scale, and for a distribution
        the decoder returns, the output is returned as it is.
        """
        if self.observation_log_scale is None or not isinstance(output, torch.Tensor):
            return output
        distribution = Normal if self.default_dist == "normal" else Laplace
        scale = self._learned_scale().to(output.dtype)
        return distribution(output, scale, validate_args=False)

    def _learned_scale(self):
        """The learned observation scale, its log-variance bounded."""
        return torch.exp(0.5 * bounded_log_variance(2.0 * self.observation_log_scale))

    @property
    def observation_scale_(self):
        """The learned scale of the likelihood: one value, or one per feature.

        A NumPy array, of shape () for ``observation_scale="shared"`` and of
        the samples' shape for ``"feature"``: the standard deviation of a
        Normal likelihood, the scale of a Laplace.
        """
        check_is_fitted(self)
        if self.observation_log_scale is None:
            raise AttributeError(
                "observation_scale_ exists only for a learned scale; this "
                f"{type(self).__name__} has observation_scale='fixed'."
            )
        with torch.no_grad():
            return self._learned_scale().cpu().numpy()

    def _check_modules(self, x):
        context = self._placeholder_context(len(x))
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                features = self.encoder(x)
                if features.ndim != 2 or features.shape[1] != self.encoder_out_dim:
                    raise ValueError(
                        f"the encoder returns outputs of shape "
                        f"{tuple(features.shape[1:])} per sample but "
                        f"encoder_out_dim={self.encoder_out_dim}; set "
                        f"encoder_out_dim={features[0].numel()} (and flatten the "
                        "encoder output if it has more than one axis)."
                    )
                code = self._encode(x, context).mean
                try:
                    mean = decoder_mean(self._decode(code, context))
                except RuntimeError as error:
                    raise ValueError(
                        f"the decoder failed on latent codes of {code.shape[1]} "
                        f"values ({error}); make it take {code.shape[1]} inputs."
                    ) from error
        finally:
            self.train(was_training)
        if mean.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"the decoder returns samples of shape {tuple(mean.shape[1:])} but "
                f"the data has samples of shape {tuple(x.shape[1:])}; make the "
                "decoder output the shape of the encoder input."
            )

    def _non_deterministic(self):
        return bool(self.stochastic_transform)

    def _n_outputs(self):
        return self.fc_mu.out_features

    # ------------------------------------------------------------------
    # Model
    # ------------------------------------------------------------------
    def encode(self, x):
        """Posterior ``q(z|x)`` of a batch.

        Parameters
        ----------
        x : torch.Tensor
            Input batch.

        Returns
        -------
        q : torch.distributions.Normal, shape (batch_size, latent_dim)
            Diagonal Normal posterior.
        """
        return self._encode(x, None)

    def _encode(self, x, context):
        """Posterior of a batch given its ``context`` (see ``_split_batch``)."""
        mu, logvar = self._posterior_parameters(x, context)
        return Normal(mu, torch.exp(0.5 * logvar), validate_args=False)

    def forward(self, x):
        """Codes of a batch ``x`` sampled from ``q(z|x)``, differentiably.

        ``encode(x).rsample()``: a tensor of shape (batch_size, latent_dim),
        followed by the relaxed one-hot samples of a Joint VAE's
        categoricals.
        """
        return self.encode(x).rsample()

    def sample(self, n_samples):
        """Generate data by decoding samples of the prior ``N(0, I)``.

        Parameters
        ----------
        n_samples : int
            Number of samples to generate.

        Returns
        -------
        x : torch.Tensor, shape (n_samples, ...)
            Decoder means, on the model's device.
        """
        return self._sample(n_samples, None)

    def _sample(self, n_samples, context):
        check_scalar(n_samples, "n_samples", numbers.Integral, min_val=1)
        with torch.no_grad():
            return decoder_mean(self._decode(self._sample_prior(n_samples), context))

    def _split_batch(self, batch):
        """The input of a batch and its context: what else the model sees.

        The context is None for an unconditional model; a conditional VAE
        reads the covariates of the batch here (see
        :class:`~nidl.estimators.autoencoders.ConditionalVAE`).
        """
        return self._batch_input(batch), None

    def _placeholder_context(self, n_rows):
        """A context for ``n_rows`` samples whose values do not matter (checks)."""

    def _posterior_parameters(self, x, context):
        """Mean and log-variance of ``q(z|x)``, the latter bounded.

        The log-variance is kept in :data:`LOG_VARIANCE_RANGE`, so that the
        variance and the gradients stay finite at large learning rates.
        """
        return self._heads(self.encoder(x), context)

    def _heads(self, features, context):
        """Posterior mean and bounded log-variance from encoder features."""
        return self.fc_mu(features), bounded_log_variance(self.fc_logvar(features))

    def _decode(self, code, context):
        """The decoder's output for a batch of codes."""
        return self.decoder(code)

    @fill_doc
    def transform_step(self, batch, batch_idx, dataloader_idx=0):
        """Latent vectors of one batch.

        %(step_parameters)s

        Returns
        -------
        z : torch.Tensor, shape (batch_size, latent_dim)
            Samples of ``q(z|x)``, or its means if ``stochastic_transform``
            is False.
        """
        x, context = self._split_batch(batch)
        mu, logvar = self._posterior_parameters(x, context)
        if not self.stochastic_transform:
            return mu
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    # ------------------------------------------------------------------
    # scikit-learn methods beyond transform
    # ------------------------------------------------------------------
    def inverse_transform(self, X):
        """Decode latent vectors to the data space.

        Parameters
        ----------
        X : array-like or torch.Tensor, shape (n_samples, latent_dim)
            Latent vectors.

        Returns
        -------
        X_original : numpy.ndarray or torch.Tensor, shape (n_samples, ...)
            Decoder means, shaped like the training samples: a NumPy array for
            array-like input, a CPU tensor for a tensor.
        """
        return self._inverse_transform(X, None)

    def _inverse_transform(self, X, covariates):
        """``inverse_transform``, codes paired with ``covariates`` rows if given."""
        check_is_fitted(self)
        width = self._n_outputs()
        Z = float32_matrix(
            X, "X", width,
            f"{type(self).__name__} codes have {width} (latent_dim={self.latent_dim}); "
            "pass codes from transform",
        )

        def decode(batch, batch_idx):
            code, context = self._split_batch(batch)
            return decoder_mean(self._decode(code, context))

        decoded = self._predict(torch.from_numpy(Z), decode, y=covariates)
        return decoded.numpy() if returns_numpy(X) else decoded

    # ------------------------------------------------------------------
    # Hooks of the latent space (a diagonal Normal posterior, N(0, I) prior)
    # ------------------------------------------------------------------
    def _kl_per_sample(self, q):
        """KL divergence of each sample's posterior from the prior."""
        return kl_normal(q)

    def _sample_prior(self, n_samples):
        """Codes drawn from the prior, as the decoder takes them."""
        return torch.randn(n_samples, self.latent_dim, device=self.device)

    def _prior_mean_code(self):
        """The code at the mean of the prior, as ``transform`` gives codes."""
        return np.zeros(self.latent_dim, dtype=np.float32)

    def _importance_codes(self, q, n_draws):
        """Draws from the posterior and their log prior-to-posterior ratios.

        Returns
        -------
        codes : torch.Tensor, shape (n_draws, batch_size, code_dim)
            Codes for the decoder.
        log_ratio : torch.Tensor, shape (n_draws, batch_size)
            ``log p(z) - log q(z|x)`` of each draw.
        """
        z = q.sample((n_draws,))
        prior = Normal(torch.zeros_like(q.loc), torch.ones_like(q.scale))
        return z, prior.log_prob(z).sum(-1) - q.log_prob(z).sum(-1)
