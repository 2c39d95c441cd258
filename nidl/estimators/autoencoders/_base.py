"""The base of the VAE family: what every variational autoencoder of nidl shares."""

import inspect
import numbers

import numpy as np
import torch
from sklearn.utils import check_array, check_scalar
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.distributions import Normal

from ...losses._likelihood import (
    check_distribution_name,
    kl_normal,
    negative_log_likelihood,
)
from ...utils import check_input, returns_numpy
from .._docs import fill_step_docs
from ..base import BaseEstimator, TransformerMixin
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


def parent_arguments(parent_init, local_variables):
    """The arguments of a parent constructor, taken from a constructor's locals.

    The estimators of the family list all their parameters in their own
    signature, as scikit-learn needs; each passes the shared ones on with
    ``super().__init__(**parent_arguments(Parent.__init__, locals()))`` and
    stores only what it adds.

    Parameters
    ----------
    parent_init : callable
        The parent's ``__init__``.
    local_variables : dict
        ``locals()`` of the calling constructor, holding the parameters of
        the parent it has under their names (and the Trainer options in
        ``kwargs``); a parameter it lacks takes the parent's default.

    Returns
    -------
    arguments : dict
        Keyword arguments for ``parent_init``.
    """
    names = [
        name
        for name, parameter in inspect.signature(parent_init).parameters.items()
        if name != "self" and parameter.kind is not parameter.VAR_KEYWORD
    ]
    shared = {name: local_variables[name] for name in names if name in local_variables}
    return {**shared, **local_variables["kwargs"]}


