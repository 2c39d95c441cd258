"""nidl's LogisticRegression: a classifier trained on a torch model's logits."""

import numpy as np
import pytest
import pytorch_lightning as pl
import scipy.sparse
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from sklearn.base import clone
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.model_selection import cross_val_score
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
     ({}, np.r_[y[:-1], 3], ValueError, "y holds 4 classes but num_classes=3"),
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


# ----------------------------------------------------------------------
# Labels: class indices keep their logit; other labels are encoded
# ----------------------------------------------------------------------
NAMES = np.array(["control", "patient", "sibling"])


@pytest.mark.parametrize("labels", [NAMES[y], NAMES[y].astype(object), y + 1,
                                    y - 1, y * 10])
def test_any_labels_are_encoded(labels):
    indices = make(max_epochs=30).fit(X, y)
    clf = clone(indices).fit(X, labels)  # the same initial model
    np.testing.assert_array_equal(clf.classes_, np.unique(labels))
    # The sorted labels take the logits in order: the same training as
    # with the class indices, the same predictions, named.
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[indices.predict(X)])
    np.testing.assert_allclose(clf.predict_proba(X), indices.predict_proba(X),
                               atol=1e-6)
    assert clf.score(X, labels) == indices.score(X, y) > 0.8


def test_string_labels_with_tensor_input_come_back_as_an_array():
    clf = make().fit(torch.from_numpy(X), NAMES[y])
    labels = clf.predict(torch.from_numpy(X))
    assert isinstance(labels, np.ndarray) and set(labels) <= set(NAMES)
    assert isinstance(make().fit(X, y).predict(torch.from_numpy(X)), torch.Tensor)


def test_class_indices_keep_their_logits_when_a_class_is_missing():
    # Classes 0 and 2 of 3: class k is still logit k, and predictions are
    # among the classes seen.
    labels = np.where(y == 1, 2, y)
    clf = make(max_epochs=10).fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, [0, 2])
    with torch.no_grad():
        logits = clf.model(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(clf.decision_function(X), logits[:, 2] - logits[:, 0],
                               rtol=1e-5, atol=1e-6)
    assert set(clf.predict(X)) <= {0, 2}
    predicted = pl.Trainer(logger=False, enable_progress_bar=False).predict(
        clf, DataLoader(TensorDataset(torch.from_numpy(X)), batch_size=10))
    np.testing.assert_array_equal(torch.cat(predicted).numpy(), clf.predict(X))


def test_loaders_carry_class_indices():
    data = TensorDataset(torch.from_numpy(X), torch.zeros(30, dtype=torch.long))
    clf = make().fit(DataLoader(data, batch_size=10))
    # One class in the batches, but every class index is a class.
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict_proba(X).shape == (30, 3)


def test_binary_decision_function_is_the_log_odds():
    labels = np.where(X[:, 0] > 0, "patient", "control")
    clf = make(nn.Linear(4, 2), num_classes=2, max_epochs=10).fit(X, labels)
    scores, proba = clf.decision_function(X), clf.predict_proba(X)
    assert scores.shape == (30,) and proba.shape == (30, 2)
    np.testing.assert_allclose(1 / (1 + np.exp(-scores)), proba[:, 1], rtol=1e-5)
    np.testing.assert_array_equal(clf.classes_[(scores > 0).astype(int)],
                                  clf.predict(X))
    # So scikit-learn's scorers that read decision_function work.
    auc = cross_val_score(make(nn.Linear(4, 2), num_classes=2), X, labels, cv=2,
                          scoring="roc_auc")
    assert auc.shape == (2,) and np.all((0 <= auc) & (auc <= 1))


def test_column_vector_y_is_raveled_with_a_warning():
    clf = make()
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        column = clone(clf).fit(X, y[:, None])
    np.testing.assert_array_equal(column.predict(X), clf.fit(X, y).predict(X))
    with pytest.raises(ValueError, match="1d array"):
        make().fit(X, np.c_[y, y])


@pytest.mark.parametrize("sparse", [scipy.sparse.csr_matrix, scipy.sparse.csr_array])
def test_sparse_input_is_refused(sparse):
    with pytest.raises(TypeError, match="Sparse data was passed"):
        make().fit(sparse(X), y)


def test_continuous_targets_and_missing_y_are_refused():
    with pytest.raises(ValueError, match="Unknown label type: 'continuous'"):
        make().fit(X, X[:, 0])
    with pytest.raises(ValueError, match="requires y to be passed"):
        make().fit(X)


def test_a_failed_fit_keeps_the_classes():
    clf = make().fit(X, NAMES[y])
    before = clf.predict(X)
    # Four classes for a model of three logits: refused before training,
    # after the new labels were read.
    clf.set_params(num_classes=4)
    with pytest.raises(ValueError, match="logits of shape"):
        clf.fit(X, np.r_[y[:-1], 3])
    np.testing.assert_array_equal(clf.classes_, NAMES)
    np.testing.assert_array_equal(clf.predict(X), before)


def test_classes_travel_with_the_weights(tmp_path):
    # Lightning's load_from_checkpoint and the processes of a spawning
    # strategy load with torch.load(weights_only=True), which refuses
    # pickled NumPy arrays.
    clf = make(enable_checkpointing=True, callbacks=[
        ModelCheckpoint(dirpath=tmp_path, filename="last")]).fit(X, NAMES[y])
    loaded = LogisticRegression.load_from_checkpoint(tmp_path / "last.ckpt",
                                                     model=nn.Linear(4, 3))
    np.testing.assert_array_equal(loaded.classes_, NAMES)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    torch.save(clf.state_dict(), tmp_path / "weights.pt")
    copy = make()
    copy.load_state_dict(torch.load(tmp_path / "weights.pt", weights_only=True))
    assert copy.classes_.dtype == clf.classes_.dtype and copy.n_steps_ == clf.n_steps_
    np.testing.assert_array_equal(copy.predict(X), clf.predict(X))
