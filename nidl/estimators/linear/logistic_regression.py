"""Multinomial logistic regression on the outputs of a torch model."""

import numbers

import numpy as np
import torch
from sklearn.utils import check_scalar

from ..._docstrings import fill_doc
from ..base import BaseEstimator, ClassifierMixin

__all__ = ["LogisticRegression"]


@fill_doc
class LogisticRegression(ClassifierMixin, BaseEstimator):
    """Classifier trained with the cross-entropy on the logits of a torch model.

    ``model`` maps a batch of inputs to ``num_classes`` logits per sample:
    a linear layer for a logistic regression on features, or an encoder
    ending in a linear layer ``model.fc`` for fine-tuning or, after
    :meth:`freeze_encoder`, linear evaluation of a pretrained encoder.
    Training minimises the cross-entropy with AdamW; when ``max_epochs`` is
    given, the learning rate is divided by 10 at 60 % and at 80 % of the
    epochs. Targets are class indices in ``0, ..., num_classes - 1``.

    ``fit`` accepts arrays and tensors with ``y``, or a Dataset or
    DataLoader of ``(x, y)`` items. Each epoch logs ``train_loss`` and
    ``train_acc`` (and ``val_loss``, ``val_acc`` with validation data)
    through Lightning's ``self.log``, as upstream nidl does, and the same
    values as ``train/loss``, ``train/acc``, ``val/loss`` and ``val/acc``,
    the names nidl's ``history_`` records.

    Unlike upstream nidl, whose ``predict`` returns the logits,
    :meth:`predict` returns class labels as scikit-learn's classifiers do;
    the logits are given by :meth:`decision_function` and the class
    probabilities by :meth:`predict_proba`.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch of inputs to logits of shape (batch_size, num_classes).
    num_classes : int
        Number of classes, at least 2.
    lr : float
        Learning rate of the AdamW optimiser.
    weight_decay : float
        Weight decay of the AdamW optimiser.
    %(random_state)s
    %(batch_size)s
    %(trainer_kwargs)s

    Attributes
    ----------
    classes_ : numpy.ndarray of shape (num_classes,)
        The class labels, ``0, ..., num_classes - 1``.
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

    def _check_params(self):
        super()._check_params()
        check_scalar(self.num_classes, "num_classes", numbers.Integral, min_val=2)
        check_scalar(
            self.lr, "lr", numbers.Real, min_val=0, include_boundaries="neither"
        )
        check_scalar(self.weight_decay, "weight_decay", numbers.Real, min_val=0)

    def _check_targets(self, X, y):
        y = super()._check_targets(X, y)
        if y is not None:
            self._check_labels(y)
        return y

    def _check_labels(self, y):
        """Refuse targets that are not class indices of ``num_classes`` classes."""
        if y.is_floating_point() and not bool((y == y.round()).all()):
            raise ValueError(
                "LogisticRegression needs integer class indices as y; got "
                "non-integer values."
            )
        if y.ndim != 1 or (
            len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes)
        ):
            raise ValueError(
                "y must hold one class index per sample, in 0, ..., "
                f"num_classes - 1 = {self.num_classes - 1}."
            )

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

    @property
    def classes_(self):
        """The class labels, ``0, ..., num_classes - 1`` (after ``fit``)."""
        return np.arange(self.num_classes)

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

    def training_step(self, batch, batch_idx):
        """Cross-entropy of one ``(x, y)`` batch; logs its loss and accuracy.

        Parameters
        ----------
        batch : tuple
            ``(x, y, ...)``: inputs and class indices.
        batch_idx : int
            Index of the batch; ignored.

        Returns
        -------
        loss : torch.Tensor
            The mean cross-entropy.
        """
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        """Log the cross-entropy and accuracy of one validation batch.

        Parameters
        ----------
        batch : tuple
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

    def _logits_step(self, batch, batch_idx, dataloader_idx=0):
        return self.model(self._batch_input(batch))

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        """Class labels of one batch, the argmax of the logits.

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
        return self._logits_step(batch, batch_idx).argmax(dim=1)

    def decision_function(self, X):
        """The logits of the model.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Data shaped like the training data.

        Returns
        -------
        logits : numpy.ndarray or torch.Tensor, shape (n_samples, num_classes)
            A NumPy array for array-like input, otherwise a CPU tensor.
        """
        return self._checked_predict(X, self._logits_step)

    def predict_proba(self, X):
        """Class probabilities, the softmax of the logits.

        Parameters
        ----------
        X : DataLoader, Dataset, torch.Tensor or array-like
            Data shaped like the training data.

        Returns
        -------
        proba : numpy.ndarray or torch.Tensor, shape (n_samples, num_classes)
            A NumPy array for array-like input, otherwise a CPU tensor.
        """
        return self._checked_predict(
            X, lambda batch, idx: self._logits_step(batch, idx).softmax(dim=1)
        )
