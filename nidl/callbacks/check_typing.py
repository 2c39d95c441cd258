"""A Lightning callback that checks batches against the steps' annotations."""

import collections.abc
import inspect
import types
import typing

from pytorch_lightning.callbacks import Callback

__all__ = ["BatchTypingCallback"]

#: The step method that receives the batches of each stage.
_STEP_METHODS = {
    "train": "training_step",
    "validation": "validation_step",
    "test": "test_step",
    "predict": "predict_step",
}


def _batch_annotation(method):
    """The annotation of the ``batch`` parameter of ``method``, if any."""
    try:
        hints = typing.get_type_hints(method)
    except (NameError, TypeError, AttributeError, SyntaxError):
        # Unresolvable string annotations: read them raw below.
        hints = {}
    if "batch" in hints:
        return hints["batch"]
    try:
        parameter = inspect.signature(method).parameters.get("batch")
    except (TypeError, ValueError):
        return inspect.Parameter.empty
    if parameter is None:
        return inspect.Parameter.empty
    return parameter.annotation


def _matches(value, annotation):
    """Whether ``value`` agrees with ``annotation`` (a practical subset of typing)."""
    if annotation is typing.Any or annotation is object:
        return True
    if annotation is None or annotation is type(None):
        return value is None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return any(_matches(value, arg) for arg in args)
    if origin is None:
        if isinstance(annotation, typing.TypeVar):
            return True
        if isinstance(annotation, type):
            return isinstance(value, annotation)
        return True  # an annotation this check does not understand
    if origin is typing.Literal:
        return value in args
    if not isinstance(origin, type) or not isinstance(value, origin):
        return False
    if not args:
        return True
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(item, args[0]) for item in value)
        if args == ((),):
            return len(value) == 0
        return len(value) == len(args) and all(
            _matches(item, arg) for item, arg in zip(value, args)
        )
    if issubclass(origin, collections.abc.Mapping):
        key_type, value_type = args if len(args) == 2 else (typing.Any, typing.Any)
        return all(
            _matches(key, key_type) and _matches(item, value_type)
            for key, item in value.items()
        )
    if issubclass(origin, collections.abc.Iterable) and len(args) == 1:
        return all(_matches(item, args[0]) for item in value)
    return True


class BatchTypingCallback(Callback):
    """Check every batch against the annotation of the step that receives it.

    At the start of each training, validation, test and predict batch, the
    batch is compared with the annotation of the ``batch`` parameter of
    ``training_step``, ``validation_step``, ``test_step`` or
    ``predict_step``. ``Any``, unions (``Optional``, ``X | Y``), classes,
    ``tuple`` (fixed length or ``tuple[X, ...]``), ``list``, ``dict`` and
    other parameterised collections are understood; annotations beyond
    these pass.

    Parameters
    ----------
    only_first_batch : bool, default=True
        Check only the first batch of each stage, in each fit, validation,
        test or predict run; else check every batch.

    Raises
    ------
    TypeError
        At a batch start, if the step has no annotation for ``batch`` or
        the batch does not agree with it.

    Examples
    --------
    >>> from nidl.callbacks.check_typing import BatchTypingCallback
    >>> callback = BatchTypingCallback(only_first_batch=False)
    >>> callback.only_first_batch
    False
    """

    def __init__(self, *, only_first_batch=True):
        self.only_first_batch = bool(only_first_batch)
        self._checked = set()

    def setup(self, trainer, pl_module, stage):
        """Forget which stages were checked, so a new run checks again."""
        self._checked = set()

    def check(self, pl_module, batch, stage):
        """Check ``batch`` against the annotation of the ``stage``'s step.

        Parameters
        ----------
        pl_module : pytorch_lightning.LightningModule
            The module whose step receives the batch.
        batch : object
            The batch.
        stage : {"train", "validation", "test", "predict"}
            The stage of the batch.

        Raises
        ------
        TypeError
            If the step has no annotation for ``batch`` or the batch does
            not agree with it.
        """
        name = _STEP_METHODS[stage]
        method = getattr(pl_module, name)
        annotation = _batch_annotation(method)
        if annotation is inspect.Parameter.empty:
            raise TypeError(
                f"{type(pl_module).__name__}.{name} has no type annotation for "
                "its batch parameter; BatchTypingCallback needs one."
            )
        if not _matches(batch, annotation):
            raise TypeError(
                f"The {stage} batch does not agree with the annotation "
                f"{annotation!r} of {type(pl_module).__name__}.{name}; got a "
                f"{type(batch).__name__}."
            )

    def _maybe_check(self, pl_module, batch, stage):
        if self.only_first_batch:
            if stage in self._checked:
                return
            self._checked.add(stage)
        self.check(pl_module, batch, stage)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        """Check a training batch."""
        self._maybe_check(pl_module, batch, "train")

    def on_validation_batch_start(
        self, trainer, pl_module, batch, batch_idx, dataloader_idx=0
    ):
        """Check a validation batch."""
        self._maybe_check(pl_module, batch, "validation")

    def on_test_batch_start(
        self, trainer, pl_module, batch, batch_idx, dataloader_idx=0
    ):
        """Check a test batch."""
        self._maybe_check(pl_module, batch, "test")

    def on_predict_batch_start(
        self, trainer, pl_module, batch, batch_idx, dataloader_idx=0
    ):
        """Check a predict batch."""
        self._maybe_check(pl_module, batch, "predict")
