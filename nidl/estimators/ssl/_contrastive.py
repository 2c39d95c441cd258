"""The base of the estimators trained on two views of every sample.

SimCLR, DCL, y-Aware contrastive learning and Barlow Twins share everything
but their projection head and their loss: the batches of two views, the step
``z_k = head(encoder(x_k))``, the logging, the optimiser and ``transform``
(the encoder's features, without the head). :class:`TwoViewEstimator`
holds that; each estimator gives its head and its loss.
"""

import numbers

import numpy as np
import torch
from sklearn.utils import check_array, check_scalar
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset

from ..._docstrings import fill_doc
from ...utils._data import collate, is_dataset, is_loader
from ...utils.validation import check_targets
from ..base import BaseEstimator, TransformerMixin
from ._steps import estimator_optimizers, log_loss
from .utils.encoder import build_encoder

#: Standard deviation of the noise of the default second view, as a
#: fraction of the standard deviation of the training array.
DEFAULT_NOISE_FRACTION = 0.1


class TwoViewBatch(list):
    """A parsed batch ``[x1, x2, y]``: two views and the labels (or None).

    Every loader that ``fit`` trains on gives its batches in this form, whose
    first entry is a tensor as nidl's input checks expect.
    """


def split_labels(batch):
    """The views and the labels of a batch ``[v1, v2, ...]`` or ``([v1, ...], y)``.

    Returns ``(views, y)``, ``y`` None for a batch without labels.

    Raises
    ------
    ValueError
        If the labels are not a tensor.
    """
    labelled = (
        isinstance(batch, (list, tuple))
        and len(batch) == 2
        and isinstance(batch[0], (list, tuple))
    )
    views, y = batch if labelled else (batch, None)
    if y is not None and not isinstance(y, torch.Tensor):
        raise ValueError(f"the labels of a batch must be a tensor, got {y!r}.")
    return views, y


def parse_two_views(batch):
    """The two views and the labels of a batch.

    Parameters
    ----------
    batch : list or tuple
        ``[x1, x2]`` or ``([x1, x2], y)``, as upstream nidl's two-view
        loaders give them, or a :class:`TwoViewBatch`.

    Returns
    -------
    x1, x2 : torch.Tensor
        The views, of the same shape.
    y : torch.Tensor or None
        The labels, if the batch has them.

    Raises
    ------
    ValueError
        If the batch is not two views of the same shape (a single tensor,
        ``(x, y)`` pairs, three views, ...), or its labels are not a tensor.
    TypeError
        If a view is not a tensor.
    """
    if isinstance(batch, TwoViewBatch):
        return batch[0], batch[1], batch[2]
    views, y = split_labels(batch)
    # A layout error (one view where two are needed), as upstream reports it.
    several = isinstance(views, (list, tuple))
    if not several:
        raise ValueError(
            f"the batches hold a single {type(views).__name__}, but this "
            "estimator trains on two views of every sample: make the dataset "
            "return [view1, view2] or ([view1, view2], y), for example with "
            "nidl.transforms.MultiViewsTransform(transform, n_views=2), or pass "
            "an array to fit, which makes the views with `transforms`."
        )
    if len(views) != 2:
        raise ValueError(
            f"the batches hold {len(views)} views, but this estimator trains on "
            "exactly two: make the dataset return [view1, view2] or "
            "([view1, view2], y)."
        )
    if not all(isinstance(view, torch.Tensor) for view in views):
        names = [type(view).__name__ for view in views]
        raise TypeError(f"the two views must be tensors, got {names}.")
    if views[0].shape != views[1].shape:
        raise ValueError(
            f"the two views of a batch have the shapes {tuple(views[0].shape)} "
            f"and {tuple(views[1].shape)}, which must be equal; a batch (x, y) "
            "of one view and its labels is not two views: make the dataset "
            "return [view1, view2] or ([view1, view2], y)."
        )
    return views[0], views[1], y


