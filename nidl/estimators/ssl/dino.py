"""DINO: self-distillation of an encoder from global and local crops."""

import numbers

import numpy as np
import torch
from sklearn.utils import check_scalar
from torch import nn
from torch.nn.parameter import is_lazy

from ..._docstrings import fill_doc
from ...losses import DINOLoss
from ._contrastive import TwoViewEstimator, split_labels
from ._moving_average import MovingAverageMixin, frozen_copy
from ._steps import log_loss
from .utils import DINOProjectionHead
from .utils.momentum import MomentumUpdater

__all__ = ["DINO"]

#: Number of global crops, which both the student and the teacher see.
NUM_GLOBAL_CROPS = 2


class MultiCropBatch(list):
    """A parsed batch ``[g1, g2, l1, ..., lL, y]``: the crops, then the labels.

    The two global crops, the local crops, then the labels (a tensor or
    None). Every loader that ``fit`` trains on gives its batches in this
    form, whose first entry is a tensor as nidl's input checks expect.
    """


def parse_crops(batch, num_local_crops):
    """The crops and the labels of a DINO batch.

    Parameters
    ----------
    batch : list or tuple
        ``[g1, g2, l1, ..., lL]`` or ``([g1, g2, l1, ..., lL], y)``: the two
        global crops then ``num_local_crops`` local crops, or a
        :class:`MultiCropBatch`.
    num_local_crops : int
        Number of local crops expected.

    Returns
    -------
    crops : list of torch.Tensor
        The global crops then the local crops.
    y : torch.Tensor or None
        The labels, if the batch has them.

    Raises
    ------
    ValueError
        If the batch does not hold ``2 + num_local_crops`` crops, the global
        (or the local) crops differ in shape, the crops hold different
        numbers of samples, or the labels are not a tensor.
    TypeError
        If a crop is not a tensor.
    """
    if isinstance(batch, MultiCropBatch):
        return list(batch[:-1]), batch[-1]
    expected = NUM_GLOBAL_CROPS + num_local_crops
    layout = (
        f"make the dataset return a list of {expected} crops, the "
        f"{NUM_GLOBAL_CROPS} global crops then the {num_local_crops} local ones "
        "(optionally with the labels, (crops, y)), for example with "
        f"nidl.transforms.MultiViewsTransform(transforms), or pass an array to "
        "fit, which makes the crops with `transforms`."
    )
    crops, y = split_labels(batch)
    # A layout error (one tensor where crops are needed), as upstream reports it.
    several = isinstance(crops, (list, tuple))
    if not several:
        raise ValueError(
            f"the batches hold a single {type(crops).__name__}, but DINO trains "
            f"on {expected} crops of every sample: {layout}"
        )
    if len(crops) != expected:
        raise ValueError(
            f"the batches hold {len(crops)} crops, but DINO with "
            f"num_local_crops={num_local_crops} trains on {expected}: {layout}"
        )
    if not all(isinstance(crop, torch.Tensor) for crop in crops):
        names = [type(crop).__name__ for crop in crops]
        raise TypeError(f"the crops must be tensors, got {names}.")
    for kind, group in (
        ("global", crops[:NUM_GLOBAL_CROPS]), ("local", crops[NUM_GLOBAL_CROPS:])
    ):
        shapes = {tuple(crop.shape) for crop in group}
        if len(shapes) > 1:
            raise ValueError(
                f"the {kind} crops of a batch have the shapes {sorted(shapes)}, "
                "which must be equal."
            )
    sizes = {len(crop) for crop in crops}
    if len(sizes) > 1:
        raise ValueError(
            f"the crops of a batch hold {sorted(sizes)} samples, which must be "
            "equal: every crop is a view of the same samples."
        )
    return list(crops), y


class MultiCropCollate:
    """Collate a batch with ``inner``, then parse it as a :class:`MultiCropBatch`.

    A class (not a closure), so that loaders pickle for worker processes.
    """

    def __init__(self, inner, num_local_crops):
        self.inner = inner
        self.num_local_crops = num_local_crops

    def __call__(self, items):
        crops, y = parse_crops(self.inner(items), self.num_local_crops)
        return MultiCropBatch([*crops, y])


