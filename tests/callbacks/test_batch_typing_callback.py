"""BatchTypingCallback: batches checked against the steps' annotations."""

from typing import Any, Optional, Union

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from nidl.callbacks.check_typing import BatchTypingCallback
from nidl.estimators.linear import LogisticRegression


class Annotated(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 3)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.linear(x), y)

    def validation_step(self, batch: list[torch.Tensor], batch_idx):
        return None

    def test_step(self, batch: Union[list, dict], batch_idx):  # noqa: UP007
        return None

    def predict_step(self, batch: Any, batch_idx, dataloader_idx=0):
        return self.linear(batch[0]).argmax(dim=1)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Unannotated(Annotated):
    def training_step(self, batch, batch_idx):
        return super().training_step(batch, batch_idx)


class WrongAnnotation(Annotated):
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx):
        return super().training_step(batch, batch_idx)


def data(n=30):
    x, y = torch.randn(n, 2), torch.arange(n) % 3
    return DataLoader(TensorDataset(x, y), batch_size=10)


def trainer(callback):
    return pl.Trainer(
        max_epochs=1, callbacks=[callback], logger=False,
        enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", num_sanity_val_steps=0,
    )


def test_annotated_module_trains_validates_tests_and_predicts():
    module = Annotated()
    # The default collate gives lists, which the training annotation refuses;
    # hand it tuples.
    loader = DataLoader(TensorDataset(torch.randn(30, 2), torch.arange(30) % 3),
                        batch_size=10, collate_fn=lambda items: tuple(
                            torch.stack(column) for column in zip(*items)))
    run = trainer(BatchTypingCallback(only_first_batch=False))
    run.fit(module, loader, data())
    run.test(module, data(), verbose=False)
    predictions = run.predict(module, data())
    assert torch.cat(predictions).shape == (30,)


def test_logistic_regression_trains_and_predicts_with_the_check():
    x, y = torch.randn(30, 2), torch.arange(30) % 3
    clf = LogisticRegression(
        torch.nn.Linear(2, 3), num_classes=3, lr=0.1, weight_decay=0.0,
        batch_size=10, max_epochs=2, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
        callbacks=[BatchTypingCallback(only_first_batch=False)],
    )
    # The default collate gives lists; the batches nidl makes of arrays,
    # tuples: the annotations of the steps take both.
    clf.fit(data(), data())
    assert clf.n_epochs_ == 2 and "val/loss" in clf.history_
    clf.fit(x.numpy(), y.numpy())
    x_only = DataLoader(TensorDataset(x), batch_size=10)
    predictions = trainer(BatchTypingCallback()).predict(clf, x_only)
    assert torch.cat(predictions).shape == (30,)
    assert clf.predict(x_only).shape == (30,)


def test_missing_annotation():
    with pytest.raises(TypeError, match="no type annotation"):
        trainer(BatchTypingCallback()).fit(Unannotated(), data())


def test_mismatch():
    # The default collate gives a list, not a dict.
    with pytest.raises(TypeError, match="does not agree"):
        trainer(BatchTypingCallback()).fit(WrongAnnotation(), data())


def test_only_first_batch():
    calls = []

    class Counting(BatchTypingCallback):
        def check(self, pl_module, batch, stage):
            calls.append(stage)

    trainer(Counting()).fit(Annotated(), data())
    assert calls == ["train"]
    calls.clear()
    trainer(Counting(only_first_batch=False)).fit(Annotated(), data())
    assert calls == ["train"] * 3


@pytest.mark.parametrize("batch, annotation, ok", [
    ((1, "a"), tuple[int, str], True),
    ((1, 2), tuple[int, str], False),
    ((1, 2, 3), tuple[int, ...], True),
    ((1,), tuple[int, int], False),
    ([1, 2], list[int], True),
    ([1, "a"], list[int], False),
    ({"x": 1}, dict[str, int], True),
    ({"x": "1"}, dict[str, int], False),
    (None, Optional[int], True),  # noqa: UP045
    ("a", Optional[int], False),  # noqa: UP045
    (3, Union[str, int], True),  # noqa: UP007
    (3, int | str, True),
    (3.0, int | str, False),
    ([torch.zeros(1)], Any, True),
    ([1], list, True),
    ((1,), list, False),
])
def test_annotations(batch, annotation, ok):
    class Module(Annotated):
        def training_step(self, batch, batch_idx):
            return None

    Module.training_step.__annotations__ = {"batch": annotation}
    module = Module()
    callback = BatchTypingCallback()
    if ok:
        callback.check(module, batch, "train")
    else:
        with pytest.raises(TypeError, match="does not agree"):
            callback.check(module, batch, "train")