class VAEBase(VAETrainingMixin, TransformerMixin, BaseEstimator):
    """Base of the VAE family: shared parameters, encoding, decoding, sampling.

    Holds what every variational autoencoder of nidl does: the posterior
    heads and the loss built from the parameters at construction, the
    training and validation steps, inference (``transform``,
    ``inverse_transform``, ``score_samples``, ``score``) and sampling. An
    estimator of the family states what it adds, through these hooks:

    - ``_make_criterion``: the loss it minimises;
    - ``encode``, ``_forward_for_loss``: its posterior, when not a diagonal
      Normal;
    - ``_kl_per_sample``, ``_sample_prior``, ``_prior_mean_code``,
      ``_importance_codes``: the KL term, prior draws, the code at the
      prior's mean and importance samples, for other latents.
    """

    _user_modules = ("encoder", "decoder")
    _layer_parameters = ("encoder_out_dim", "latent_dim")
    _layers_from_parameters = True

    def __init__(
        self, encoder, decoder, encoder_out_dim, latent_dim, default_dist="normal",
        stochastic_transform=True, lr=1e-4, weight_decay=1e-2, random_state=None,
        batch_size=128, **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.encoder_out_dim = encoder_out_dim
        self.latent_dim = latent_dim
        self.default_dist = default_dist
        self.stochastic_transform = stochastic_transform
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.batch_size = batch_size

    # ------------------------------------------------------------------
    # Hooks of the base class
    # ------------------------------------------------------------------
    def _check_params(self):
        super()._check_params()
        check_scalar(self.encoder_out_dim, "encoder_out_dim", numbers.Integral, min_val=1)
        check_scalar(self.latent_dim, "latent_dim", numbers.Integral, min_val=1)
        check_distribution_name(self.default_dist)
        check_scalar(self.lr, "lr", numbers.Real, min_val=0, include_boundaries="neither")
        check_scalar(self.weight_decay, "weight_decay", numbers.Real, min_val=0)
        # The loss checks its own parameters (beta: a number >= 0 or a
        # schedule); building it here raises before any data is touched.
        self._make_criterion()


    def _make_criterion(self):
        """The loss this estimator minimises, built from its parameters.

        Called by ``_check_params`` (to validate the loss's parameters) and
        by ``_build_modules``.
        """
        raise NotImplementedError

    def _build_modules(self):
        self.fc_mu = nn.Linear(self.encoder_out_dim, self.latent_dim)
        self.fc_logvar = nn.Linear(self.encoder_out_dim, self.latent_dim)
        self._criterion = self._make_criterion()

    def _parameters_changed(self, changed):
        super()._parameters_changed(changed)
        # The loss holds no weights: it follows every change of the
        # parameters at once. Invalid values are reported by fit.
        try:
            self._criterion = self._make_criterion()
        except (TypeError, ValueError):
            self._modules_built = False

    @property
    def criterion(self):
        """The loss minimised, built from the parameters."""
        return self._criterion

    def _check_modules(self, x):
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
                code = self.encode(x).mean
                try:
                    mean = decoder_mean(self.decoder(code))
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

    @property
    def _n_features_out(self):
        return self.latent_dim

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
        mu, logvar = self._posterior_parameters(x)
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
        check_scalar(n_samples, "n_samples", numbers.Integral, min_val=1)
        with torch.no_grad():
            return decoder_mean(self.decoder(self._sample_prior(n_samples)))

    def _posterior_parameters(self, x):
        """Mean and log-variance of ``q(z|x)``."""
        features = self.encoder(x)
        return self.fc_mu(features), self.fc_logvar(features)

    @fill_step_docs
    def transform_step(self, batch, batch_idx, dataloader_idx=0):
        """Latent vectors of one batch.

        Parameters
        ----------
        %(step_parameters)s

        Returns
        -------
        z : torch.Tensor, shape (batch_size, latent_dim)
            Samples of ``q(z|x)``, or its means if ``stochastic_transform``
            is False.
        """
        x = self._batch_input(batch)
        if not self.stochastic_transform:
            return self.fc_mu(self.encoder(x))
        mu, logvar = self._posterior_parameters(x)
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
        check_is_fitted(self)
        values = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else X
        Z = check_array(values, dtype="float32", input_name="X")
        if Z.shape[1] != self._n_features_out:
            raise ValueError(
                f"X has {Z.shape[1]} columns, but {type(self).__name__} codes have "
                f"{self._n_features_out} (latent_dim={self.latent_dim}); pass codes "
                "from transform."
            )

        def decode(batch, batch_idx):
            return decoder_mean(self.decoder(batch))

        decoded = self._predict(torch.from_numpy(Z), decode)
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

    # ------------------------------------------------------------------
    # Scores
    # ------------------------------------------------------------------
    def _elbo_terms(self, x):
        """Negative log-likelihood and KL divergence of each sample of a batch.

        One posterior draw per sample; the likelihood is exact, constants
        included, so that scores of models with different likelihoods
        compare (the decoder's scale is used where the loss uses it).
        """
        q = self.encode(x)
        return self._negative_log_likelihood(self.decoder(q.rsample()), x), self._kl_per_sample(q)

    def _negative_log_likelihood(self, p, x):
        """Per-sample ``-log p(x|z)`` of the likelihood trained, constants included."""
        return negative_log_likelihood(
            p, x, self.default_dist, use_scale=self.criterion.exact_likelihood
        )

    def score_samples(self, X, return_terms=False):
        """Evidence lower bound (ELBO) of each sample; higher is better.

        For each sample, one posterior draw ``z ~ q(z|x)`` (seeded with
        ``random_state``) estimates ``log p(x|z) - KL(q(z|x) || p(z))``,
        with a KL weight of 1 whatever the training weights. The
        log-likelihood includes its constants (a Normal of variance 1/2
        for the squared error, a Laplace of scale 1 for the absolute
        error, a Bernoulli for the cross-entropy), so that models with
        different likelihoods compare. Per-sample values are what
        deviation scores and model comparison are built from. Each is a
        one-draw estimate: the draws are seeded, but which draw a sample
        gets depends on its place in the data (its batch and position), so
        a sample's value changes with the batching while its expectation,
        and the mean over many samples, do not.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Data shaped like the training data.
        return_terms : bool, default=False
            Also return the two terms of each sample.

        Returns
        -------
        elbo : numpy.ndarray or torch.Tensor, shape (n_samples,)
            In nats; a NumPy array for array-like input, a CPU tensor
            otherwise.
        terms : dict
            Only with ``return_terms=True``: ``"rec_loss"``, the negative
            log-likelihood of each sample, and ``"kl_loss"``, its KL
            divergence (``elbo = -(rec_loss + kl_loss)``).

        Examples
        --------
        >>> import numpy as np
        >>> from torch import nn
        >>> from nidl.estimators.autoencoders import VAE
        >>> X = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
        >>> vae = VAE(nn.Linear(4, 8), nn.Linear(2, 4), encoder_out_dim=8,
        ...           latent_dim=2, random_state=0, max_epochs=1,
        ...           enable_progress_bar=False).fit(X)
        >>> elbo, terms = vae.score_samples(X, return_terms=True)
        >>> elbo.shape, bool(np.allclose(elbo, -(terms["rec_loss"] + terms["kl_loss"])))
        ((32,), True)
        """
        check_is_fitted(self)
        data = check_input(self, X, reset=False)

        def terms_of(batch, batch_idx):
            nll, kl = self._elbo_terms(self._batch_input(batch))
            return {"rec_loss": nll, "kl_loss": kl}

        terms = self._predict(data, terms_of)
        elbo = -(terms["rec_loss"] + terms["kl_loss"])
        if returns_numpy(X):
            elbo, terms = elbo.numpy(), {name: v.numpy() for name, v in terms.items()}
        return (elbo, terms) if return_terms else elbo

    def score(self, X, y=None):
        """Mean evidence lower bound (ELBO) per sample; higher is better.

        The mean of :meth:`score_samples`.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Data shaped like the training data.
        y : None
            Ignored.

        Returns
        -------
        score : float
            Mean ELBO per sample, in nats.
        """
        elbo = self.score_samples(X)
        return float(np.mean(np.asarray(elbo, dtype=np.float64)))
