"""Documentation shared by the estimators of the VAE family, written once."""

from ..._docstrings import docstring_filler
from .._docs import METHOD_DOCS

#: Descriptions of the parameters and attributes the estimators of the family
#: share, filled into their docstrings by ``fill_shared_docs``.
SHARED_DOCS = {
    "encoder": """encoder : torch.nn.Module
    Backbone mapping a batch of inputs to ``(batch_size, encoder_out_dim)``.""",
    "decoder": """decoder : torch.nn.Module
    Maps a batch of codes (``latent_dim`` values per sample, followed by
    the categorical ones for a Joint VAE) to a tensor or a distribution
    shaped like the input.""",
    "encoder_out_dim": """encoder_out_dim : int
    Number of features the encoder returns per sample.""",
    "latent_dim": """latent_dim : int
    Number of (continuous) latent dimensions.""",
    "default_dist": """default_dist : {"normal", "laplace", "bernoulli"}, default="normal"
    Decoder likelihood when the decoder returns a tensor: squared error
    for ``"normal"``, absolute error for ``"laplace"``, binary
    cross-entropy for ``"bernoulli"`` (data in [0, 1]).""",
    "observation_scale": """observation_scale : {"fixed", "shared", "feature"}, default="fixed"
    Scale of a Normal or Laplace likelihood: ``"fixed"`` keeps the scale
    ``default_dist`` implies (the squared or absolute error); ``"shared"``
    learns one scale for all features and ``"feature"`` one per feature
    (``observation_scale_``), both trained on the exact negative
    log-likelihood. A learned scale lets the likelihood match the noise of
    the data, so that the KL term does not dominate on data of small
    variance, as intensities of brain images are.""",
    "stochastic_transform": """stochastic_transform : bool, default=True
    If True, ``transform`` returns samples of ``q(z|x)``; if False, the
    posterior means.""",
    "lr": """lr : float, default=1e-4
    Learning rate of the AdamW optimiser.""",
    "weight_decay": """weight_decay : float, default=1e-2
    Weight decay of the AdamW optimiser, decoupled from the gradient: every
    weight shrinks by ``lr * weight_decay`` at each step. For an MLP on
    a hundred standardised brains of tens of thousands of voxels, trained
    at ``lr=2e-4`` for 400 steps, ``weight_decay=10`` reconstructs held-out
    brains better than the default (the user guide on brains measures it).""",
    "random_state": """random_state : int, default=None
    Seed of everything a fit draws (head initialisation, shuffling,
    dropout, posterior samples) and of the samples ``transform`` and
    ``score`` draw. The same seed, data and initial modules give
    identical results on the CPU. None uses torch's global generator.""",
    "batch_size": """batch_size : int, default=128
    Batch size for Dataset, array and tensor input (a DataLoader keeps
    its own).""",
    # What score_samples gives, in every estimator of the family.
    "score_samples_returns": """Returns
-------
elbo : numpy.ndarray or torch.Tensor, shape (n_samples,)
    In nats; a NumPy array for array-like input, a CPU tensor otherwise.
terms : dict
    Only with ``return_terms=True``: ``"rec_loss"``, the negative
    log-likelihood of each sample, and ``"kl_loss"``, its KL divergence
    (``elbo = -(rec_loss + kl_loss)``).""",
    # The covariates the methods of the conditional VAE take.
    "covariates": """covariates : array-like of shape (n_samples, n_covariates), default=None
    Covariates of an array or tensor ``X``.""",
    "kwargs": """**kwargs
    Options of ``pytorch_lightning.Trainer`` (``max_epochs``,
    ``accelerator``, ``devices``, ``strategy``, ``precision``,
    ``callbacks``, ``enable_progress_bar``, ...), and nidl's own options:
    ``compile`` (default False) compiles the training forward pass and
    the loss with ``torch.compile`` (a one-off compilation cost, then
    steps that may be faster; ``benchmarks/bench_vae_speed.py`` measures
    it); ``channels_last`` (default "auto") trains on volumes (inputs of
    shape (n, channels, depth, height, width)) with batches and weights
    in the ``channels_last_3d`` memory format on CPU and CUDA devices, and
    infers in the default format; True uses it for inference too, False
    never; ``input_key`` (default None) is the key at which dictionary
    batches hold the input: ``"image"`` for MONAI's ``{"image": ...,
    "label": ...}``, ``"t1"`` for TorchIO's ``{"t1": {"data": ...}}`` (a
    tuple is a path of keys).""",
    # The Attributes section opens with the attributes the family shares.
    "attributes": """Attributes
----------
encoder : torch.nn.Module
    The encoder backbone.
decoder : torch.nn.Module
    The decoder.
fc_mu : torch.nn.Linear
    Head mapping encoder features to the posterior mean, built at
    construction.
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
criterion : torch.nn.Module
    The loss minimised (the one named under See Also), built from the
    parameters.""",
}

# The runs of parameters that the signatures of the family share, in this
# order: the modules open every signature and the training parameters close
# it; "shared_options" is the end of every signature but the Joint VAE's,
# whose transform draws nothing (no stochastic_transform).
SHARED_DOCS["modules"] = "\n".join(
    SHARED_DOCS[name] for name in ("encoder", "decoder", "encoder_out_dim", "latent_dim")
)
SHARED_DOCS["training"] = "\n".join(
    SHARED_DOCS[name] for name in ("lr", "weight_decay", "random_state", "batch_size", "kwargs")
)
SHARED_DOCS["shared_options"] = "\n".join(
    SHARED_DOCS[name]
    for name in ("default_dist", "observation_scale", "stochastic_transform", "training")
)

#: Decorator filling the ``%(name)s`` lines of a docstring from
#: ``SHARED_DOCS`` and the estimators' ``METHOD_DOCS``, so that each
#: estimator lists all its parameters in its own docstring, and each method
#: all of its own, while the shared ones are written once.
fill_shared_docs = docstring_filler({**METHOD_DOCS, **SHARED_DOCS})
