"""MetricsCallback: metrics on the outputs of a module that is always right."""

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from sklearn.metrics import accuracy_score
from torch.utils.data import DataLoader, TensorDataset

from nidl.callbacks.metrics import MetricsCallback

N_CLASSES = 3


class AlwaysRight(pl.LightningModule):
    """Predicts the targets exactly; returns preds, targets, targets2, logits."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def _outputs(self, batch):
        x, y = batch
        logits = torch.nn.functional.one_hot(y, N_CLASSES).float() * 10
        logits = logits + 0 * self.weight
        loss = (self.weight ** 2).sum() + x.sum() * 0
        return {"preds": logits.argmax(dim=1), "targets": y,
                "targets2": N_CLASSES - 1 - y, "logits": logits, "loss": loss}

    def training_step(self, batch, batch_idx):
        return self._outputs(batch)

    def validation_step(self, batch, batch_idx):
        return self._outputs(batch)

    def test_step(self, batch, batch_idx):
        return self._outputs(batch)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Accuracy:
    """A tiny stateful metric with the torchmetrics interface."""

    def __init__(self):
        self.reset()

    def update(self, preds, target):
        self.correct += int((preds.argmax(dim=1) == target).sum())
        self.total += len(target)

    def compute(self):
        return torch.tensor(self.correct / self.total)

    def reset(self):
        self.correct, self.total = 0, 0


def loader():
    y = torch.arange(16) % N_CLASSES
    # Targets made so that targets != targets2 everywhere (no class 1).
    y[y == 1] = 0
    return DataLoader(TensorDataset(torch.randn(16, 2), y), batch_size=4)


class Recorder(pl.Callback):
    def __init__(self):
        self.logged = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.logged.update({k: float(v) for k, v in trainer.callback_metrics.items()})

    def on_train_epoch_end(self, trainer, pl_module):
        self.logged.update({k: float(v) for k, v in trainer.callback_metrics.items()})


def fit(callback, val=False, test=False, epochs=2, sanity_steps=0):
    recorder = Recorder()
    trainer = pl.Trainer(
        max_epochs=epochs, callbacks=[callback, recorder], logger=False,
        enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu",
        num_sanity_val_steps=sanity_steps, limit_val_batches=1.0,
    )
    module = AlwaysRight()
    trainer.fit(module, loader(), loader() if val else None)
    logged = dict(recorder.logged)
    logged.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    if test:
        trainer.test(module, loader(), verbose=False)
        logged.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    return logged


def test_stateful_metric_epoch_mode():
    callback = MetricsCallback(
        {"acc": Accuracy()}, needs={"preds": "logits", "target": "targets"},
        every_n_train_steps=None, every_n_train_epochs=1,
    )
    assert fit(callback)["acc/train"] == 1.0


def test_stateful_metric_inferred_needs_wrong_key():
    # Accuracy.update takes ``target``: the outputs hold ``targets``.
    with pytest.raises(KeyError, match="target"):
        fit(MetricsCallback({"acc": Accuracy()}), epochs=1)


def test_sklearn_metric_per_step():
    callback = MetricsCallback({"sk_acc": accuracy_score},
                               needs=["targets", "preds"])
    assert fit(callback)["sk_acc/train"] == 1.0


def test_sklearn_metric_cached():
    callback = MetricsCallback(
        {"sk_acc": accuracy_score}, needs=["targets", "preds"],
        compute_per_training_step=False, every_n_train_steps=2,
        every_n_train_epochs=False,
    )
    assert fit(callback)["sk_acc/train"] == 1.0


def test_global_keyword_needs():
    callback = MetricsCallback(
        {"sk_acc": accuracy_score},
        needs={"y_true": "targets", "y_pred": "preds"},
    )
    assert fit(callback)["sk_acc/train"] == 1.0


def test_inferred_needs_skip_defaulted_parameters():
    def acc(preds, targets, normalize=True):
        return (preds == targets).float().mean()

    callback = MetricsCallback([acc])
    assert callback.needs == {"acc": ("kwargs", {"preds": "preds",
                                                 "targets": "targets"})}
    assert fit(callback)["acc/train"] == 1.0


@pytest.mark.parametrize("needs", [
    {"right": ["targets", "preds"], "wrong": ["targets2", "preds"]},
    {"right": {"y_true": "targets", "y_pred": "preds"},
     "wrong": {"y_true": "targets2", "y_pred": "preds"}},
    {"right": ["targets", "preds"],
     "wrong": {"y_true": lambda out: out["targets2"], "y_pred": "preds"}},
])
def test_per_metric_needs(needs):
    callback = MetricsCallback({"right": accuracy_score, "wrong": accuracy_score},
                               needs=needs)
    logged = fit(callback)
    assert logged["right/train"] == 1.0
    assert logged["wrong/train"] == 0.0


def test_per_metric_needs_unlisted_metric_inferred():
    def acc(preds, targets):
        return float((preds == targets).float().mean())

    callback = MetricsCallback({"sk": accuracy_score, "acc": acc},
                               needs={"sk": ["targets", "preds"]})
    logged = fit(callback)
    assert logged["sk/train"] == logged["acc/train"] == 1.0


@pytest.mark.parametrize("kind", [float, np.asarray])
def test_metric_return_types(kind):
    def acc(preds, targets):
        return kind(float((preds == targets).float().mean()))

    assert fit(MetricsCallback(acc))["acc/train"] == 1.0


def test_validation_and_test_stages():
    callback = MetricsCallback(
        {"sk_acc": accuracy_score}, needs=["targets", "preds"],
        every_n_val_epochs=1, on_test_end=True,
    )
    logged = fit(callback, val=True, test=True)
    assert logged["sk_acc/val"] == 1.0
    assert logged["sk_acc/test"] == 1.0


class LogSpy(AlwaysRight):
    """Records the epoch (and sanity-check flag) of every validation log."""

    def __init__(self):
        super().__init__()
        self.val_logs = []

    def log_dict(self, dictionary, *args, **kwargs):
        if any(key.endswith("/val") for key in dictionary):
            self.val_logs.append(
                (self.trainer.current_epoch, self.trainer.sanity_checking))
        return super().log_dict(dictionary, *args, **kwargs)


def test_sanity_check_does_not_count():
    callback = MetricsCallback(
        {"sk_acc": accuracy_score}, needs=["targets", "preds"],
        every_n_val_epochs=2,
    )
    trainer = pl.Trainer(
        max_epochs=3, callbacks=[callback], logger=False,
        enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", num_sanity_val_steps=2,
    )
    module = LogSpy()
    trainer.fit(module, loader(), loader())
    # Validation epochs 0 and 2 log; the sanity check neither logs nor counts.
    assert module.val_logs == [(0, False), (2, False)]
    assert float(trainer.callback_metrics["sk_acc/val"]) == 1.0


def test_missing_output_key():
    callback = MetricsCallback(accuracy_score, needs=["targets", "missing"])
    with pytest.raises(KeyError, match="missing"):
        fit(callback, epochs=1)


def test_non_array_input():
    callback = MetricsCallback(accuracy_score,
                               needs=["targets", lambda out: [1, 2]])
    with pytest.raises(TypeError, match="tensors or arrays"):
        fit(callback, epochs=1)


def test_metric_names():
    def f(a):
        return a

    callback = MetricsCallback([f, f, f, Accuracy()], needs=["preds"])
    assert list(callback.metrics) == ["f", "f_1", "f_2", "Accuracy"]


@pytest.mark.parametrize("kwargs, error", [
    ({"metrics": []}, ValueError),
    ({"metrics": {}}, ValueError),
    ({"metrics": 3}, TypeError),
    ({"metrics": [accuracy_score, "x"]}, TypeError),
    ({"metrics": accuracy_score, "every_n_train_epochs": 1}, ValueError),
    ({"metrics": accuracy_score, "every_n_train_steps": -1}, ValueError),
    ({"metrics": accuracy_score, "every_n_val_epochs": 1.5}, TypeError),
    ({"metrics": accuracy_score, "needs": "targets"}, TypeError),
    ({"metrics": accuracy_score, "needs": [3]}, TypeError),
    ({"metrics": accuracy_score, "needs": {"other": ["targets"]}}, ValueError),
    ({"metrics": lambda *args: 0}, RuntimeError),
    ({"metrics": lambda **kwargs: 0}, RuntimeError),
    ({"metrics": lambda a=1: 0}, RuntimeError),
])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        MetricsCallback(**kwargs)


def test_uninspectable_metric():
    class Opaque:
        @property
        def __signature__(self):
            raise ValueError("no signature")

        def __call__(self, a):
            return a

    with pytest.raises(RuntimeError, match="inspect"):
        MetricsCallback(Opaque())


MOVED_TO = []


class MovableAccuracy(Accuracy):
    """Records where the callback puts it (in MOVED_TO: copies share it)."""

    def to(self, device):
        MOVED_TO.append(str(device))
        return self


def test_stateful_metric_moved_and_reset_between_fits():
    callback = MetricsCallback(
        {"acc": MovableAccuracy()},
        needs={"preds": "logits", "target": "targets"}, compute_on_cpu=True,
    )
    assert fit(callback)["acc/train"] == 1.0
    assert MOVED_TO and set(MOVED_TO) == {"cpu"}
    # A second fit with the same callback starts from clean state.
    assert fit(callback, val=True)["acc/val"] == 1.0


class StepSpy(AlwaysRight):
    """Records the global step of every training log."""

    def __init__(self):
        super().__init__()
        self.train_logs = []

    def log_dict(self, dictionary, *args, **kwargs):
        if any(key.endswith("/train") for key in dictionary):
            self.train_logs.append(self.trainer.global_step)
        return super().log_dict(dictionary, *args, **kwargs)


@pytest.mark.parametrize("accumulate, expected", [(1, [2, 4, 6, 8]), (2, [2, 4])])
def test_every_n_train_steps(accumulate, expected):
    callback = MetricsCallback({"sk_acc": accuracy_score},
                               needs=["targets", "preds"], every_n_train_steps=2)
    trainer = pl.Trainer(
        max_epochs=2, callbacks=[callback], logger=False,
        enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu",
        accumulate_grad_batches=accumulate,
    )
    module = StepSpy()
    trainer.fit(module, loader())
    # 4 batches per epoch: one log per second optimisation step, once each.
    assert module.train_logs == expected
