"""The base class's supervised path: targets for regressors and classifiers."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nidl.estimators import BaseEstimator, RegressorMixin
from tests.conftest import QUIET


class LinearRegressor(RegressorMixin, BaseEstimator):
    def __init__(self, random_state=None, batch_size=16, **kwargs):
        super().__init__(**kwargs)
        self.random_state = random_state
        self.batch_size = batch_size

    def _build_modules(self):
        self.linear = nn.Linear(self.n_features_in_, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.linear(x)[:, 0], y)

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        return self.linear(batch)[:, 0]

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.1)


rng = np.random.default_rng(0)
X = rng.normal(size=(96, 3)).astype(np.float32)
y = X @ np.array([1.0, -2.0, 0.5], dtype=np.float32)


@pytest.mark.parametrize("kind", ["arrays", "tensors", "dataloader"])
def test_regressor_learns_from_each_input_kind(kind):
    model = LinearRegressor(random_state=0, **{**QUIET, "max_epochs": 30})
    if kind == "arrays":
        model.fit(X, y)
    elif kind == "tensors":
        model.fit(torch.from_numpy(X), torch.from_numpy(y))
    else:
        model.fit(DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(y)), batch_size=16))
    assert model.score(X, y) > 0.95
    assert model.predict(X).shape == (96,)


def test_regressor_requires_targets_with_arrays():
    with pytest.raises(ValueError, match="requires y"):
        LinearRegressor(**QUIET).fit(X)


def test_targets_must_match_the_samples():
    with pytest.raises(ValueError, match="X has 96 samples but y has 10"):
        LinearRegressor(**QUIET).fit(X, y[:10])
