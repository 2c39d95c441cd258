"""Variational autoencoder estimator."""

import numbers

import torch
from pytorch_lightning.callbacks import (
    GradientAccumulationScheduler,
    LearningRateFinder,
    ModelCheckpoint,
    StochasticWeightAveraging,
)
from sklearn.utils import check_array, check_scalar
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.distributions import Normal

from ...losses import BetaVAELoss
from ...losses.beta_vae import NLL_CONSTANTS, check_distribution_name, likelihood_name
from ...losses.schedules import value_at
from ...utils import check_input, returns_numpy
from ..base import BaseEstimator, TransformerMixin

#: Lightning callbacks that act through its automatic optimisation loop:
#: the learning-rate schedulers they add, or the accumulation they set.
_AUTOMATIC_OPTIMIZATION_CALLBACKS = (
    GradientAccumulationScheduler,
    LearningRateFinder,
    StochasticWeightAveraging,
)


def _fused_optimizer_supported(parameters):
    """Whether torch has fused optimiser kernels for all these parameters."""
    # torch's own list of devices with fused kernels (the CPU since 2.4);
    # a version without the list is assumed to have them on CUDA only.
    supported_devices = getattr(
        torch.utils._foreach_utils, "_get_fused_kernels_supported_devices", lambda: ["cuda"]
    )
    devices = supported_devices()
    return bool(parameters) and all(
        p.is_floating_point() and p.device.type in devices for p in parameters
    )


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


