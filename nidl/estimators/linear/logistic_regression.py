"""Multinomial logistic regression on the outputs of a torch model."""

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_array, check_scalar
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import column_or_1d

from ..._docstrings import fill_doc
from ...utils import returns_numpy
from ...utils._data import is_dataset, is_loader
from ..base import BaseEstimator, ClassifierMixin

__all__ = ["LogisticRegression"]


def _logit_columns(classes, n_logits):
    """The logit (column of the model's output) of each class of ``classes``.

    Class indices (integers in ``0, ..., n_logits - 1``) keep their own
    logit, class ``k`` logit ``k``; other labels (strings, negative or
    larger integers, ...) take the logits in the order of ``classes``.
    """
    numeric = classes.dtype.kind in "iuf"
    if (
        numeric
        and len(classes)
        and bool(np.all(classes == np.round(classes)))
        and classes.min() >= 0
        and classes.max() < n_logits
    ):
        return classes.astype(np.int64)
    return np.arange(len(classes))


def _portable_classes(fitted):
    """``fitted`` with ``classes_`` as plain Python values and its dtype's name.

    What a fit records travels in checkpoints and, under a spawning
    strategy, back from the training processes; both load with
    ``torch.load(weights_only=True)``, which refuses pickled NumPy arrays.
    """
    classes = fitted.get("classes_")
    if not isinstance(classes, np.ndarray):
        return fitted
    portable = {"labels": classes.tolist(), "dtype": classes.dtype.str}
    return {**fitted, "classes_": portable}


def _array_classes(fitted):
    """``fitted`` with ``classes_`` as the array that :func:`_portable_classes` took."""
    classes = fitted.get("classes_")
    if not isinstance(classes, dict):
        return fitted
    return {**fitted, "classes_": np.asarray(classes["labels"], dtype=classes["dtype"])}


