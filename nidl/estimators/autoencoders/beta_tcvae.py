"""Beta-TCVAE: a VAE that penalises the total correlation of its code."""


from ..._docstrings import fill_doc
from ...losses import BetaTCVAELoss
from ...utils._data import is_loader, n_samples
from .vae import VAE


def _check_no_single_sample_batch(X, batch_size, what):
    """Refuse data that a loader would serve with a batch of one sample."""
    if is_loader(X):
        if X.batch_size is None or X.drop_last:
            return
        batch_size = X.batch_size
    size = n_samples(X)
    if size is None:
        return
    smallest = min(batch_size, size % batch_size or batch_size)
    if smallest == 1:
        raise ValueError(
            f"BetaTCVAE estimates the total correlation within each batch and "
            f"needs at least 2 samples per batch, but the {what} data "
            f"({size} samples in batches of {batch_size}) gives a batch of "
            "one sample; choose a batch size that leaves no single sample over "
            f"(e.g. batch_size={batch_size + 1}) or drop the last batch "
            "(DataLoader(..., drop_last=True))."
        )


@fill_doc
class BetaTCVAE(VAE):
    r"""Beta-TCVAE: a VAE that penalises the total correlation of its code.

    The model of :class:`VAE` trained with :class:`~nidl.losses.BetaTCVAELoss`
    (Chen et al., 2018): the KL term is split into the index-code mutual
    information, the total correlation and the dimension-wise KL, weighted
    by ``alpha``, ``beta`` and ``gamma``. A large ``beta`` favours
    statistically independent latent dimensions without squeezing the
    information the code carries, as a large beta-VAE weight would.

    The terms are estimated on each batch by minibatch stratified sampling,
    which needs the number of training samples: ``fit`` takes it from the
    data (the length of the dataset of a ``DataLoader``) unless
    ``dataset_size`` is given. Each batch must hold at least two samples;
    ``fit`` refuses data that would leave a batch of one. The terms are
    logged each epoch as ``train/mi_loss``, ``train/tc_loss`` and
    ``train/dw_kl_loss`` next to ``train/loss``, ``train/rec_loss`` and
    ``train/kl_loss``, and the weight ``beta`` in force at every step as
    ``train/beta``.

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
    alpha : float, default=1.0
        Weight of the index-code mutual information.
    beta : float or callable, default=6.0
        Weight of the total correlation, or a schedule ``step -> weight``
        such as :class:`~nidl.losses.LinearWarmup`.
    gamma : float, default=1.0
        Weight of the dimension-wise KL divergence.
    dataset_size : int, default=None
        Number of samples the aggregate posterior is estimated over. None
        takes the number of training samples; set it when the training data
        cannot tell its length (an iterable dataset).
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
    dataset_size_ : int
        Number of samples the loss assumed (``dataset_size`` or the number
        of training samples).

    See Also
    --------
    VAE : Weights the whole KL term.
    nidl.losses.BetaTCVAELoss : The loss this estimator minimises.

    References
    ----------
    .. [1] R. T. Q. Chen, X. Li, R. Grosse and D. Duvenaud, "Isolating
       Sources of Disentanglement in Variational Autoencoders", NeurIPS 2018.

    Examples
    --------
    Trained on a DataLoader, the estimator takes the number of training
    samples from the loader's dataset:

    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> from nidl.estimators.autoencoders import BetaTCVAE
    >>> X = torch.randn(100, 8, generator=torch.Generator().manual_seed(0))
    >>> loader = DataLoader(TensorDataset(X), batch_size=32, shuffle=True)
    >>> vae = BetaTCVAE(torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU()),
    ...                 torch.nn.Linear(2, 8), encoder_out_dim=16, latent_dim=2,
    ...                 beta=6.0, lr=1e-2, random_state=0, max_epochs=2,
    ...                 enable_progress_bar=False)
    >>> vae.fit(loader).dataset_size_
    100
    >>> vae.transform(X).shape  # a tensor in, a tensor out
    torch.Size([100, 2])
    """

    # dataset_size is passed on as the loss needs it (see _make_criterion).
    _loss_parameters = ("alpha", "beta", "gamma")

    def __init__(
        self, encoder, decoder, encoder_out_dim, latent_dim, alpha=1.0, beta=6.0,
        gamma=1.0, dataset_size=None, default_dist="normal",
        observation_scale="fixed", stochastic_transform=True,
        lr=1e-4, weight_decay=1e-2, random_state=None, batch_size=128, **kwargs,
    ):
        self.alpha = alpha
        self.gamma = gamma
        self.dataset_size = dataset_size
        super().__init__(
            encoder, decoder, encoder_out_dim, latent_dim, beta=beta,
            default_dist=default_dist, observation_scale=observation_scale,
            stochastic_transform=stochastic_transform, lr=lr, weight_decay=weight_decay,
            random_state=random_state, batch_size=batch_size, **kwargs,
        )

    def _check_data(self, X, val_dataloader, facts):
        _check_no_single_sample_batch(X, self.batch_size, "training")
        if val_dataloader is not None:
            _check_no_single_sample_batch(val_dataloader, self.batch_size, "validation")
        dataset_size = self._dataset_size(facts)
        if dataset_size is None:
            raise ValueError(
                "BetaTCVAE could not tell the number of training samples, which "
                "the total-correlation estimate needs; set dataset_size."
            )
        self.dataset_size_ = dataset_size

    def _dataset_size(self, facts):
        """``dataset_size``, or the number of training samples, or None."""
        if self.dataset_size is not None:
            return self.dataset_size
        return None if facts is None else facts["n_samples"]

    def _make_criterion(self, facts):
        return BetaTCVAELoss(
            dataset_size=self._dataset_size(facts), **self._loss_arguments()
        )
