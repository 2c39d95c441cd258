"""The base class's supervised path: targets for regressors and classifiers."""

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nidl.estimators import BaseEstimator, RegressorMixin, TransformerMixin
from tests.conftest import QUIET


class LinearRegressor(RegressorMixin, BaseEstimator):
    def __init__(self, random_state=None, batch_size=16, **kwargs):
        super().__init__(**kwargs)
        self.random_state = random_state
        self.batch_size = batch_size

    def _build_modules(self, facts):
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
        model.fit(DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
                             batch_size=16))
    assert model.score(X, y) > 0.95
    assert model.predict(X).shape == (96,)


def test_regressor_requires_targets_with_arrays():
    with pytest.raises(ValueError, match="requires y"):
        LinearRegressor(**QUIET).fit(X)


def test_targets_must_match_the_samples():
    with pytest.raises(ValueError, match="X has 96 samples but y has 10"):
        LinearRegressor(**QUIET).fit(X, y[:10])


class StepIndexLogger(LinearRegressor):
    """Logs epoch means, with Lightning's self.log, of terms whose means are known."""

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.linear(x)[:, 0], y)
        terms = {"train/loss": loss, "train/batch_index": float(batch_idx),
                 "train/weight": 2.5}
        self.log_dict(terms, on_step=False, on_epoch=True, batch_size=len(x))
        return loss


def test_history_holds_the_epoch_means_weighted_by_batch_size():
    # 1,000 samples in batches of 7: 143 steps, a last batch of 6.
    X_many = rng.normal(size=(1000, 3)).astype(np.float32)
    model = StepIndexLogger(batch_size=7, **{**QUIET, "max_epochs": 2})
    model.fit(X_many, X_many[:, 0])
    sizes = np.array([7] * 142 + [6])
    expected = float(np.sum(np.arange(143) * sizes) / 1000)
    assert set(model.history_) == {"train/loss", "train/batch_index", "train/weight"}
    assert model.history_["train/batch_index"] == pytest.approx(
        [expected] * 2, rel=1e-6
    )
    assert model.history_["train/weight"] == pytest.approx([2.5, 2.5])
    # The loss falls from the first epoch to the second.
    assert model.history_["train/loss"][1] < model.history_["train/loss"][0]


@pytest.mark.parametrize(
    "mixin, kind, method",
    [
        ("TransformerMixin", "transformer", "transform"),
        ("RegressorMixin", "regressor", "predict"),
        ("ClassifierMixin", "classifier", "predict"),
        ("ClusterMixin", "clusterer", "predict"),
    ],
)
def test_mixins_name_their_kind_and_give_its_method(mixin, kind, method):
    # Code that dispatches on `_estimator_type` (older scikit-learn, older
    # nidl) reads the kind; a bare estimator has neither method.
    import nidl.estimators

    klass = getattr(nidl.estimators, mixin)
    assert klass._estimator_type == kind
    estimator = type("Estimator", (klass, BaseEstimator), {})()
    other = "predict" if method == "transform" else "transform"
    assert hasattr(estimator, "fit") and hasattr(estimator, method)
    assert not hasattr(estimator, other)
    bare = BaseEstimator()
    assert not hasattr(bare, "transform") and not hasattr(bare, "predict")


class MinimalEmbedding(TransformerMixin, BaseEstimator):
    """A subclass for a Trainer of the user's: no batch_size, `dim` not
    stored, and a transform_step that takes the inputs and the batch index."""

    def __init__(self, dim=2):
        super().__init__()
        self.linear = nn.Linear(dim, 2)

    def transform_step(self, x, batch_idx=None):
        return x

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self.linear(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_a_minimal_subclass_trains_with_a_user_trainer_and_embeds_with_targets():
    x = torch.randn(8, 2)
    y = torch.arange(8) % 2
    model = MinimalEmbedding()
    trainer = pl.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
    )
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=4))
    assert trainer.current_epoch == 1
    # transform_step gets the inputs alone, without a loader index.
    outputs = model.transform_step_with_targets((x, y), 0)
    assert torch.equal(outputs["features"], x)
    assert torch.equal(outputs["targets"], y)
