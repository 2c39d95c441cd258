"""DCL: SimCLR with the decoupled contrastive loss."""

from ..._docstrings import fill_doc
from ...losses import DCLLoss
from .simclr import SimCLR

__all__ = ["DCL"]


@fill_doc
class DCL(SimCLR):
    """DCL, contrastive learning with a decoupled loss, trained by Lightning.

    Decoupled contrastive learning [1]_ is SimCLR whose InfoNCE loss leaves
    the positive pair out of its denominator
    (:class:`~nidl.losses.DCLLoss`), which removes the coupling of the
    positive and negative terms and makes training less dependent on large
    batches. The encoder, the projection head
    (:class:`~nidl.estimators.ssl.utils.SimCLRProjectionHead`) and the data
    are as for :class:`~nidl.estimators.ssl.SimCLR`; ``transform`` returns
    the encoder's features, without the head.

    Parameters
    ----------
    encoder : torch.nn.Module or subclass of torch.nn.Module
        Backbone mapping a batch of inputs to ``(batch_size, proj_input_dim)``
        features: an instance, trained in place, or a class that every fit
        builds from ``encoder_kwargs``.
    encoder_kwargs : dict, default=None
        Keyword arguments of an encoder class.
    proj_input_dim : int, default=2048
        Number of features of the encoder output.
    proj_hidden_dim : int, default=2048
        Width of the projection head's hidden layer.
    proj_output_dim : int, default=128
        Dimension of the embeddings the loss compares.
    temperature : float, default=0.1
        Temperature of the decoupled loss (> 0).
    optimizer : {"adam", "adamW", "sgd"} or torch.optim.Optimizer, \
default="adamW"
        The optimiser, named or as an instance (see
        :func:`~nidl.estimators.ssl.utils.optimizer.configure_ssl_optimizers`).
    learning_rate : float, default=3e-4
        Learning rate of a named optimiser; the peak of the schedule.
    weight_decay : float, default=5e-4
        Weight decay of a named optimiser.
    exclude_bias_and_norm_wd : bool, default=True
        Whether biases and normalisation weights have no weight decay.
    optimizer_kwargs : dict, default=None
        Other arguments of a named optimiser.
    lr_scheduler : {"warmup_cosine", "none"}, LRScheduler or None, \
default="warmup_cosine"
        The learning-rate schedule: a linear warm-up then a cosine decay
        over the whole training, a constant rate, or a scheduler instance.
    lr_scheduler_kwargs : dict, default=None
        Settings of the schedule: ``warmup_epochs`` (10), ``interval``
        ("step"), ``warmup_start_lr`` (1e-6), ``min_lr`` (0).
    transforms : callable, default=None
        Makes the two views of a sample of an array or tensor given to
        ``fit`` (not used with a Dataset or DataLoader, which give views):
        called on one sample, a float32 tensor, it returns two tensors of
        its shape, e.g. ``MultiViewsTransform(transform, n_views=2)``. It
        runs in the loader, so in its worker processes if there are any.
        None: the sample itself and a copy with Gaussian noise of standard
        deviation 0.1 times that of the training array.
    %(random_state)s
    %(batch_size)s
    %(trainer_kwargs)s

    Attributes
    ----------
    projection_head : SimCLRProjectionHead
        The head, trained with the encoder.
    loss : DCLLoss
        The loss.
    n_features_in_ : int
        Number of features of a training sample.
    sample_shape_ : tuple of int
        Shape of a training sample (of one view).
    history_ : dict of str to list of float
        Epoch means of ``train/loss`` (and ``val/loss`` with validation).

    References
    ----------
    .. [1] C.-H. Yeh, C.-Y. Hong, Y.-C. Hsu, T.-L. Liu, Y. Chen and Y. LeCun,
       "Decoupled Contrastive Learning", ECCV 2022.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from nidl.estimators.ssl import DCL
    >>> X = np.random.default_rng(0).normal(size=(32, 8)).astype("float32")
    >>> model = DCL(torch.nn.Linear(8, 4), proj_input_dim=4,
    ...             proj_hidden_dim=8, proj_output_dim=3,
    ...             lr_scheduler="none", batch_size=16, random_state=0,
    ...             max_epochs=1, enable_progress_bar=False)
    >>> model.fit(X).transform(X).shape
    (32, 4)
    """

    # SimCLR's parameters, head and steps; only the loss differs.
    def _make_loss(self):
        return DCLLoss(temperature=self.temperature)