class TwoViewCollate:
    """Collate a batch with ``inner``, then parse it as a :class:`TwoViewBatch`.

    A class (not a closure), so that loaders pickle for worker processes.
    """

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, items):
        return TwoViewBatch(parse_two_views(self.inner(items)))


class NoisyViews:
    """The default views of an array's samples: the sample, and noisy copies.

    Parameters
    ----------
    std : float
        Standard deviation of the Gaussian noise of the copies.
    n_views : int, default=2
        Number of views: the sample itself, then ``n_views - 1`` copies.
    """

    def __init__(self, std, n_views=2):
        self.std = std
        self.n_views = n_views

    def __call__(self, x):
        noisy = [x + self.std * torch.randn_like(x) for _ in range(self.n_views - 1)]
        return [x, *noisy]

    def __repr__(self):
        return f"{type(self).__name__}(std={self.std!r}, n_views={self.n_views!r})"


class ArrayViews(Dataset):
    """Samples of a tensor seen through ``views``, with their labels if any.

    The views are drawn when a sample is read, in the loader's workers.
    """

    def __init__(self, X, labels, views):
        self.X, self.labels, self.views = X, labels, views

    def __len__(self):
        return len(self.X)

    def __getitem__(self, index):
        views = list(self.views(self.X[index]))
        return views if self.labels is None else (views, self.labels[index])


def with_collate(loader, collate_fn):
    """A loader over the same data, order and workers as ``loader`` that
    collates with ``collate_fn`` (which wraps ``loader.collate_fn`` to parse
    the collated batches, e.g. :class:`TwoViewCollate`)."""
    options = {
        "num_workers": loader.num_workers,
        "collate_fn": collate_fn,
        "pin_memory": loader.pin_memory,
        "timeout": loader.timeout,
        "worker_init_fn": loader.worker_init_fn,
        "multiprocessing_context": loader.multiprocessing_context,
        "generator": loader.generator,
        "persistent_workers": loader.persistent_workers,
    }
    if loader.num_workers > 0:
        options["prefetch_factor"] = loader.prefetch_factor
    if isinstance(loader.dataset, IterableDataset):
        return DataLoader(
            loader.dataset,
            batch_size=loader.batch_size,
            drop_last=loader.drop_last,
            **options,
        )
    if loader.batch_sampler is None:  # batch_size=None: items are batches
        return DataLoader(
            loader.dataset, batch_size=None, sampler=loader.sampler, **options
        )
    return DataLoader(loader.dataset, batch_sampler=loader.batch_sampler, **options)