@fill_doc
class LogisticRegression(ClassifierMixin, BaseEstimator):
    """Classifier trained with the cross-entropy on the logits of a torch model.

    ``model`` maps a batch of inputs to ``num_classes`` logits per sample:
    a linear layer for a logistic regression on features, or an encoder
    ending in a linear layer ``model.fc`` for fine-tuning or, after
    :meth:`freeze_encoder`, linear evaluation of a pretrained encoder.
    Training minimises the cross-entropy with AdamW; when ``max_epochs`` is
    given, the learning rate is divided by 10 at 60 % and at 80 % of the
    epochs.

    ``fit`` accepts arrays and tensors with ``y``, or a Dataset or
    DataLoader of ``(x, y)`` items. Each epoch logs ``train_loss`` and
    ``train_acc`` (and ``val_loss``, ``val_acc`` with validation data)
    through Lightning's ``self.log``, as upstream nidl does, and the same
    values as ``train/loss``, ``train/acc``, ``val/loss`` and ``val/acc``,
    the names nidl's ``history_`` records.

    **Labels.** Targets are class indices, ``0, ..., num_classes - 1``:
    class ``k`` is logit ``k`` of the model. With arrays and tensors, ``y``
    may also hold any other labels (strings, ``-1`` and ``1``, ...), as
    scikit-learn's classifiers accept them: ``fit`` then learns a label
    encoding, and the sorted labels take the logits in order (at most
    ``num_classes`` of them). ``classes_`` holds the classes seen in ``y``
    (class indices keep their logit when some are missing from ``y``);
    :meth:`predict` returns them, and the columns of :meth:`predict_proba`
    and :meth:`decision_function` follow them. A Dataset or DataLoader,
    whose targets training reads batch by batch, must give class indices,
    and ``classes_`` is then ``0, ..., num_classes - 1``.

    Unlike upstream nidl, whose ``predict`` returns the logits,
    :meth:`predict` returns class labels as scikit-learn's classifiers do.
    The logits are given by :meth:`decision_function`, except for a
    two-class problem, where it gives scikit-learn's one score per sample
    (the logit of ``classes_[1]`` minus that of ``classes_[0]``), which
    scorers such as ``"roc_auc"`` read; ``clf.model`` gives every logit.
    The class probabilities are given by :meth:`predict_proba`.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch of inputs to logits of shape (batch_size, num_classes).
    num_classes : int
        Number of classes (logits of the model), at least 2.
    lr : float
        Learning rate of the AdamW optimiser.
    weight_decay : float
        Weight decay of the AdamW optimiser.
    %(random_state)s
    %(batch_size)s
    %(trainer_kwargs)s

    Attributes
    ----------
    classes_ : numpy.ndarray of shape (n_classes,)
        The sorted class labels seen in ``y``; ``0, ..., num_classes - 1``
        after a fit on a Dataset or DataLoader.
    n_features_in_ : int
        Size of the second axis of the training data.
    sample_shape_ : tuple of int
        Shape of one training sample.
    n_epochs_ : int
        Number of epochs trained.
    n_steps_ : int
        Number of optimiser steps taken.
    history_ : dict of str to list of float
        Epoch means of the logged values: ``"train/loss"``, ``"train/acc"``,
        one value per epoch, and ``"val/loss"``, ``"val/acc"`` per epoch
        validated.

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> from nidl.estimators.linear import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 2)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(np.int64)
    >>> clf = LogisticRegression(nn.Linear(2, 2), num_classes=2, lr=0.1,
    ...                          weight_decay=0.0, random_state=0, batch_size=8,
    ...                          max_epochs=10, enable_progress_bar=False).fit(X, y)
    >>> clf.predict(X).shape, clf.predict_proba(X).shape
    ((60,), (60, 2))
    >>> bool(clf.score(X, y) > 0.9)
    True

    Labels other than class indices are encoded:

    >>> names = np.where(y == 1, "patient", "control")
    >>> clf = clf.fit(X, names)
    >>> clf.classes_.tolist(), bool((clf.predict(X) == names).mean() > 0.9)
    (['control', 'patient'], True)
    """

    _user_modules = ("model",)

    def __init__(
        self, model, num_classes, lr, weight_decay, random_state=None,
        batch_size=128, **kwargs,
    ):
        super().__init__(**kwargs)
        self.model = model
        self.num_classes = num_classes
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state
        self.batch_size = batch_size
        self._frozen = False
        # The classes of the fit in progress, for _check_data to record.
        self._classes_of_fit = None

    def _check_params(self):
        super()._check_params()
        check_scalar(self.num_classes, "num_classes", numbers.Integral, min_val=2)
        check_scalar(
            self.lr, "lr", numbers.Real, min_val=0, include_boundaries="neither"
        )
        check_scalar(self.weight_decay, "weight_decay", numbers.Real, min_val=0)

    def fit(self, X, y=None, val_dataloader=None, ckpt_path=None):
        """Train the classifier.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Training data, of shape (n_samples, ...) for arrays and tensors;
            a Dataset or DataLoader gives ``(x, y, ...)`` items whose ``y``
            are class indices.
        y : array-like or torch.Tensor of shape (n_samples,), default=None
            Class labels of array or tensor ``X``: class indices in
            ``0, ..., num_classes - 1`` or any other labels (see the class
            description). A DataLoader or Dataset given here is taken as
            validation data, so that ``fit(train_dataloader,
            val_dataloader)`` works.
        val_dataloader : DataLoader, Dataset, torch.Tensor or array-like, default=None
            Validation data of ``(x, y)`` items, evaluated at the end of each
            epoch.
        ckpt_path : str, default=None
            Checkpoint of an interrupted fit to resume from.

        Returns
        -------
        self : LogisticRegression
            The fitted classifier.
        """
        y, val_dataloader = self._validation_in_place_of_y(y, val_dataloader)
        self._check_params()
        targets, self._classes_of_fit = self._encoded_targets(X, y)
        try:
            return self._fit(X, targets, val_dataloader, ckpt_path)
        finally:
            self._classes_of_fit = None

    def _encoded_targets(self, X, y):
        """Logit indices of the labels ``y`` of array or tensor ``X``, and the classes.

        ``(None, None)`` for a Dataset or DataLoader, which carries class
        indices in its batches.
        """
        if is_loader(X) or is_dataset(X):
            return None, None
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None; pass fit(X, y), or batches of (x, y) in a Dataset or "
                "DataLoader."
            )
        # Refuses sparse input, which the model cannot take, and tells the
        # number of samples of any array-like.
        n_samples = len(X) if isinstance(X, torch.Tensor) else check_array(
            X, accept_sparse=False, dtype=None, ensure_all_finite=False,
            ensure_2d=False, allow_nd=True, input_name="X",
        ).shape[0]
        if isinstance(y, torch.Tensor):
            y = y.detach().cpu().numpy()
        # A column vector is raveled with scikit-learn's DataConversionWarning.
        y = column_or_1d(y, warn=True)
        if len(y) != n_samples:
            raise ValueError(
                f"X has {n_samples} samples but y has {len(y)}; pass one target "
                "per sample."
            )
        kind = type_of_target(y, input_name="y")
        if kind not in ("binary", "multiclass"):
            raise ValueError(
                f"Unknown label type: {kind!r}. {type(self).__name__} is a "
                "classifier: y must hold class labels, such as integer class "
                "indices or strings, one per sample; for a continuous target, "
                "use a regressor."
            )
        encoder = LabelEncoder().fit(y)
        classes = encoder.classes_
        if len(classes) > self.num_classes:
            raise ValueError(
                f"y holds {len(classes)} classes but num_classes={self.num_classes}; "
                f"set num_classes={len(classes)}."
            )
        columns = _logit_columns(classes, self.num_classes)
        targets = columns[encoder.transform(y)]
        return torch.from_numpy(np.ascontiguousarray(targets)), classes

    def _check_data(self, X, val_dataloader, facts):
        # Within the fit, which a failure undoes; a Dataset or DataLoader
        # (and a user's own Trainer) carries class indices.
        classes = self._classes_of_fit
        self.classes_ = np.arange(self.num_classes) if classes is None else classes

    def _check_modules(self, x):
        with torch.no_grad():
            logits = self.model(x)
        if logits.shape != (len(x), self.num_classes):
            raise ValueError(
                f"model must return logits of shape (batch_size, num_classes) = "
                f"({len(x)}, {self.num_classes}); got {tuple(logits.shape)}."
            )

    def __sklearn_is_fitted__(self):
        return hasattr(self, "n_steps_")

    # ------------------------------------------------------------------
    # classes_ in checkpoints and spawned processes, without NumPy pickles
    # ------------------------------------------------------------------
    def get_extra_state(self):
        """The fitted attributes of the last fit, ``classes_`` as plain values.

        Returns
        -------
        state : dict
            ``{"training_record": ...}``, loadable with ``weights_only=True``.
        """
        state = super().get_extra_state()
        record = state.get("training_record")
        if record is None:
            return state
        return {**state, "training_record": _portable_classes(record)}

    def set_extra_state(self, state):
        """Restore what :meth:`get_extra_state` returned.

        Parameters
        ----------
        state : dict
            The extra state of the module's state dict.
        """
        record = state.get("training_record") if isinstance(state, dict) else None
        if record is not None:
            state = {**state, "training_record": _array_classes(record)}
        super().set_extra_state(state)

    def on_save_checkpoint(self, checkpoint):
        """Store the fitted attributes in the checkpoint, ``classes_`` as plain values.

        Parameters
        ----------
        checkpoint : dict
            The checkpoint Lightning writes.
        """
        super().on_save_checkpoint(checkpoint)
        saved = checkpoint["nidl"]
        saved["fitted"] = _portable_classes(saved["fitted"])

    def on_load_checkpoint(self, checkpoint):
        """Restore the fitted attributes of a checkpoint, ``classes_`` as an array.

        Parameters
        ----------
        checkpoint : dict
            The checkpoint Lightning read.
        """
        saved = checkpoint.get("nidl")
        if isinstance(saved, dict) and isinstance(saved.get("fitted"), dict):
            fitted = _array_classes(saved["fitted"])
            checkpoint["nidl"] = {**saved, "fitted": fitted}
        super().on_load_checkpoint(checkpoint)

    def freeze_encoder(self):
        """Train only ``model.fc``: freeze every other parameter of ``model``.

        For linear evaluation of a pretrained encoder. Call it before
        ``fit``; every later fit keeps the freeze.

        Returns
        -------
        self : LogisticRegression
            This estimator.

        Examples
        --------
        >>> from torch import nn
        >>> from nidl.estimators.linear import LogisticRegression
        >>> model = nn.Sequential()
        >>> model.add_module("encoder", nn.Linear(4, 3))
        >>> model.add_module("fc", nn.Linear(3, 2))
        >>> clf = LogisticRegression(model, 2, lr=0.1, weight_decay=0.0)
        >>> [p.requires_grad for p in clf.freeze_encoder().model.parameters()]
        [False, False, True, True]
        """
        fc = getattr(self.model, "fc", None)
        if not isinstance(fc, torch.nn.Module):
            raise TypeError(
                "freeze_encoder trains only model.fc, but the model has no fc "
                "module; name its last layer fc."
            )
        self._frozen = True
        self._apply_freeze()
        return self

    def _apply_freeze(self):
        if not self._frozen:
            return
        trainable = {id(p) for p in self.model.fc.parameters()}
        for parameter in self.model.parameters():
            parameter.requires_grad_(id(parameter) in trainable)

    def on_fit_start(self):
        # A fit restores the model's initial state; the freeze stays.
        super().on_fit_start()
        self._apply_freeze()

    def _step(self, batch, stage):
        x, y = batch[0], batch[1]
        logits = self.model(x)
        y = y.long()
        loss = torch.nn.functional.cross_entropy(logits, y)
        accuracy = (logits.argmax(dim=1) == y).float().mean()
        # Upstream's names, and nidl's epoch means, which history_ records.
        for name, value in (("loss", loss), ("acc", accuracy)):
            self.log(f"{stage}_{name}", value, on_epoch=True, batch_size=len(y))
            self.log(f"{stage}/{name}", value, on_step=False, on_epoch=True,
                     batch_size=len(y))
        return loss

    def training_step(self, batch: Sequence[torch.Tensor], batch_idx):
        """Cross-entropy of one ``(x, y)`` batch; logs its loss and accuracy.

        Parameters
        ----------
        batch : tuple or list of torch.Tensor
            ``(x, y, ...)``: inputs and class indices (logit indices of the
            encoded labels, for a fit on arrays).
        batch_idx : int
            Index of the batch; ignored.

        Returns
        -------
        loss : torch.Tensor
            The mean cross-entropy.
        """
        return self._step(batch, "train")

    def validation_step(self, batch: Sequence[torch.Tensor], batch_idx):
        """Log the cross-entropy and accuracy of one validation batch.

        Parameters
        ----------
        batch : tuple or list of torch.Tensor
            ``(x, y, ...)``: inputs and class indices.
        batch_idx : int
            Index of the batch; ignored.

        Returns
        -------
        loss : torch.Tensor
            The mean cross-entropy.
        """
        return self._step(batch, "val")

    def configure_optimizers(self):
        """AdamW on the trainable parameters, and a step decay with ``max_epochs``.

        Returns
        -------
        optimizers : torch.optim.Optimizer or dict
            The optimiser, with a ``MultiStepLR`` scheduler (milestones at
            60 % and 80 % of ``max_epochs``, factor 0.1) when ``max_epochs``
            is given.
        """
        parameters = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            parameters, lr=self.lr, weight_decay=self.weight_decay
        )
        max_epochs = self._trainer_kwargs.get("max_epochs")
        if not max_epochs or max_epochs < 0:
            return optimizer
        scheduler = torch.optim.lr_scheduler.MultiStepLR(
            optimizer,
            milestones=[int(0.6 * max_epochs), int(0.8 * max_epochs)],
            gamma=0.1,
        )
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    # ------------------------------------------------------------------
    # Outputs: one column per class of classes_
    # ------------------------------------------------------------------
    def _columns(self, n_logits, device):
        """The logit of each class of ``classes_``, or None for every logit.

        Every logit before ``fit`` (for a Trainer's ``predict`` on a model
        trained elsewhere), and where the classes are all the logits.
        """
        classes = getattr(self, "classes_", None)
        if classes is None:
            return None
        columns = _logit_columns(classes, n_logits)
        if np.array_equal(columns, np.arange(n_logits)):
            return None
        return torch.as_tensor(columns, device=device)

    def _class_logits(self, batch, batch_idx=0, dataloader_idx=0):
        """The logits of the classes of ``classes_``, one column per class."""
        logits = self.model(self._batch_input(batch))
        columns = self._columns(logits.shape[1], logits.device)
        return logits if columns is None else logits[:, columns]

    def _decision_step(self, batch, batch_idx, dataloader_idx=0):
        logits = self._class_logits(batch)
        if logits.shape[1] == 2:
            # scikit-learn's binary convention: the log-odds of classes_[1].
            return logits[:, 1] - logits[:, 0]
        return logits

    def _positions_step(self, batch, batch_idx, dataloader_idx=0):
        return self._class_logits(batch).argmax(dim=1)

    def predict_step(
        self,
        batch: torch.Tensor | Sequence[torch.Tensor] | Mapping[str, Any],
        batch_idx,
        dataloader_idx=0,
    ):
        """Predicted class indices of one batch, for Lightning's ``Trainer.predict``.

        The argmax of the logits of the classes of ``classes_``, given as
        the index of its logit: the class index itself when the targets are
        class indices (the labels ``predict`` returns), else the position of
        the label in ``classes_``.

        Parameters
        ----------
        batch : torch.Tensor, tuple or dict
            Input batch (``x`` of ``(x, y, ...)`` is used).
        batch_idx : int
            Index of the batch; ignored.
        dataloader_idx : int, default=0
            Index of the loader; ignored.

        Returns
        -------
        y_pred : torch.Tensor, shape (batch_size,)
        """
        logits = self.model(self._batch_input(batch))
        columns = self._columns(logits.shape[1], logits.device)
        if columns is None:
            return logits.argmax(dim=1)
        return columns[logits[:, columns].argmax(dim=1)]

    def predict(self, X):
        """Class labels, the classes of ``classes_`` with the largest logits.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Data shaped like the training data.

        Returns
        -------
        y_pred : numpy.ndarray or torch.Tensor, shape (n_samples,)
            Labels of ``classes_``: a NumPy array for array-like input or for
            labels that are not numbers, otherwise a CPU tensor.
        """
        positions = self._checked_predict(X, self._positions_step)
        labels = self.classes_[np.asarray(positions)]
        if returns_numpy(X) or labels.dtype.kind not in "biuf":
            return labels
        return torch.from_numpy(labels)

    def decision_function(self, X):
        """The logits of the classes, or the log-odds for two classes.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Data shaped like the training data.

        Returns
        -------
        scores : numpy.ndarray or torch.Tensor
            Of shape (n_samples, n_classes), the logit of each class of
            ``classes_``; of shape (n_samples,) for two classes,
            scikit-learn's one score per sample, the logit of
            ``classes_[1]`` minus that of ``classes_[0]`` (positive where
            ``classes_[1]`` is predicted). A NumPy array for array-like
            input, otherwise a CPU tensor.
        """
        return self._checked_predict(X, self._decision_step)

    def predict_proba(self, X):
        """Class probabilities, the softmax of the logits of the classes.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Data shaped like the training data.

        Returns
        -------
        proba : numpy.ndarray or torch.Tensor, shape (n_samples, n_classes)
            One column per class of ``classes_``. A NumPy array for
            array-like input, otherwise a CPU tensor.
        """
        return self._checked_predict(
            X, lambda batch, idx: self._class_logits(batch).softmax(dim=1)
        )
