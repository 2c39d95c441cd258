"""Tests of ModelProbingCVCallback."""

from types import SimpleNamespace

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from nidl.callbacks.model_probing_cv import ModelProbingCVCallback
from nidl.estimators.dummy import DummyEmbeddingEstimator
from tests.callbacks.probing import (
    IdentityEmbedding,
    fit,
    loader,
    separable,
)


class CountingCV(ModelProbingCVCallback):
    """Records the epoch of each probing."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def probing(self, trainer, pl_module):
        self.calls.append(trainer.current_epoch if trainer else None)
        return super().probing(trainer, pl_module) if trainer else None


def test_three_folds_are_logged():
    callback = ModelProbingCVCallback(loader(0, n=60), LogisticRegression(), cv=3)
    _, recorder = fit(callback)
    for fold in range(3):
        assert recorder.metrics[f"fold{fold}/test_score"] >= 0.9
        assert f"fold{fold}/fit_time" in recorder.metrics
        assert f"fold{fold}/score_time" in recorder.metrics
    assert "fold3/test_score" not in recorder.metrics


def test_prefix_and_several_metrics():
    callback = ModelProbingCVCallback(
        loader(0, n=60), LogisticRegression(), cv=3,
        scoring={"acc": "accuracy", "f1": "f1"}, prefix_score="lin_",
    )
    _, recorder = fit(callback, max_epochs=1)
    for fold in range(3):
        assert recorder.metrics[f"fold{fold}/lin_test_acc"] >= 0.8
        assert recorder.metrics[f"fold{fold}/lin_test_f1"] >= 0.8


def test_every_n_train_epochs_includes_the_first():
    callback = CountingCV(
        loader(0), LogisticRegression(), cv=3, every_n_train_epochs=2
    )
    probe, _ = fit(callback, max_epochs=2)
    assert probe.calls == [0]


def test_every_n_val_epochs_skips_the_sanity_check():
    callback = CountingCV(
        loader(0), LogisticRegression(), cv=3, every_n_train_epochs=None,
        every_n_val_epochs=2,
    )
    probe, _ = fit(callback, max_epochs=2, val=True)
    assert probe.calls == [0]
    assert probe.counter_val_epochs == 2


def test_validation_counter_with_a_stand_in_trainer_and_in_checkpoints():
    # A stand-in trainer without `sanity_checking` counts every validation;
    # the counter is saved, and read back from checkpoints of either key.
    callback = ModelProbingCVCallback(
        loader(0), LogisticRegression(), every_n_val_epochs=2
    )
    trainer, calls = SimpleNamespace(is_global_zero=True), []
    callback.probing = lambda trainer, pl_module: calls.append(trainer)
    callback.on_validation_epoch_end(trainer, None)
    callback.on_validation_epoch_end(trainer, None)
    assert calls == [trainer] and callback.counter_val_epochs == 2
    assert callback.state_dict() == {"counter_val_epochs": 2}
    callback.load_state_dict({"val_epoch_counter": 5})
    assert callback.counter_val_epochs == 5


def test_test_flags_gate_the_hooks():
    callback = CountingCV(loader(0), LogisticRegression(), on_test_epoch_start=True)
    callback.on_test_epoch_end(None, None)
    assert callback.calls == []
    callback.on_test_epoch_start(None, None)
    assert callback.calls == [None]


def test_cross_validate_forwards_its_options(monkeypatch):
    seen = {}

    def fake(*args, **kwargs):
        seen["args"], seen["kwargs"] = args, kwargs
        return {"test_score": np.array([1.0])}

    monkeypatch.setattr("nidl.callbacks.model_probing_cv.cross_validate", fake)
    probe = LogisticRegression()
    callback = ModelProbingCVCallback(
        loader(0), probe, scoring="accuracy", cv=4, n_jobs=2
    )
    X, y = np.zeros((10, 2)), np.zeros(10)
    callback.cross_validate(X, y)
    assert seen["args"] == (probe, X, y)
    assert seen["kwargs"] == {
        "scoring": "accuracy", "cv": 4, "n_jobs": 2, "return_train_score": False,
        "return_estimator": False, "return_indices": False,
    }


def test_check_array_keeps_shapes():
    callback = ModelProbingCVCallback(loader(0), LogisticRegression())
    X, y = callback.check_array(torch.zeros(10, 2), torch.zeros(10))
    assert X.shape == (10, 2) and y.shape == (10,)
    with pytest.raises(ValueError, match="targets"):
        callback.check_array(np.zeros((10, 2)), np.zeros(9))


def test_extract_features_returns_the_inputs_in_order():
    callback = ModelProbingCVCallback(loader(0), LogisticRegression())
    dummy = DummyEmbeddingEstimator(strategy="identity")
    features, targets = callback.extract_features(None, dummy, loader(0))
    X, y = separable(seed=0)
    np.testing.assert_allclose(features.numpy(), X)
    np.testing.assert_array_equal(targets.numpy(), y)


def test_probing_needs_a_nidl_transformer():
    callback = ModelProbingCVCallback(loader(0), LogisticRegression())
    with pytest.raises(ValueError, match="nidl transformer"):
        callback.probing(None, object())


def test_adapt_dataloader_for_ddp():
    data = DataLoader(TensorDataset(torch.arange(10.0)), batch_size=3, num_workers=0)
    one = SimpleNamespace(world_size=1, global_rank=0)
    assert ModelProbingCVCallback.adapt_dataloader_for_ddp(data, one) is data
    two = SimpleNamespace(world_size=2, global_rank=1)
    adapted = ModelProbingCVCallback.adapt_dataloader_for_ddp(data, two)
    assert isinstance(adapted.sampler, DistributedSampler)
    assert adapted.sampler.num_replicas == 2 and adapted.sampler.rank == 1
    assert adapted.batch_size == 3 and adapted.dataset is data.dataset
    assert [float(x) for (batch,) in adapted for x in batch] == [1, 3, 5, 7, 9]


class EmbeddingWithTestStep(IdentityEmbedding):
    """The identity embedding, with a test step."""

    def test_step(self, batch, batch_idx):
        x = self._inputs(batch)
        return nn.functional.mse_loss(self.linear(x), x)


def test_probing_at_test_end_with_a_prefix():
    import pytorch_lightning as pl

    X, _ = separable(seed=3)
    model = EmbeddingWithTestStep(max_epochs=1, enable_progress_bar=False).fit(X)
    callback = ModelProbingCVCallback(
        loader(0, n=60), LogisticRegression(), cv=4, every_n_train_epochs=None,
        on_test_epoch_end=True, prefix_score="logreg_",
    )
    trainer = pl.Trainer(
        logger=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[callback],
    )
    (results,) = trainer.test(model, loader(2), verbose=False)
    for fold in range(4):
        assert results[f"fold{fold}/logreg_test_score"] >= 0.9
    assert "fold4/logreg_test_score" not in results


def test_the_transformer_check_reads_the_names_of_its_module(monkeypatch):
    # Upstream nidl's tests patch the check's names in model_probing_cv.
    import nidl.callbacks.model_probing_cv as module

    class NotNidl(pl.LightningModule):
        pass

    callback = ModelProbingCVCallback(
        DataLoader(TensorDataset(torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]))),
        LogisticRegression(), cv=2,
    )
    monkeypatch.setattr(module, "BaseEstimator", pl.LightningModule)
    with pytest.raises(ValueError, match="nidl transformer"):
        callback.probing(None, object())
    monkeypatch.setattr(module, "_estimator_is", lambda estimator, kind: False)
    with pytest.raises(ValueError, match="got NotNidl"):
        callback.probing(None, NotNidl())
