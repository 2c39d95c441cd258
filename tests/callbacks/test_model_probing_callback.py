"""Tests of ModelProbingCallback."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from torch import nn

from nidl.callbacks.model_probing import ModelProbingCallback
from nidl.estimators.dummy import DummyEmbeddingEstimator
from nidl.estimators.linear import LogisticRegression as NidlLogisticRegression
from tests.callbacks.probing import (
    IdentityEmbedding,
    fit,
    loader,
    separable,
)


class CountingProbe(ModelProbingCallback):
    """Records the epoch of each probing, and whether it was a sanity check."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []
        self.validations = []

    def on_validation_epoch_end(self, trainer, pl_module):
        self.validations.append(trainer.sanity_checking)
        super().on_validation_epoch_end(trainer, pl_module)

    def probing(self, trainer, pl_module):
        self.calls.append(
            (trainer.current_epoch, trainer.sanity_checking) if trainer else None
        )
        return super().probing(trainer, pl_module) if trainer else None


def test_train_epoch_probing_logs_a_high_score():
    callback = ModelProbingCallback(LogisticRegression(), loader(0), loader(1))
    _, recorder = fit(callback)
    assert recorder.metrics["test_score"] >= 0.95


def test_prefix_and_dict_scoring_names():
    scoring = {
        "accuracy": lambda estimator, X, y: 0.7,
        "f1": lambda estimator, X, y: 0.5,
    }
    callback = ModelProbingCallback(
        LogisticRegression(), loader(0), loader(1), scoring=scoring,
        prefix_score="custom_",
    )
    _, recorder = fit(callback)
    assert recorder.metrics["custom_test_accuracy"] == pytest.approx(0.7)
    assert recorder.metrics["custom_test_f1"] == pytest.approx(0.5)
    assert "custom_test_score" not in recorder.metrics


def test_every_n_train_epochs_includes_the_first():
    callback = CountingProbe(
        LogisticRegression(), loader(0), loader(1), every_n_train_epochs=2
    )
    probe, recorder = fit(callback, max_epochs=2)
    assert probe.calls == [(0, False)]
    assert "test_score" in recorder.metrics


def test_sanity_check_neither_probes_nor_counts():
    callback = CountingProbe(
        LogisticRegression(), loader(0), loader(1), every_n_train_epochs=None,
        every_n_val_epochs=2,
    )
    probe, _ = fit(callback, max_epochs=3, val=True)
    assert probe.validations == [True, False, False, False]
    assert probe.calls == [(0, False), (2, False)]
    assert probe.counter_val_epochs == 3


def test_on_train_start_probes_before_training():
    callback = CountingProbe(
        LogisticRegression(), loader(0), loader(1), every_n_train_epochs=None,
        on_train_start=True,
    )
    probe, recorder = fit(callback, max_epochs=1)
    assert probe.calls == [(0, False)]
    assert recorder.metrics["test_score"] >= 0.95


def test_test_flags_gate_the_hooks():
    callback = CountingProbe(
        LogisticRegression(), loader(0), loader(1), on_test_epoch_end=True
    )
    callback.on_test_epoch_start(None, None)
    assert callback.calls == []
    callback.on_test_epoch_end(None, None)
    assert callback.calls == [None]


def test_probing_the_dummy_identity_embedding():
    callback = ModelProbingCallback(LogisticRegression(), loader(0), loader(1))
    dummy = DummyEmbeddingEstimator(strategy="identity")
    features, targets = callback.extract_features(None, dummy, loader(0))
    X, y = separable(seed=0)
    np.testing.assert_allclose(features.numpy(), X)
    np.testing.assert_array_equal(targets.numpy(), y)
    X_train, y_train = callback.check_array(features, targets)
    X_test, y_test = callback.check_array(
        *callback.extract_features(None, dummy, loader(1))
    )
    assert callback.fit_and_score(X_train, y_train, X_test, y_test) >= 0.95


def test_embedding_restores_the_training_modes():
    dummy = DummyEmbeddingEstimator(strategy="identity")
    dummy.train()
    callback = ModelProbingCallback(LogisticRegression(), loader(0), loader(1))
    callback.extract_features(None, dummy, loader(0))
    assert dummy.training


@pytest.mark.parametrize(
    "module",
    [object(), NidlLogisticRegression(nn.Linear(2, 2), num_classes=2, lr=0.1,
                                      weight_decay=0.0)],
)
def test_probing_needs_a_nidl_transformer(module):
    callback = ModelProbingCallback(LogisticRegression(), loader(0), loader(1))
    with pytest.raises(ValueError, match="nidl transformer"):
        callback.probing(None, module)


def test_missing_loader_and_bad_parameters():
    callback = ModelProbingCallback(LogisticRegression(), train_dataloader=loader(0))
    with pytest.raises(ValueError, match="test_dataloader"):
        callback.probing(None, DummyEmbeddingEstimator(strategy="identity"))
    with pytest.raises(ValueError, match="every_n_train_epochs"):
        ModelProbingCallback(LogisticRegression(), every_n_train_epochs=0)
    with pytest.raises(TypeError, match="probe"):
        ModelProbingCallback(object())


def test_datamodule_gives_the_missing_loaders():
    import pytorch_lightning as pl

    class Data(pl.LightningDataModule):
        def train_dataloader(self):
            return loader(0)

        def test_dataloader(self):
            return loader(1)

    callback = ModelProbingCallback(LogisticRegression(), datamodule=Data())
    _, recorder = fit(callback, max_epochs=1)
    assert recorder.metrics["test_score"] >= 0.95


def test_non_numeric_scores_are_refused():
    callback = ModelProbingCallback(
        LogisticRegression(), loader(0), loader(1),
        scoring={"bad": lambda estimator, X, y: "text"},
    )
    with pytest.raises(TypeError, match="bad"):
        callback.probing(None, DummyEmbeddingEstimator(strategy="identity"))


class EmbeddingWithTestStep(IdentityEmbedding):
    """The identity embedding, with a test step."""

    def test_step(self, batch, batch_idx):
        x = self._inputs(batch)
        return nn.functional.mse_loss(self.linear(x), x)


def test_probing_at_test_end_with_a_prefix():
    import pytorch_lightning as pl

    X, _ = separable(seed=3)
    model = EmbeddingWithTestStep(max_epochs=1, enable_progress_bar=False).fit(X)
    callback = ModelProbingCallback(
        LogisticRegression(), loader(0), loader(1), every_n_train_epochs=None,
        on_test_epoch_end=True, prefix_score="logreg_",
    )
    trainer = pl.Trainer(
        logger=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[callback],
    )
    (results,) = trainer.test(model, loader(2), verbose=False)
    assert results["logreg_test_score"] >= 0.95
