"""Tiny modules and a loss recorder for the tests of the VAE family."""

import torch
from pytorch_lightning.callbacks import Callback
from torch import nn

#: Trainer options that keep test fits short and silent.
QUIET = {"max_epochs": 2, "enable_progress_bar": False, "accelerator": "cpu"}


def mlp(n_features=8, code_dim=2, hidden=16, lazy_decoder=False):
    """An MLP encoder and decoder; a lazy decoder takes any code width."""
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU())
    first = nn.LazyLinear(hidden) if lazy_decoder else nn.Linear(code_dim, hidden)
    decoder = nn.Sequential(first, nn.ReLU(), nn.Linear(hidden, n_features))
    return encoder, decoder


class History(Callback):
    """The trainer's metrics after each training step and each epoch."""

    def __init__(self):
        self.steps = []
        self.epochs = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.steps.append({k: float(v) for k, v in trainer.callback_metrics.items()})

    def on_train_epoch_end(self, trainer, pl_module):
        self.epochs.append({k: float(v) for k, v in trainer.callback_metrics.items()})


def history(estimator):
    """The History callback a fitted estimator trained with."""
    return next(c for c in estimator.trainer.callbacks if isinstance(c, History))
