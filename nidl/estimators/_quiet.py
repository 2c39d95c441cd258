"""Lightning, quiet: its banners, tips and noise warnings silenced for nidl's fits."""

import logging
import warnings
from contextlib import contextmanager

from pytorch_lightning.utilities.warnings import PossibleUserWarning

# Lightning's advice on logging intervals is noise for nidl's epoch means;
# a fit without validation data skipping the validation loop is expected;
# the deprecation notice comes from Lightning's own internals. Its advice on
# loader workers is silenced for nidl's in-memory loaders only (see
# silence_lightning): a loader reading files needs it.
_QUIET_WARNINGS = (
    r".*smaller than the logging interval.*",
    r".*but have no `val_dataloader`.*",
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
)
_LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric")


def silence_lightning(in_memory_loaders=()):
    """Raise Lightning's log level to warnings; ignore its noise warnings.

    Parameters
    ----------
    in_memory_loaders : tuple of str, default=()
        Names of the Trainer's loaders ("train_dataloader",
        "val_dataloader") that nidl slices from tensors in memory, for which
        the advice to use loader workers is silenced too.
    """
    for name in _LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in _QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    for name in in_memory_loaders:
        warnings.filterwarnings(
            "ignore",
            message=f"The '{name}' does not have many workers",
            category=PossibleUserWarning,
        )


@contextmanager
def quiet_lightning(in_memory_loaders=()):
    """Silence Lightning's banners and tips inside the block only.

    ``in_memory_loaders`` as for :func:`silence_lightning`.
    """
    loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    try:
        with warnings.catch_warnings():
            silence_lightning(in_memory_loaders)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
