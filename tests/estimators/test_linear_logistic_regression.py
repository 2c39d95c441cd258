"""nidl's LogisticRegression: a classifier trained on a torch model's logits."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nidl.estimators.linear import LogisticRegression

QUIET = {"enable_progress_bar": False, "logger": False,
         "enable_checkpointing": False, "enable_model_summary": False}

rng = np.random.default_rng(0)
X = rng.normal(size=(30, 4)).astype(np.float32)
y = np.argmax(X[:, :3], axis=1)


def encoder_model():
    model = nn.Sequential()
    model.add_module("encoder", nn.Linear(4, 5))
    model.add_module("fc", nn.Linear(5, 3))
    return model


def make(model=None, **params):
    params = {"model": nn.Linear(4, 3) if model is None else model,
              "num_classes": 3, "lr": 0.05, "weight_decay": 0.0, "random_state": 0,
              "batch_size": 10, "max_epochs": 3, **QUIET, **params}
    return LogisticRegression(**params)


def test_fit_predict_on_arrays():
    clf = make().fit(X, y)
    labels = clf.predict(X)
    assert labels.shape == (30,) and set(labels) <= {0, 1, 2}
    assert clf.decision_function(X).shape == (30, 3)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(axis=1), labels)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert 0.0 <= clf.score(X, y) <= 1.0
    assert set(clf.history_) == {"train/loss", "train/acc"}
    assert len(clf.history_["train/loss"]) == 3


def test_learns_a_separable_problem():
    clf = make(max_epochs=30).fit(X, y)
    assert clf.score(X, y) > 0.8


def test_loaders_with_validation_and_x_only_prediction():
    data = TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    clf = make().fit(DataLoader(data, batch_size=10), DataLoader(data, batch_size=10))
    assert {"val/loss", "val/acc"} <= set(clf.history_)
    predictions = clf.predict(DataLoader(TensorDataset(torch.from_numpy(X)),
                                         batch_size=10))
    assert predictions.shape == (30,)
    assert clf.decision_function(torch.from_numpy(X)).shape == (30, 3)


def test_logged_metrics():
    logged = []

    class Spy(LogisticRegression):
        def log(self, name, value, *args, **kwargs):
            logged.append(name)
            return super().log(name, value, *args, **kwargs)

    data = TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    Spy(nn.Linear(4, 3), 3, lr=0.05, weight_decay=0.0, max_epochs=1,
        batch_size=10, **QUIET).fit(data, data)
    assert {"train_loss", "train_acc", "val_loss", "val_acc"} <= set(logged)


def test_freeze_encoder_trains_only_fc():
    model = encoder_model()
    before = model.encoder.weight.detach().clone()
    fc_before = model.fc.weight.detach().clone()
    clf = make(model).freeze_encoder().fit(X, y)
    assert torch.equal(clf.model.encoder.weight, before)
    assert not torch.equal(clf.model.fc.weight, fc_before)
    assert [p.requires_grad for p in clf.model.parameters()] == [
        False, False, True, True]
    # A refit keeps the freeze.
    clf.fit(X, y)
    assert torch.equal(clf.model.encoder.weight, before)


def test_freeze_encoder_needs_fc():
    with pytest.raises(TypeError, match="fc"):
        make().freeze_encoder()


def test_optimizer_and_step_decay():
    clf = make(max_epochs=10)
    config = clf.configure_optimizers()
    assert isinstance(config["optimizer"], torch.optim.AdamW)
    scheduler = config["lr_scheduler"]
    assert isinstance(scheduler, torch.optim.lr_scheduler.MultiStepLR)
    assert sorted(scheduler.milestones) == [6, 8] and scheduler.gamma == 0.1
    no_epochs = LogisticRegression(nn.Linear(4, 3), 3, lr=0.1, weight_decay=0.1)
    assert isinstance(no_epochs.configure_optimizers(), torch.optim.AdamW)


@pytest.mark.parametrize(
    "params, targets, error, message",
    [({"num_classes": 1}, y, ValueError, "num_classes"),
     ({"lr": 0.0}, y, ValueError, "lr"),
     ({"weight_decay": -1.0}, y, ValueError, "weight_decay"),
     ({"model": "linear"}, y, TypeError, "model must be a torch.nn.Module"),
     ({}, y + 1, ValueError, "class index"),
     ({}, y + 0.5, ValueError, "integer class indices"),
     ({"model": nn.Linear(4, 2)}, y, ValueError, "logits of shape"),
     ({}, None, ValueError, "requires y")],
)
def test_errors_before_training(params, targets, error, message):
    clf = make(**params)
    with pytest.raises(error, match=message):
        clf.fit(X, targets)
    assert not hasattr(clf, "n_steps_")


def test_predict_before_fit():
    with pytest.raises(NotFittedError):
        make().predict(X)


def test_clone_get_set_params():
    clf = make(encoder_model())
    params = clf.get_params()
    assert params["num_classes"] == 3 and params["lr"] == 0.05
    assert params["max_epochs"] == 3
    clf.set_params(lr=0.01, max_epochs=1)
    copy = clone(clf)
    assert copy.lr == 0.01 and copy.get_params()["max_epochs"] == 1
    assert copy.model is not clf.model
    clf.fit(X, y)
    np.testing.assert_array_equal(clone(clf).fit(X, y).predict(X), clf.predict(X))