class VAE(TransformerMixin, BaseEstimator):
    r"""Variational autoencoder, a scikit-learn transformer trained by Lightning.

    A VAE [1]_ learns a probabilistic encoder ``q(z|x)``, a diagonal Normal
    over ``latent_dim`` latent variables, and a decoder ``p(x|z)``. Training
    minimises the negative evidence lower bound with the KL term weighted by
    ``beta`` (``beta > 1`` gives the beta-VAE [2]_):

    .. math::

        \mathcal{L}(x) = -\mathbb{E}_{q(z|x)}[\log p(x|z)]
            + \beta \, D_{KL}(q(z|x) \,\|\, \mathcal{N}(0, I)).

    The user gives the encoder backbone, which maps a batch to
    ``encoder_out_dim`` features, and the decoder, which maps a batch of
    latent vectors to the data space (a tensor read as the mean of
    ``default_dist``, or a ``torch.distributions`` object). The VAE adds two
    linear heads for the posterior mean and log-variance. Samples are drawn
    with the reparameterisation trick ``z = mu + sigma * eps``.

    ``fit`` accepts a ``DataLoader`` (used as it is), a ``Dataset``, a tensor
    or an array of shape (n_samples, ...); ``transform`` returns latent
    samples, or the posterior means with ``stochastic_transform=False``.
    Every fit starts from the weights the modules had when first fitted.

    Parameters
    ----------
    encoder : torch.nn.Module
        Backbone mapping a batch of inputs to ``(batch_size, encoder_out_dim)``.
    decoder : torch.nn.Module
        Maps a batch of latent vectors ``(batch_size, latent_dim)`` to a
        tensor or a distribution shaped like the input.
    encoder_out_dim : int
        Number of features the encoder returns per sample.
    latent_dim : int
        Number of latent dimensions.
    beta : float or callable, default=1.0
        Weight of the KL divergence (beta-VAE), or a schedule ``step ->
        weight`` such as :class:`nidl.losses.LinearWarmup`, evaluated at the
        optimiser step.
    default_dist : {"normal", "laplace", "bernoulli"}, default="normal"
        Decoder likelihood when the decoder returns a tensor: squared error
        for ``"normal"``, absolute error for ``"laplace"``, binary
        cross-entropy for ``"bernoulli"`` (data in [0, 1]).
    stochastic_transform : bool, default=True
        If True, ``transform`` returns samples of ``q(z|x)``; if False, the
        posterior means.
    lr : float, default=1e-4
        Learning rate of the AdamW optimiser.
    weight_decay : float, default=1e-2
        Weight decay of the AdamW optimiser.
    random_state : int, default=None
        Seed of everything a fit draws (head initialisation, shuffling,
        dropout, posterior samples) and of the samples ``transform`` and
        ``score`` draw. The same seed, data and initial modules give
        identical results on the CPU. None uses torch's global generator.
    batch_size : int, default=128
        Batch size for Dataset, array and tensor input (a DataLoader keeps
        its own).
    **kwargs
        Options of ``pytorch_lightning.Trainer`` (``max_epochs``,
        ``accelerator``, ``devices``, ``strategy``, ``precision``,
        ``callbacks``, ``enable_progress_bar``, ...), and nidl's speed
        options: ``compile`` (default False) compiles the training forward
        pass and the loss with ``torch.compile`` (a one-off compilation
        cost, then steps that may be faster: measured for a small MLP on a
        CPU, not for a 3-D convolutional VAE);
        ``channels_last`` (default "auto") trains on volumes (inputs
        of shape (n, channels, depth, height, width)) with batches and
        weights in the ``channels_last_3d`` memory format on CPU and CUDA
        devices, and infers in the default format; True uses it for
        inference too, False never; ``input_key`` (default None) is the
        key at which dictionary batches hold the input: ``"image"`` for
        MONAI's ``{"image": ..., "label": ...}``, ``"t1"`` for TorchIO's
        ``{"t1": {"data": ...}}`` (a tuple is a path of keys).

    Attributes
    ----------
    encoder : torch.nn.Module
        The encoder backbone.
    decoder : torch.nn.Module
        The decoder.
    fc_mu : torch.nn.Linear
        Head mapping encoder features to the posterior mean.
    fc_logvar : torch.nn.Linear
        Head mapping encoder features to the posterior log-variance.
    criterion : BetaVAELoss
        The loss minimised.
    n_features_in_ : int
        Size of the second axis of the training data.
    sample_shape_ : tuple of int
        Shape of one training sample.
    n_epochs_ : int
        Number of epochs trained.
    n_steps_ : int
        Number of optimiser steps taken.

    See Also
    --------
    nidl.losses.BetaVAELoss : The loss this estimator minimises.

    References
    ----------
    .. [1] D. P. Kingma and M. Welling, "Auto-Encoding Variational Bayes",
       ICLR 2014.
    .. [2] I. Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a
       Constrained Variational Framework", ICLR 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> from nidl.estimators.autoencoders import VAE
    >>> X = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    >>> vae = VAE(nn.Sequential(nn.Linear(8, 16), nn.ReLU()), nn.Linear(2, 8),
    ...           encoder_out_dim=16, latent_dim=2, lr=1e-2, random_state=0,
    ...           max_epochs=2, enable_progress_bar=False)
    >>> vae.fit(X).transform(X).shape
    (64, 2)
    """

    _user_modules = ("encoder", "decoder")
    _layer_parameters = ("encoder_out_dim", "latent_dim")
    _layers_from_parameters = True

    def __init__(
        self,
        encoder,
        decoder,
        encoder_out_dim,
        latent_dim,
        beta=1.0,
        default_dist="normal",
        stochastic_transform=True,
        lr=1e-4,
        weight_decay=1e-2,
        random_state=None,
        batch_size=128,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.encoder_out_dim = encoder_out_dim
        self.latent_dim = latent_dim
        self.beta = beta
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

        Subclasses that minimise another loss of the family override this
        method only; it is called by ``_check_params`` (to validate the
        loss's parameters) and by ``_build_modules``.
        """
        return BetaVAELoss(beta=self.beta, default_dist=self.default_dist)

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
        """Encode the input and sample the posterior ``q(z|x)``.

        Parameters
        ----------
        x : torch.Tensor
            Input batch.

        Returns
        -------
        z : torch.Tensor, shape (batch_size, latent_dim)
            Latent vectors sampled with the reparameterisation trick.
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
            z = torch.randn(n_samples, self.latent_dim, device=self.device)
            return decoder_mean(self.decoder(z))

    def _posterior_parameters(self, x):
        """Mean and log-variance of ``q(z|x)``."""
        features = self.encoder(x)
        return self.fc_mu(features), self.fc_logvar(features)

    def _forward_for_loss(self, x, stage):
        """Posterior ``q(z|x)`` and decoder output for a training or validation batch."""
        mu, logvar = self._posterior_parameters(x)
        std = torch.exp(0.5 * logvar)
        p = self.decoder(mu + std * torch.randn_like(mu))
        return Normal(mu, std, validate_args=False), p

    def _loss_values(self, x, stage, step):
        """Loss terms (and weights in force) of a batch: forward pass and criterion.

        With ``compile=True``, training runs this whole function as one
        compiled graph, so that the elementwise work of the sampling, the
        likelihood and the KL term is fused (measured faster than compiling
        the networks apart, which was slower than eager).
        """
        q, p = self._forward_for_loss(x, stage)
        if isinstance(p, torch.Tensor) and p.dtype != x.dtype:
            # Under mixed precision the likelihood is computed in the data's
            # precision (binary cross-entropy is not safe in half precision).
            p = p.to(x.dtype)
        return self.criterion(x, p, q, step=step)

    def _compiled_loss_values(self):
        """``_loss_values`` compiled, on first use in the process that trains.

        Random draws inside the graph use torch's generator as eager code
        does ("fallback_random"), so compiled and eager training draw the
        same samples. The compiled function is dropped at the end of
        training (see ``on_train_end``): it does not pickle.
        """
        if self.__dict__.get("_compiled_forward") is None:
            self.__dict__["_compiled_forward"] = torch.compile(
                self._loss_values, options={"fallback_random": True}
            )
        return self.__dict__["_compiled_forward"]

    def _values_in_force(self, values, step):
        """Weights and targets of the loss at ``step`` (beta, capacities, ...)."""
        in_force = {
            name: value
            for name, value in values.items()
            if name != "loss" and not name.endswith("_loss")
        }
        beta = getattr(self.criterion, "beta", None)
        if beta is not None and "beta" not in in_force:
            in_force["beta"] = float(value_at(beta, step, "beta"))
        return in_force

    def _losses(self, batch, batch_idx, stage):
        x = self._batch_input(batch)
        # The optimiser-step counter: it advances with training steps only, so
        # validation sees the step of the last update and changes nothing.
        step = self.global_step
        loss_values = self._loss_values
        if self._engine_option("compile") and stage == "train":
            loss_values = self._compiled_loss_values()
        values = loss_values(x, stage, step)
        # Entries named "loss" or "*_loss" are loss terms; the others are the
        # weights and targets in force (beta, capacities).
        losses = {
            name: value
            for name, value in values.items()
            if name == "loss" or name.endswith("_loss")
        }
        if self._trainer is None:
            # A step called outside a Trainer has nowhere to log to.
            return losses
        if stage != "train":
            self.log_dict(
                {f"{stage}/{name}": value for name, value in losses.items()},
                on_step=False,
                on_epoch=True,
                batch_size=x.shape[0],
                sync_dist=True,
            )
            return losses
        in_force = self._values_in_force(values, step)
        if callable(getattr(self.criterion, "beta", None)) or set(in_force) - {"beta"}:
            # Values that change during training are logged at every step;
            # the value at the last step of an epoch stays in the metrics.
            self.log_dict(
                {f"train/{name}": value for name, value in in_force.items()},
                on_step=True,
                on_epoch=False,
                batch_size=x.shape[0],
            )
            self.log_epoch_means(losses, x.shape[0], batch_idx)
        else:
            # A constant weight costs nothing to log once per epoch.
            self.log_epoch_means({**losses, **in_force}, x.shape[0], batch_idx)
        return losses

    def training_step(self, batch, batch_idx, dataloader_idx=0):
        """Compute and log the training losses of one batch.

        The three terms are logged once per epoch as ``train/loss``,
        ``train/rec_loss`` and ``train/kl_loss``.

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
            ``"loss"``, ``"rec_loss"`` and ``"kl_loss"``.
        """
        losses = self._losses(batch, batch_idx, "train")
        if not self.automatic_optimization:
            optimizer = self.optimizers()
            optimizer.zero_grad()
            self.manual_backward(losses["loss"])
            optimizer.step()
        return losses

    @property
    def automatic_optimization(self):
        """Whether Lightning runs the optimiser step, or ``training_step`` does.

        The VAE steps its optimiser itself, in the order Lightning would
        (loss, ``zero_grad``, backward, step): Lightning's automatic loop
        wraps every step in a closure and several more hooks, which cost a
        tenth of a small model's step. Lightning's loop runs instead where
        it does more: when the Trainer clips or accumulates gradients, with
        callbacks that schedule the learning rate or the accumulation
        (weight averaging, learning-rate finder) or that save a checkpoint
        every few steps, and for subclasses that configure their own
        optimisers (and learning-rate schedulers).
        """
        trainer = self._trainer
        if trainer is None or type(self).configure_optimizers is not VAE.configure_optimizers:
            return True
        return bool(
            (trainer.gradient_clip_val or 0) > 0
            or trainer.accumulate_grad_batches != 1
            or any(
                isinstance(callback, _AUTOMATIC_OPTIMIZATION_CALLBACKS)
                or (
                    isinstance(callback, ModelCheckpoint)
                    and getattr(callback, "_every_n_train_steps", 0)
                )
                for callback in trainer.callbacks
            )
        )

    @automatic_optimization.setter
    def automatic_optimization(self, value):
        # LightningModule's constructor sets it; the getter above decides.
        self._automatic_optimization = value

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        """Compute and log the validation losses of one batch.

        The three terms are logged per epoch as ``val/loss``,
        ``val/rec_loss`` and ``val/kl_loss``.

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
            ``"loss"``, ``"rec_loss"`` and ``"kl_loss"``.
        """
        return self._losses(batch, batch_idx, "val")

    def transform_step(self, batch, batch_idx, dataloader_idx=0):
        """Latent vectors of one batch.

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
        z : torch.Tensor, shape (batch_size, latent_dim)
            Samples of ``q(z|x)``, or its means if ``stochastic_transform``
            is False.
        """
        x = self._batch_input(batch)
        if not self.stochastic_transform:
            return self.fc_mu(self.encoder(x))
        mu, logvar = self._posterior_parameters(x)
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def configure_optimizers(self):
        """A list holding one AdamW over all parameters, with ``lr`` and ``weight_decay``.

        The fused implementation updates all parameters in one kernel where
        their device has it (CPU and CUDA among others): the same update
        rule as the default loop over parameters, which launches about a
        dozen operations per parameter tensor, a cost that dominates the
        step of a small model.
        """
        parameters = list(self.parameters())
        return [
            torch.optim.AdamW(
                parameters,
                lr=self.lr,
                weight_decay=self.weight_decay,
                fused=_fused_optimizer_supported(parameters),
            )
        ]

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

    def _kl_divergence(self, q):
        """KL divergence of the posterior from the prior, averaged over the batch."""
        return self.criterion.kl_normal_loss(q)

    def _negative_elbo(self, x):
        """Negative ELBO (beta = 1, with likelihood constants), batch average."""
        q = self.encode(x)
        p = self.decoder(q.rsample())
        nll = self.criterion.reconstruction_loss(p, x)
        if not getattr(self.criterion, "exact_likelihood", False):
            constant = NLL_CONSTANTS[likelihood_name(p, self.default_dist)]
            nll = nll + constant * x[0].numel()
        return nll + self._kl_divergence(q)

    def score(self, X, y=None):
        """Mean evidence lower bound (ELBO) per sample; higher is better.

        For each sample, one posterior draw ``z ~ q(z|x)`` (seeded with
        ``random_state``) estimates ``log p(x|z) - KL(q(z|x) || N(0, I))``
        with ``beta = 1``. The log-likelihood includes its constants: a
        Normal of variance 1/2 for the squared error, a Laplace of scale 1
        for the absolute error, a Bernoulli for the cross-entropy, so scores
        of models with different likelihoods are comparable.

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
        check_is_fitted(self)
        X = check_input(self, X, reset=False)

        def negative_elbo_sums(batch, batch_idx):
            x = self._batch_input(batch)
            per_sample = self._negative_elbo(x)
            return torch.stack([per_sample * len(x), per_sample.new_tensor(len(x))])[None]

        sums = self._predict(X, negative_elbo_sums).sum(dim=0)
        return -float(sums[0] / sums[1])