class HeadState:
    """A picklable stand-in for a :class:`DINOProjectionHead`.

    The head's weight-normalised last layer is a torch parametrization,
    which pickles only through ``state_dict``: the head is stored as its
    settings and its state, and built again when unpickled.
    """

    def __init__(self, head):
        first = head.layers[0]
        self.settings = {
            "input_dim": first.in_features,
            "hidden_dim": first.out_features,
            "bottleneck_dim": head.bottleneck_dim,
            "output_dim": head.output_dim,
            "batch_norm": any(
                isinstance(module, nn.BatchNorm1d) for module in head.layers
            ),
            "freeze_last_layer": head.freeze_last_layer,
            "norm_last_layer": head.norm_last_layer,
        }
        self.state = head.state_dict()
        self.trainable = {
            name: parameter.requires_grad
            for name, parameter in head.named_parameters()
        }
        self.training = head.training

    def build(self):
        """The head, as it was pickled."""
        # The initial draws of the new head are discarded: leave the
        # caller's random streams as they were.
        with torch.random.fork_rng(devices=[]):
            head = DINOProjectionHead(**self.settings)
        head.load_state_dict(self.state)
        for name, parameter in head.named_parameters():
            parameter.requires_grad_(self.trainable[name])
        return head.train(self.training)


@fill_doc
class DINO(MovingAverageMixin, TwoViewEstimator):
    """DINO, self-distillation with no labels, trained by Lightning.

    DINO [1]_ trains a student network to match the outputs of a teacher
    network, the student's exponential moving average, across crops of a
    sample. Every sample comes as two global crops and ``num_local_crops``
    local crops. The student (the encoder and a
    :class:`~nidl.estimators.ssl.utils.DINOProjectionHead`) embeds them
    all; the teacher (copies of both, never trained by gradient) embeds the
    global crops only. The loss (:class:`~nidl.losses.DINOLoss`) is the
    cross-entropy between the teacher's centred and sharpened distribution
    for one global crop and the student's distribution for every other
    crop. After each training batch the teacher moves towards the student,
    ``theta_t <- lambda * theta_t + (1 - lambda) * theta_s``, with
    ``lambda`` rising from ``base_lambda`` to ``final_lambda`` on a cosine
    over training (logged as ``"lambda"``). ``transform`` returns the
    teacher encoder's features, without the head.

    ``fit`` accepts a DataLoader or Dataset whose samples are lists of
    crops, the two global crops then the local ones (``[g1, g2, l1, ...]``
    or ``([g1, g2, l1, ...], y)``, labels unused), or an array or tensor of
    samples, whose crops ``transforms`` makes. The global crops share one
    shape and the local crops another, which may differ from the global
    one if the encoder takes both. Every fit starts from the weights the
    encoder had when first fitted, and the teacher from a copy of them.

    Parameters
    ----------
    encoder : torch.nn.Module or subclass of torch.nn.Module
        Student backbone mapping a batch of inputs to
        ``(batch_size, proj_input_dim)`` features: an instance, trained in
        place, or a class that every fit builds from ``encoder_kwargs``. The
        teacher is a copy of it.
    encoder_kwargs : dict, default=None
        Keyword arguments of an encoder class.
    proj_input_dim : int, default=2048
        Number of features of the encoder output.
    proj_hidden_dim : int, default=2048
        Width of the hidden layers of the projection head.
    proj_bottleneck_dim : int, default=256
        Dimension of the head's normalised bottleneck.
    proj_output_dim : int, default=4096
        Number of scores (prototypes) the head outputs and the loss compares.
    proj_batch_norm : bool, default=True
        Whether the head's hidden layers have batch normalisation.
    proj_norm_last_layer : bool, default=True
        Whether the rows of the head's last layer keep unit norm.
    num_local_crops : int, default=8
        Number of local crops per sample, after the two global ones (>= 0).
    student_temperature : float, default=0.1
        Temperature of the student's softmax (> 0).
    teacher_temperature : float, default=0.07
        Temperature of the teacher's softmax after the warm-up (> 0).
    warmup_teacher_temp : float, default=0.04
        Teacher temperature at the first epoch (> 0), rising linearly to
        ``teacher_temperature`` over the warm-up.
    warmup_teacher_temp_epochs : int, default=30
        Number of epochs of the teacher temperature's warm-up (>= 0).
    base_lambda : float, default=0.996
        Momentum of the teacher's moving average at the start of training.
    final_lambda : float, default=1.0
        Momentum at the end of training, in [base_lambda, 1].
    clip_grad : float, default=0.0
        If > 0, the largest norm of the gradients of the student encoder
        (the head is not clipped) at each step.
    freeze_last_layer : int, default=0
        The last layer of the student's head keeps its initial weights
        during the epochs before this one.
    optimizer : {"adam", "adamW", "sgd"} or torch.optim.Optimizer, \
default="adamW"
        The optimiser of the student, named or as an instance (see
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
        Makes the crops of a sample of an array or tensor given to ``fit``
        (not used with a Dataset or DataLoader, which give crops): called on
        one sample, a float32 tensor, it returns a list of
        ``2 + num_local_crops`` tensors, the global crops then the local
        ones, for example ``MultiViewsTransform([global_crop, global_crop,
        local_crop, ...])``. It runs in the loader, so in its worker
        processes if there are any. None: the sample itself, then
        ``1 + num_local_crops`` copies with Gaussian noise of standard
        deviation 0.1 times that of the training array.
    %(random_state)s
    %(batch_size)s
    %(trainer_kwargs)s

    Attributes
    ----------
    projection_head : DINOProjectionHead
        The student's head, trained with the encoder.
    teacher : torch.nn.Module
        The teacher encoder, a moving average of the student encoder whose
        parameters do not require gradients; ``transform`` uses it.
    teacher_head : DINOProjectionHead
        The teacher's head, a moving average of ``projection_head``.
    momentum_updater : MomentumUpdater
        The moving average and its momentum schedule.
    loss : DINOLoss
        The loss, with its centre of the teacher outputs (a buffer, moved by
        the training batches only).
    n_features_in_ : int
        Number of features of a training sample.
    sample_shape_ : tuple of int
        Shape of a training sample (of one global crop).
    history_ : dict of str to list of float
        Epoch means of ``train/loss`` (and ``val/loss`` with validation).

    See Also
    --------
    nidl.transforms.MultiViewsTransform : Makes the crops of a sample.

    Notes
    -----
    Only the training batches move the centre of the loss; validation
    batches leave it as it is. The student head's own ``freeze_last_layer``
    is set from the estimator's. The estimator pickles (the head's
    weight-normalised last layer is stored through its ``state_dict``).

    References
    ----------
    .. [1] M. Caron, H. Touvron, I. Misra, H. Jégou, J. Mairal, P. Bojanowski
       and A. Joulin, "Emerging Properties in Self-Supervised Vision
       Transformers", ICCV 2021.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from nidl.estimators.ssl import DINO
    >>> X = np.random.default_rng(0).normal(size=(32, 8)).astype("float32")
    >>> model = DINO(torch.nn.Linear(8, 4), proj_input_dim=4,
    ...              proj_hidden_dim=8, proj_bottleneck_dim=4,
    ...              proj_output_dim=16, num_local_crops=2,
    ...              lr_scheduler="none", batch_size=16, random_state=0,
    ...              max_epochs=1, enable_progress_bar=False)
    >>> model.fit(X).transform(X).shape
    (32, 4)
    """

    def __init__(
        self, encoder, encoder_kwargs=None, proj_input_dim=2048,
        proj_hidden_dim=2048, proj_bottleneck_dim=256, proj_output_dim=4096,
        proj_batch_norm=True, proj_norm_last_layer=True, num_local_crops=8,
        student_temperature=0.1, teacher_temperature=0.07,
        warmup_teacher_temp=0.04, warmup_teacher_temp_epochs=30,
        base_lambda=0.996, final_lambda=1.0, clip_grad=0.0, freeze_last_layer=0,
        optimizer="adamW", learning_rate=3e-4, weight_decay=5e-4,
        exclude_bias_and_norm_wd=True, optimizer_kwargs=None,
        lr_scheduler="warmup_cosine", lr_scheduler_kwargs=None, transforms=None,
        random_state=None, batch_size=128, **kwargs,
    ):
        self.proj_bottleneck_dim = proj_bottleneck_dim
        self.proj_batch_norm = proj_batch_norm
        self.proj_norm_last_layer = proj_norm_last_layer
        self.num_local_crops = num_local_crops
        self.student_temperature = student_temperature
        self.teacher_temperature = teacher_temperature
        self.warmup_teacher_temp = warmup_teacher_temp
        self.warmup_teacher_temp_epochs = warmup_teacher_temp_epochs
        self.base_lambda = base_lambda
        self.final_lambda = final_lambda
        self.clip_grad = clip_grad
        self.freeze_last_layer = freeze_last_layer
        super().__init__(
            encoder, encoder_kwargs, proj_input_dim, proj_hidden_dim,
            proj_output_dim, optimizer, learning_rate, weight_decay,
            exclude_bias_and_norm_wd, optimizer_kwargs, lr_scheduler,
            lr_scheduler_kwargs, transforms, random_state, batch_size, **kwargs,
        )

    # ------------------------------------------------------------------
    # Parameters and modules
    # ------------------------------------------------------------------
    def _check_params(self):
        super()._check_params()
        check_scalar(
            self.proj_bottleneck_dim, "proj_bottleneck_dim", numbers.Integral,
            min_val=1,
        )
        for name in ("proj_batch_norm", "proj_norm_last_layer"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(
                    f"{name} must be True or False, got {getattr(self, name)!r}."
                )
        check_scalar(
            self.num_local_crops, "num_local_crops", numbers.Integral, min_val=0
        )
        check_scalar(self.clip_grad, "clip_grad", numbers.Real, min_val=0)
        check_scalar(
            self.freeze_last_layer, "freeze_last_layer", numbers.Integral, min_val=0
        )
        # The updater checks the momenta.
        MomentumUpdater(self.base_lambda, self.final_lambda)

    def _make_head(self):
        return DINOProjectionHead(
            self.proj_input_dim,
            self.proj_hidden_dim,
            self.proj_bottleneck_dim,
            self.proj_output_dim,
            batch_norm=bool(self.proj_batch_norm),
            freeze_last_layer=self.freeze_last_layer,
            norm_last_layer=bool(self.proj_norm_last_layer),
        )

    def _make_loss(self):
        return DINOLoss(
            output_dim=self.proj_output_dim,
            warmup_teacher_temp=self.warmup_teacher_temp,
            teacher_temp=self.teacher_temperature,
            warmup_teacher_temp_epochs=self.warmup_teacher_temp_epochs,
            student_temp=self.student_temperature,
        )

    def _build_modules(self, facts):
        super()._build_modules(facts)
        self.teacher = frozen_copy(self._encoder_module())
        self.teacher_head = frozen_copy(self.projection_head)
        self._momentum_updater = MomentumUpdater(self.base_lambda, self.final_lambda)

    def __getstate__(self):
        state = super().__getstate__()
        modules = dict(state["_modules"])
        for name, module in modules.items():
            if isinstance(module, DINOProjectionHead):
                modules[name] = HeadState(module)
        return {**state, "_modules": modules}

    def __setstate__(self, state):
        modules = dict(state["_modules"])
        for name, module in modules.items():
            if isinstance(module, HeadState):
                modules[name] = module.build()
        super().__setstate__({**state, "_modules": modules})

    # ------------------------------------------------------------------
    # Data
    # ------------------------------------------------------------------
    @fill_doc
    def fit(self, X, y=None, val_dataloader=None, ckpt_path=None):
        """Train the student on the crops of each sample; the teacher follows.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Training data. A Dataset or DataLoader gives the crops of every
            sample, the two global crops then the ``num_local_crops`` local
            ones, ``[g1, g2, l1, ...]``, or with labels (unused),
            ``([g1, g2, l1, ...], y)``. An array or tensor of shape
            (n_samples, ...) holds the samples, whose crops ``transforms``
            makes as they are read.
        y : None, DataLoader or Dataset, default=None
            Ignored with arrays, as scikit-learn passes it. A DataLoader or
            Dataset here is validation data, so that
            ``fit(train_dataloader, val_dataloader)`` works.
        val_dataloader : DataLoader, Dataset, torch.Tensor or array-like, \
default=None
            Validation data, in the forms of ``X``; its loss is logged as
            ``loss/val`` and kept in ``history_["val/loss"]``.
        ckpt_path : str, default=None
            Checkpoint of an interrupted fit to resume from.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        ValueError
            If the batches do not hold ``2 + num_local_crops`` crops, before
            training.
        """
        return super().fit(X, y, val_dataloader=val_dataloader, ckpt_path=ckpt_path)

    def _n_views(self):
        return NUM_GLOBAL_CROPS + self.num_local_crops

    def _batch_collate(self, collate_fn):
        return MultiCropCollate(collate_fn, self.num_local_crops)

    def _batch_input(self, batch):
        # The first global crop stands for the batch in nidl's input checks.
        if isinstance(batch, MultiCropBatch):
            return batch[0]
        return super()._batch_input(batch)

    def _format_batch(self, batch, memory_format):
        if isinstance(batch, MultiCropBatch):
            if memory_format is None:
                return batch
            return MultiCropBatch([
                *(crop.contiguous(memory_format=memory_format) for crop in batch[:-1]),
                batch[-1],
            ])
        return super()._format_batch(batch, memory_format)

    # ------------------------------------------------------------------
    # Lightning steps and hooks
    # ------------------------------------------------------------------
    def _step(self, batch, stage):
        crops, y = parse_crops(batch, self.num_local_crops)
        global_crops = crops[:NUM_GLOBAL_CROPS]
        local_crops = crops[NUM_GLOBAL_CROPS:]
        batch_size = len(global_crops[0])
        encoder = self._encoder_module()
        # The crops of one shape go through the networks together.
        student = [self.projection_head(encoder(torch.cat(global_crops)))]
        if local_crops:
            student.append(self.projection_head(encoder(torch.cat(local_crops))))
        if any(is_lazy(parameter) for parameter in self.teacher.parameters()):
            # The student's lazy layers are initialised now: the teacher
            # starts from a copy of them, as it would have without.
            self.teacher = frozen_copy(encoder)
        z_student = torch.cat(student).view(len(crops), batch_size, -1)
        with torch.no_grad():
            z_teacher = self.teacher_head(self.teacher(torch.cat(global_crops)))
        z_teacher = z_teacher.view(NUM_GLOBAL_CROPS, batch_size, -1)
        loss = self.loss(z_teacher, z_student, epoch=self.current_epoch)
        log_loss(self, loss, stage, batch_size)
        return {
            "loss": loss,
            "z_student": z_student.detach(),
            "z_teacher": z_teacher.detach(),
            "y": None if y is None else y.detach(),
        }

    def training_step(self, batch, batch_idx, dataloader_idx=0):
        """Loss of one batch of crops, logged as ``loss/train``.

        Parameters
        ----------
        batch : list or tuple
            ``[g1, g2, l1, ...]`` or ``([g1, g2, l1, ...], y)``.
        batch_idx : int
            Index of the batch; ignored.
        dataloader_idx : int, default=0
            Index of the loader; ignored.

        Returns
        -------
        outputs : dict
            ``"loss"``, the student's outputs ``"z_student"`` of shape
            (n_crops, batch_size, proj_output_dim) and the teacher's
            ``"z_teacher"`` of the global crops (both detached), and the
            labels ``"y"`` (or None).
        """
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        """Loss of one validation batch, logged as ``loss/val`` and ``val/loss``.

        Parameters
        ----------
        batch : list or tuple
            ``[g1, g2, l1, ...]`` or ``([g1, g2, l1, ...], y)``.
        batch_idx : int
            Index of the batch; ignored.
        dataloader_idx : int, default=0
            Index of the loader; ignored.

        Returns
        -------
        outputs : dict
            As :meth:`training_step` returns them.
        """
        return self._step(batch, "val")

    @fill_doc
    def transform_step(self, batch, batch_idx, dataloader_idx=0):
        """Teacher encoder features of one batch, without the projection head.

        %(step_parameters)s

        Returns
        -------
        features : torch.Tensor, shape (batch_size, proj_input_dim)
        """
        return self.teacher(self._batch_input(batch))

    def on_before_optimizer_step(self, optimizer):
        """Clip the student encoder's gradients; freeze the head's last layer.

        Parameters
        ----------
        optimizer : torch.optim.Optimizer
            The optimiser about to step.
        """
        if self.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(
                self._encoder_module().parameters(), self.clip_grad
            )
        self.projection_head.cancel_last_layer_gradients(self.current_epoch)

    def _moving_average_pairs(self):
        return [
            (self._encoder_module(), self.teacher),
            (self.projection_head, self.teacher_head),
        ]