@fill_doc
class TwoViewEstimator(TransformerMixin, BaseEstimator):
    """Base of the estimators that train an encoder on two views of each sample.

    A subclass gives its projection head (``_make_head``) and its loss
    (``_make_loss``, and ``_loss_value`` where the loss takes more than the
    two embeddings). Training embeds both views, ``z_k = head(encoder(x_k))``,
    and minimises the loss of ``(z1, z2)``; ``transform`` returns the
    encoder's features, without the head.

    Parameters
    ----------
    encoder : torch.nn.Module or subclass of torch.nn.Module
        Backbone mapping a batch of inputs to ``(batch_size, proj_input_dim)``
        features: an instance, trained in place, or a class built from
        ``encoder_kwargs`` at every fit.
    encoder_kwargs : dict, default=None
        Keyword arguments of an encoder class.
    proj_input_dim, proj_hidden_dim, proj_output_dim : int
        Widths of the projection head.
    optimizer : {"adam", "adamW", "sgd"} or torch.optim.Optimizer, \
default="adamW"
    learning_rate : float, default=3e-4
    weight_decay : float, default=5e-4
    exclude_bias_and_norm_wd : bool, default=True
    optimizer_kwargs : dict, default=None
    lr_scheduler : {"warmup_cosine", "none"}, LRScheduler or None, \
default="warmup_cosine"
    lr_scheduler_kwargs : dict, default=None
        The optimisation, as
        :func:`~nidl.estimators.ssl.utils.optimizer.configure_ssl_optimizers`
        takes it.
    transforms : callable, default=None
        Makes the two views of one sample of an array or tensor given to
        ``fit``: called on a sample (a float32 tensor), it returns two
        tensors of its shape, for example
        ``nidl.transforms.MultiViewsTransform(transform, n_views=2)``. None:
        the sample itself and a copy with Gaussian noise of 0.1 times the
        standard deviation of the training array.
    %(random_state)s
    %(batch_size)s
    %(trainer_kwargs)s
    """

    _logs_epoch_means = True

    #: Whether the loss uses the labels of the samples.
    _uses_labels = False

    def __init__(
        self, encoder, encoder_kwargs, proj_input_dim, proj_hidden_dim,
        proj_output_dim, optimizer, learning_rate, weight_decay,
        exclude_bias_and_norm_wd, optimizer_kwargs, lr_scheduler,
        lr_scheduler_kwargs, transforms, random_state, batch_size, **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.encoder_kwargs = encoder_kwargs
        self.proj_input_dim = proj_input_dim
        self.proj_hidden_dim = proj_hidden_dim
        self.proj_output_dim = proj_output_dim
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.exclude_bias_and_norm_wd = exclude_bias_and_norm_wd
        self.optimizer_kwargs = optimizer_kwargs
        self.lr_scheduler = lr_scheduler
        self.lr_scheduler_kwargs = lr_scheduler_kwargs
        self.transforms = transforms
        self.random_state = random_state
        self.batch_size = batch_size
        # Last, once every parameter of the estimator is stored.
        self._build_initial_modules()

    # ------------------------------------------------------------------
    # What a subclass gives
    # ------------------------------------------------------------------
    def _make_head(self):
        """The projection head, built from the parameters."""
        raise NotImplementedError

    def _make_loss(self):
        """The loss of the two embeddings, built from the parameters."""
        raise NotImplementedError

    def _loss_value(self, z1, z2, y):
        """The loss of a batch's embeddings (``y``: its labels, or None)."""
        return self.loss(z1, z2)

    # ------------------------------------------------------------------
    # Hooks of the base class
    # ------------------------------------------------------------------
    @property
    def _user_modules(self):
        # A module given as encoder is the user's; a class is built by fit.
        return ("encoder",) if isinstance(self.encoder, nn.Module) else ()

    def _check_params(self):
        super()._check_params()
        encoder = self.encoder
        if not (
            isinstance(encoder, nn.Module)
            or (isinstance(encoder, type) and issubclass(encoder, nn.Module))
        ):
            raise TypeError(
                "encoder must be a torch.nn.Module or a subclass of it, got "
                f"{encoder!r}."
            )
        for name in ("proj_input_dim", "proj_hidden_dim", "proj_output_dim"):
            check_scalar(getattr(self, name), name, numbers.Integral, min_val=1)
        if self.transforms is not None and not callable(self.transforms):
            raise TypeError(
                "transforms must be None or a callable making the two views of a "
                f"sample, got {self.transforms!r}."
            )
        # The loss checks its own parameters.
        self._make_loss()

    def _build_modules(self, facts):
        if isinstance(self.encoder, nn.Module):
            if "built_encoder" in dict(self.named_children()):
                del self.built_encoder
        else:
            self.built_encoder = build_encoder(self.encoder, self.encoder_kwargs)
        self.projection_head = self._make_head()
        self.loss = self._make_loss()

    def _encoder_module(self):
        """The encoder trained: the user's instance, or the one built from a class."""
        if isinstance(self.encoder, nn.Module):
            return self.encoder
        return self.built_encoder

    def _check_modules(self, x):
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                try:
                    features = self._encoder_module()(x)
                except RuntimeError as error:
                    raise ValueError(
                        f"the encoder failed on samples of shape "
                        f"{tuple(x.shape[1:])} ({error}); make it take the data."
                    ) from error
                if features.ndim != 2 or features.shape[1] != self.proj_input_dim:
                    raise ValueError(
                        "the encoder returns outputs of shape "
                        f"{tuple(features.shape[1:])} per sample but "
                        f"proj_input_dim={self.proj_input_dim}; set "
                        f"proj_input_dim={features[0].numel()} (and flatten the "
                        "encoder output if it has more than one axis)."
                    )
        finally:
            self.train(was_training)

    def _check_data(self, X, val_dataloader, facts):
        if not self._uses_labels:
            return
        for name, loader in (
            ("the training data", X), ("val_dataloader", val_dataloader)
        ):
            if loader is not None and parse_two_views(next(iter(loader)))[2] is None:
                raise ValueError(self._no_labels_message(name))

    def _no_labels_message(self, name):
        if name == "X":
            # In scikit-learn's words, for an array or tensor without y.
            start = "requires y to be passed, but the target y is None: it"
        else:
            start = f"got {name} without labels, but it"
        return (
            f"{type(self).__name__} {start} weighs the pairs of samples by the "
            "similarity of their labels; pass fit(X, y) with arrays, or "
            "batches ([view1, view2], y) in a Dataset or DataLoader."
        )

    def _checked_size(self, data, name):
        """Whether the last batch of ``data`` is dropped; refuses a single sample.

        The losses compare each sample with the others of its batch (and
        Barlow Twins' head normalises over the batch): a batch needs at
        least two samples. A last batch of one sample is dropped.
        """
        try:
            n_samples = len(data)
        except TypeError:  # iterable datasets need not know their length
            return False
        if n_samples < 2:
            raise ValueError(
                f"{type(self).__name__} compares the samples of a batch with "
                f"each other and needs at least 2 samples, but {name} has "
                f"n_samples={n_samples}."
            )
        return n_samples % self.batch_size == 1

    def _n_outputs(self):
        return self.proj_input_dim

    def _batch_input(self, batch):
        # The first view stands for the batch in nidl's input checks.
        if isinstance(batch, TwoViewBatch):
            return batch[0]
        if (
            isinstance(batch, (list, tuple))
            and batch
            and isinstance(batch[0], (list, tuple))
        ):
            return super()._batch_input(batch[0])
        return super()._batch_input(batch)

    def _format_batch(self, batch, memory_format):
        if isinstance(batch, TwoViewBatch):
            if memory_format is None:
                return batch
            x1, x2, y = batch
            return TwoViewBatch([
                x1.contiguous(memory_format=memory_format),
                x2.contiguous(memory_format=memory_format),
                y,
            ])
        if isinstance(batch, (list, tuple)) and batch and not isinstance(
            batch[0], torch.Tensor
        ):
            # Upstream's ([x1, x2], y) batches, from a Trainer of the user's:
            # the memory format is a speed option.
            return batch
        return super()._format_batch(batch, memory_format)

    # ------------------------------------------------------------------
    # Data
    # ------------------------------------------------------------------
    @fill_doc
    def fit(self, X, y=None, val_dataloader=None, ckpt_path=None):
        """Train the encoder and the projection head on two views of each sample.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Training data. A Dataset or DataLoader gives two views of every
            sample, ``[x1, x2]``, or the views and labels, ``([x1, x2], y)``
            (see :class:`~nidl.transforms.MultiViewsTransform`). An array or
            tensor of shape (n_samples, ...) holds the samples, whose views
            ``transforms`` makes as they are read.
        y : array-like of shape (n_samples,) or (n_samples, n_labels), \
DataLoader or Dataset, default=None
            Labels of an array ``X``, used by the estimators whose loss
            weighs pairs by their labels (y-Aware) and ignored by the
            others. A DataLoader or Dataset here is validation data, so that
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
        """
        y, val_dataloader = self._validation_in_place_of_y(y, val_dataloader)
        # The loaders below take batch_size and transforms: checked first.
        self._check_params()
        train = self._two_view_loader(X, y, shuffle=True, name="X")
        val = None
        if val_dataloader is not None:
            val = self._two_view_loader(
                val_dataloader, None, shuffle=False, name="val_dataloader"
            )
        return self._fit(train, None, val, ckpt_path)

    def _two_view_loader(self, data, y, shuffle, name):
        """A loader of parsed batches (:meth:`_batch_collate`) over the data
        given to ``fit``."""
        if is_loader(data) or is_dataset(data):
            if y is not None and self._uses_labels:
                raise ValueError(
                    f"{type(self).__name__} reads the labels from the batches of a "
                    "Dataset or DataLoader, ([view1, view2], y); pass y only "
                    "with arrays."
                )
            if is_loader(data):
                return with_collate(data, self._batch_collate(data.collate_fn))
            return DataLoader(
                data,
                batch_size=self.batch_size,
                shuffle=shuffle,
                drop_last=self._checked_size(data, name),
                collate_fn=self._batch_collate(collate),
            )
        values = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else data
        array = check_array(values, allow_nd=True, dtype=np.float32, input_name=name)
        X = torch.from_numpy(np.ascontiguousarray(array))
        drop_last = self._checked_size(X, name)
        labels = None
        if self._uses_labels:
            if y is None:
                raise ValueError(self._no_labels_message(name))
            labels = check_targets(y, len(X))
        views = self.transforms
        if views is None:
            std = float(X.std()) if X.numel() > 1 else 0.0
            std = std if np.isfinite(std) and std > 0 else 1.0
            views = NoisyViews(DEFAULT_NOISE_FRACTION * std, self._n_views())
        return DataLoader(
            ArrayViews(X, labels, views),
            batch_size=self.batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            collate_fn=self._batch_collate(collate),
        )

    def _n_views(self):
        """Views of each sample a batch holds (the default views make them)."""
        return 2

    def _batch_collate(self, collate_fn):
        """``collate_fn``, followed by the parsing of this estimator's batches."""
        return TwoViewCollate(collate_fn)

    # ------------------------------------------------------------------
    # Lightning steps
    # ------------------------------------------------------------------
    def _step(self, batch, stage):
        x1, x2, y = parse_two_views(batch)
        encoder = self._encoder_module()
        z1 = self.projection_head(encoder(x1))
        z2 = self.projection_head(encoder(x2))
        if self._uses_labels and y is None:
            raise ValueError(self._no_labels_message("the batch"))
        loss = self._loss_value(z1, z2, y)
        log_loss(self, loss, stage, len(x1))
        return {
            "loss": loss,
            "z1": z1.detach(),
            "z2": z2.detach(),
            "y": None if y is None else y.detach(),
        }

    @fill_doc
    def training_step(self, batch, batch_idx, dataloader_idx=0):
        """Loss of one batch of two views, logged as ``loss/train``.

        Parameters
        ----------
        batch : list or tuple
            ``[x1, x2]`` or ``([x1, x2], y)``.
        batch_idx : int
            Index of the batch; ignored.
        dataloader_idx : int, default=0
            Index of the loader; ignored.

        Returns
        -------
        outputs : dict
            ``"loss"``, the embeddings ``"z1"`` and ``"z2"`` (detached) and
            the labels ``"y"`` (or None).
        """
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        """Loss of one validation batch, logged as ``loss/val`` and ``val/loss``.

        Parameters
        ----------
        batch : list or tuple
            ``[x1, x2]`` or ``([x1, x2], y)``.
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
        """Encoder features of one batch, without the projection head.

        %(step_parameters)s

        Returns
        -------
        features : torch.Tensor, shape (batch_size, proj_input_dim)
        """
        return self._encoder_module()(self._batch_input(batch))

    def configure_optimizers(self):
        """The optimiser (and schedule) of the encoder and the projection head.

        Returns
        -------
        optimizers
            What
            :func:`~nidl.estimators.ssl.utils.optimizer.configure_ssl_optimizers`
            returns for the groups ``"backbone"`` and ``"head"``.
        """
        return estimator_optimizers(
            self, {"backbone": self._encoder_module(), "head": self.projection_head}
        )
