"""Conditional VAE: encoder and decoder conditioned on covariates."""

import numbers

import numpy as np
import torch
from sklearn.utils import check_scalar
from sklearn.utils.validation import check_is_fitted

from ..._docstrings import fill_doc
from ...utils import check_input, returns_numpy
from ...utils._data import is_dataset, is_loader
from ._base import float32_matrix
from .vae import VAE


@fill_doc
class ConditionalVAE(VAE):
    r"""Conditional VAE: encoder and decoder see the covariates of each sample.

    A conditional VAE [1]_ models ``p(x|z, c)`` with a posterior
    ``q(z|x, c)``, where ``c`` holds known covariates of each sample (age,
    sex, site, ...). The covariates are appended to the encoder's features
    before the posterior heads, and to the latent code before the decoder,
    which therefore takes ``latent_dim + n_covariates`` inputs. What the
    covariates explain need not be written in the latents: conditioning on
    the acquisition site, for instance, leaves latents that carry less of
    it, and decoding a brain's latents with other covariates gives
    counterfactual images (the same brain at another age). The loss is the
    beta-VAE loss of :class:`VAE`.

    **Covariates.** Pass them as a float array of shape (n_samples,
    n_covariates), one row per sample: one-hot columns for categorical
    covariates, standardised ones for continuous covariates. ``fit``,
    ``transform``, ``inverse_transform``, ``score_samples``, ``score`` and
    ``sample`` take them as ``covariates=``. A Dataset or DataLoader
    carries them in its samples instead: items or batches ``(x,
    covariates, ...)``. Inside a scikit-learn ``Pipeline``, a grid search or
    ``cross_val_score``, the covariates travel as metadata: enable
    scikit-learn's metadata routing and request them (see Examples). This
    keeps the data what the other steps of a pipeline expect (the voxels a
    masker gives), and lets scikit-learn split the covariates with the
    samples in cross-validation.

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
    n_covariates : int
        Number of covariate columns; 0 gives the unconditional model of
        :class:`VAE`, which takes no covariates.
    beta : float or callable, default=1.0
        Weight of the KL divergence, or a schedule ``step -> weight``.
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
    stochastic_transform : bool, default=True
        If True, ``transform`` returns samples of ``q(z|x)``; if False, the
        posterior means.
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

    See Also
    --------
    VAE : The unconditional model.

    References
    ----------
    .. [1] K. Sohn, H. Lee and X. Yan, "Learning Structured Output
       Representation using Deep Conditional Generative Models", NeurIPS
       2015.

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> from nidl.estimators.autoencoders import ConditionalVAE
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(64, 8)).astype("float32")
    >>> C = rng.normal(size=(64, 1)).astype("float32")
    >>> cvae = ConditionalVAE(nn.Sequential(nn.Linear(8, 16), nn.ReLU()),
    ...                       nn.Linear(2 + 1, 8), encoder_out_dim=16, latent_dim=2,
    ...                       n_covariates=1, lr=1e-2, random_state=0, max_epochs=2,
    ...                       enable_progress_bar=False)
    >>> Z = cvae.fit(X, covariates=C).transform(X, covariates=C)
    >>> Z.shape
    (64, 2)
    >>> cvae.inverse_transform(Z, covariates=C + 1.0).shape  # counterfactuals
    (64, 8)

    In a pipeline, the covariates are routed to the steps that request them:

    >>> import sklearn
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     step = cvae.set_fit_request(covariates=True).set_transform_request(
    ...         covariates=True)
    ...     pipe = make_pipeline(StandardScaler(), step).fit(X, covariates=C)
    ...     pipe.transform(X, covariates=C).shape
    (64, 2)
    """

    def __init__(
        self, encoder, decoder, encoder_out_dim, latent_dim, n_covariates, beta=1.0,
        default_dist="normal", observation_scale="fixed", stochastic_transform=True,
        lr=1e-4, weight_decay=1e-2, random_state=None, batch_size=128, **kwargs,
    ):
        self.n_covariates = n_covariates
        super().__init__(
            encoder, decoder, encoder_out_dim, latent_dim, beta=beta,
            default_dist=default_dist, observation_scale=observation_scale,
            stochastic_transform=stochastic_transform, lr=lr, weight_decay=weight_decay,
            random_state=random_state, batch_size=batch_size, **kwargs,
        )

    # ------------------------------------------------------------------
    # Hooks of the base class
    # ------------------------------------------------------------------
    def _check_params(self):
        check_scalar(self.n_covariates, "n_covariates", numbers.Integral, min_val=0)
        super()._check_params()

    def _head_width(self):
        # The heads read the encoder's features followed by the covariates.
        return self.encoder_out_dim + self.n_covariates

    def _placeholder_context(self, n_rows):
        # Only the shapes are checked with it: any covariate values serve.
        return torch.zeros(n_rows, self.n_covariates) if self.n_covariates else None

    def _split_batch(self, batch):
        """The input of a ``(x, covariates, ...)`` batch and its covariates, checked."""
        x = self._batch_input(batch)
        if not self.n_covariates:
            return x, None
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ValueError(
                "ConditionalVAE needs the covariates of every sample, but got "
                f"batches of {type(batch).__name__} without them; pass "
                "covariates=... with arrays and tensors, or a Dataset or "
                "DataLoader whose items are (x, covariates)."
            )
        return x, self._checked_context(batch[1], x)

    def _checked_context(self, covariates, x):
        """Covariates of a batch ``x`` as a tensor of shape (len(x), n_covariates)."""
        if isinstance(covariates, (tuple, list)):
            # Labels of several columns, collated one tensor per column (as
            # an ImageDataFrameDataset with several label_cols gives them).
            covariates = torch.stack([torch.as_tensor(c) for c in covariates], dim=1)
        covariates = torch.as_tensor(covariates, dtype=x.dtype, device=x.device)
        if covariates.ndim == 1:
            covariates = covariates[:, None]
        if covariates.shape != (len(x), self.n_covariates):
            raise ValueError(
                f"a batch of {len(x)} samples holds covariates of shape "
                f"{tuple(covariates.shape)}, but ConditionalVAE expects "
                f"({len(x)}, {self.n_covariates}) (n_covariates={self.n_covariates})."
            )
        return covariates

    def _heads(self, features, context):
        if context is not None:
            features = torch.cat([features, context.to(features)], dim=1)
        return super()._heads(features, context)

    def _decode(self, code, context):
        if context is not None:
            code = torch.cat([code, context.to(code)], dim=1)
        return self.decoder(code)

    def _checked_covariates(self, covariates, X, method):
        """Covariates given to ``method`` as a float32 tensor, or None.

        Arrays and tensors need them; a Dataset or DataLoader carries them
        in its batches.
        """
        carried = is_loader(X) or is_dataset(X)
        if covariates is None:
            if carried or not self.n_covariates:
                return None
            raise ValueError(
                f"ConditionalVAE.{method} needs the covariates of the samples; "
                f"pass {method}(X, covariates=...). Inside a Pipeline or a "
                "search, enable metadata routing and request them, e.g. "
                f"set_{method}_request(covariates=True)."
            )
        if carried:
            raise ValueError(
                f"{method} got covariates=... with a Dataset or DataLoader, "
                "whose batches carry the covariates as (x, covariates); pass "
                "one or the other."
            )
        values = float32_matrix(
            covariates, "covariates", self.n_covariates,
            f"ConditionalVAE has n_covariates={self.n_covariates}; pass the "
            "columns it was fitted with",
        )
        n_samples = len(X)
        if len(values) != n_samples:
            raise ValueError(
                f"covariates has {len(values)} rows for {n_samples} samples; pass "
                "one row per sample."
            )
        return torch.from_numpy(values) if self.n_covariates else None

    # ------------------------------------------------------------------
    # scikit-learn methods with covariates
    # ------------------------------------------------------------------
    def fit(self, X, y=None, covariates=None, val_dataloader=None, ckpt_path=None):
        """Train the model on samples and their covariates.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Training data; a Dataset or DataLoader gives ``(x, covariates,
            ...)`` items or batches.
        y : None or DataLoader or Dataset, default=None
            Ignored, as scikit-learn passes it; a ``DataLoader`` or
            ``Dataset`` here is taken as validation data.
        covariates : array-like of shape (n_samples, n_covariates), default=None
            Covariates of the samples of an array or tensor ``X``.
        val_dataloader : DataLoader or Dataset, default=None
            Validation data, of ``(x, covariates, ...)`` batches.
        ckpt_path : str, default=None
            Checkpoint of an interrupted fit to resume from.

        Returns
        -------
        self : ConditionalVAE
            The fitted estimator.
        """
        _, val_dataloader = self._validation_in_place_of_y(y, val_dataloader)
        self._check_params()
        paired = self._checked_covariates(covariates, X, "fit")
        return self._fit(X, paired, val_dataloader, ckpt_path)

    def fit_transform(self, X, y=None, covariates=None, **fit_params):
        """Fit, then return the latent codes of the training samples.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Training data, as for :meth:`fit`.
        y : None
            Ignored.
        covariates : array-like of shape (n_samples, n_covariates), default=None
            Covariates of the samples of an array or tensor ``X``, used by
            both steps.
        **fit_params
            Other arguments of :meth:`fit`.

        Returns
        -------
        Z : numpy.ndarray or torch.Tensor, shape (n_samples, latent_dim)
            As :meth:`transform` returns them.
        """
        return self.fit(X, y, covariates=covariates, **fit_params).transform(
            X, covariates=covariates
        )

    @fill_doc
    def transform(self, X, covariates=None):
        """Latent codes of samples given their covariates.

        Parameters
        ----------
        %(X)s
        covariates : array-like of shape (n_samples, n_covariates), default=None
            Covariates of an array or tensor ``X``.

        Returns
        -------
        Z : numpy.ndarray or torch.Tensor, shape (n_samples, latent_dim)
            Samples of ``q(z|x, c)``, or its means if
            ``stochastic_transform`` is False.
        """
        check_is_fitted(self)
        data = check_input(self, X, reset=False)
        paired = self._checked_covariates(covariates, data, "transform")
        Z = self._predict(data, self.transform_step, y=paired)
        return Z.numpy() if returns_numpy(X) else Z

    def inverse_transform(self, X, covariates=None):
        """Decode latent codes given covariates.

        Decoding the codes of samples with covariates other than their own
        gives counterfactuals: what each sample would look like with those
        covariates.

        Parameters
        ----------
        X : array-like or torch.Tensor, shape (n_samples, latent_dim)
            Latent codes.
        covariates : array-like of shape (n_samples, n_covariates)
            The covariates to decode them with.

        Returns
        -------
        X_original : numpy.ndarray or torch.Tensor, shape (n_samples, ...)
            Decoder means, shaped like the training samples.
        """
        paired = self._checked_covariates(covariates, X, "inverse_transform")
        return self._inverse_transform(X, paired)

    @fill_doc
    def score_samples(self, X, covariates=None, return_terms=False):
        """Evidence lower bound of each sample given its covariates.

        See :meth:`VAE.score_samples`; the likelihood and the posterior are
        conditioned on the covariates.

        Parameters
        ----------
        %(X)s
        covariates : array-like of shape (n_samples, n_covariates), default=None
            Covariates of an array or tensor ``X``.
        return_terms : bool, default=False
            Also return the two terms of each sample.

        Returns
        -------
        elbo : numpy.ndarray or torch.Tensor, shape (n_samples,)
            In nats; a NumPy array for array-like input, a CPU tensor otherwise.
        terms : dict
            Only with ``return_terms=True``: ``"rec_loss"``, the negative
            log-likelihood of each sample, and ``"kl_loss"``, its KL divergence.
        """
        paired = self._checked_covariates(covariates, X, "score_samples")
        return self._score_samples(X, return_terms, paired)

    @fill_doc
    def score(self, X, y=None, covariates=None, sample_weight=None):
        """Mean evidence lower bound per sample given the covariates.

        Parameters
        ----------
        %(X)s
        y : None
            Ignored.
        covariates : array-like of shape (n_samples, n_covariates), default=None
            Covariates of an array or tensor ``X``.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the mean.

        Returns
        -------
        score : float
            The mean of :meth:`score_samples`, in nats.
        """
        paired = self._checked_covariates(covariates, X, "score")
        return self._mean_score(self._score_samples(X, False, paired), sample_weight)

    def encode(self, x, covariates=None):
        """Posterior ``q(z|x, c)`` of a batch.

        Parameters
        ----------
        x : torch.Tensor
            Input batch.
        covariates : torch.Tensor, shape (batch_size, n_covariates), default=None
            Its covariates (None only with ``n_covariates=0``).

        Returns
        -------
        q : torch.distributions.Normal, shape (batch_size, latent_dim)
        """
        return self._encode(x, self._given(covariates, x))

    def _given(self, covariates, x):
        """Covariates passed to a batch method, checked against the batch ``x``."""
        if not self.n_covariates:
            return None
        if covariates is None:
            raise ValueError(
                "ConditionalVAE encodes and decodes given covariates; pass "
                "them, e.g. encode(x, covariates) or sample(n, covariates)."
            )
        return self._checked_context(covariates, x)

    def forward(self, x, covariates=None):
        """Codes of a batch sampled from ``q(z|x, c)``, differentiably."""
        return self.encode(x, covariates).rsample()

    def sample(self, n_samples, covariates=None):
        """Generate data for given covariates, decoding draws of the prior.

        Parameters
        ----------
        n_samples : int
            Number of samples to generate.
        covariates : array-like of shape (n_covariates,) or (n_samples, n_covariates)
            The covariates to generate for: one row for all samples, or one
            per sample.

        Returns
        -------
        x : torch.Tensor, shape (n_samples, ...)
            Decoder means, on the model's device.
        """
        check_scalar(n_samples, "n_samples", numbers.Integral, min_val=1)
        if covariates is None and self.n_covariates:
            raise ValueError(
                "ConditionalVAE.sample needs the covariates to generate for; "
                "pass sample(n_samples, covariates=...)."
            )
        context = None
        if self.n_covariates:
            values = np.asarray(covariates, dtype=np.float32)
            values = torch.as_tensor(values, device=self.device)
            context = torch.atleast_2d(values).expand(n_samples, -1)
        return self._sample(n_samples, context)

    def transform_with_targets(self, X, y=None):
        """Not available: a conditional VAE's batches carry covariates, not targets.

        Raises
        ------
        TypeError
            Always; use ``transform(X, covariates=...)`` and keep the targets
            aside.
        """
        raise TypeError(
            "ConditionalVAE reads the second element of a batch as its "
            "covariates, not as targets; use transform(X, covariates=...) and "
            "keep the targets aside."
        )
