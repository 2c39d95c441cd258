"""What the probing callbacks' tests share: an embedding to train, a
recorder of the logged metrics, and two separable classes."""

import numpy as np
import torch
from pytorch_lightning.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nidl.estimators import BaseEstimator, TransformerMixin


class IdentityEmbedding(TransformerMixin, BaseEstimator):
    """A linear embedding that starts as the identity and barely moves."""

    def __init__(self, random_state=None, batch_size=16, **kwargs):
        super().__init__(**kwargs)
        self.random_state, self.batch_size = random_state, batch_size

    def _n_outputs(self):
        return self.linear.out_features

    def _build_modules(self, facts):
        self.linear = nn.Linear(self.n_features_in_, self.n_features_in_)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(self.n_features_in_))
            self.linear.bias.zero_()

    @staticmethod
    def _inputs(batch):
        return batch[0] if isinstance(batch, (tuple, list)) else batch

    def training_step(self, batch, batch_idx):
        x = self._inputs(batch)
        return nn.functional.mse_loss(self.linear(x), x)

    def validation_step(self, batch, batch_idx):
        x = self._inputs(batch)
        return nn.functional.mse_loss(self.linear(x), x)

    def transform_step(self, batch, batch_idx, dataloader_idx=0):
        return self.linear(self._inputs(batch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1e-3)


class Recorder(Callback):
    """Keeps the callback metrics at the end of training."""

    def __init__(self):
        self.metrics = {}

    def on_train_end(self, trainer, pl_module):
        self.metrics = {
            name: float(value) for name, value in trainer.callback_metrics.items()
        }


def separable(n=40, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(scale=0.3, size=(n, 2)).astype(np.float32)
    X[:, 0] += np.where(y == 1, 2.0, -2.0)
    return X, y


def loader(seed=0, n=40):
    X, y = separable(n, seed)
    return DataLoader(
        TensorDataset(torch.from_numpy(X), torch.from_numpy(y)), batch_size=8
    )


def fit(callback, max_epochs=2, val=False):
    X, _ = separable(seed=3)
    model = IdentityEmbedding(
        random_state=0, max_epochs=max_epochs, enable_progress_bar=False,
        callbacks=[callback, Recorder()],
    )
    model.fit(X, val_dataloader=X if val else None)
    return model.callbacks_
