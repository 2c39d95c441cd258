"""y-Aware contrastive learning: positives weighted by the similarity of labels."""

from ..._docstrings import fill_doc
from ...losses import YAwareInfoNCE
from ._contrastive import TwoViewEstimator
from .utils import YAwareProjectionHead

__all__ = ["YAwareContrastiveLearning"]


@fill_doc
class YAwareContrastiveLearning(TwoViewEstimator):
    """y-Aware contrastive learning, a weakly supervised transformer.

    y-Aware contrastive learning [1]_ extends SimCLR with labels known for
    every training sample (age, clinical scores): in its InfoNCE loss
    (:class:`~nidl.losses.YAwareInfoNCE`) each view is pulled towards the
    views of every other sample in proportion to the kernel similarity of
    their labels, not only towards the other view of its own sample. The
    views go through the encoder and a projection head
    (:class:`~nidl.estimators.ssl.utils.YAwareProjectionHead`);
    ``transform`` returns the encoder's features, without the head.

    ``fit`` accepts a DataLoader or Dataset of views and labels,
    ``([x1, x2], y)`` (see :class:`~nidl.transforms.MultiViewsTransform`),
    or an array or tensor of samples with their labels, ``fit(X, y)``, whose
    views ``transforms`` makes. Unlike upstream nidl, which then trains with
    plain InfoNCE, a fit without labels is refused, before training, with a
    ValueError: use :class:`~nidl.estimators.ssl.SimCLR` for that. The
    validation data needs labels too. Every fit starts from the weights the
    encoder had when first fitted.

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
    proj_hidden_dim : int, default=512
        Width of the projection head's hidden layer.
    proj_output_dim : int, default=128
        Dimension of the embeddings the loss compares.
    temperature : float, default=0.1
        Temperature of the loss (> 0).
    kernel : str, default="gaussian"
        Kernel of the similarity of labels: ``"gaussian"``,
        ``"epanechnikov"``, ``"exponential"``, ``"linear"`` or ``"cosine"``
        (see :class:`~nidl.losses.KernelMetric`).
    bandwidth : float, array-like or KernelMetric, default=1.0
        Bandwidth of the kernel: a number, a vector (a diagonal matrix), a
        matrix, or a :class:`~nidl.losses.KernelMetric` fitted on the labels
        of the whole training set (to use Scott's or Silverman's rule), with
        the same ``kernel``. As in scikit-learn, ``clone`` gives an unfitted
        copy of such a KernelMetric, which must be fitted again.
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
    projection_head : YAwareProjectionHead
        The head, trained with the encoder.
    loss : YAwareInfoNCE
        The loss.
    n_features_in_ : int
        Number of features of a training sample.
    sample_shape_ : tuple of int
        Shape of a training sample (of one view).
    history_ : dict of str to list of float
        Epoch means of ``train/loss`` (and ``val/loss`` with validation).

    References
    ----------
    .. [1] B. Dufumier, P. Gori, J. Victor, A. Grigis, M. Wessa, P. Brambilla,
       P. Favre, M. Polosan, C. McDonald, C. M. Piguet and E. Duchesnay,
       "Contrastive Learning with Continuous Proxy Meta-Data for 3D MRI
       Classification", MICCAI 2021.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from nidl.estimators.ssl import YAwareContrastiveLearning
    >>> X = np.random.default_rng(0).normal(size=(32, 8)).astype("float32")
    >>> age = np.linspace(20, 80, 32)
    >>> model = YAwareContrastiveLearning(
    ...     torch.nn.Linear(8, 4), proj_input_dim=4, proj_hidden_dim=8,
    ...     proj_output_dim=3, bandwidth=100.0, lr_scheduler="none",
    ...     batch_size=16, random_state=0, max_epochs=1,
    ...     enable_progress_bar=False)
    >>> model.fit(X, age).transform(X).shape
    (32, 4)
    """

    def __init__(
        self, encoder, encoder_kwargs=None, proj_input_dim=2048,
        proj_hidden_dim=512, proj_output_dim=128, temperature=0.1,
        kernel="gaussian", bandwidth=1.0,
        optimizer="adamW", learning_rate=3e-4, weight_decay=5e-4,
        exclude_bias_and_norm_wd=True, optimizer_kwargs=None,
        lr_scheduler="warmup_cosine", lr_scheduler_kwargs=None, transforms=None,
        random_state=None, batch_size=128, **kwargs,
    ):
        self.temperature = temperature
        self.kernel = kernel
        self.bandwidth = bandwidth
        super().__init__(
            encoder, encoder_kwargs, proj_input_dim, proj_hidden_dim,
            proj_output_dim, optimizer, learning_rate, weight_decay,
            exclude_bias_and_norm_wd, optimizer_kwargs, lr_scheduler,
            lr_scheduler_kwargs, transforms, random_state, batch_size, **kwargs,
        )

    def _make_head(self):
        return YAwareProjectionHead(
            self.proj_input_dim, self.proj_hidden_dim, self.proj_output_dim
        )

    _uses_labels = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def _make_loss(self):
        return YAwareInfoNCE(
            kernel=self.kernel, bandwidth=self.bandwidth,
            temperature=self.temperature,
        )

    def _loss_value(self, z1, z2, y):
        return self.loss(z1, z2, labels=y)
