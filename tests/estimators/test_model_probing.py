"""ModelProbing: a scikit-learn probe on the embeddings of a nidl estimator."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, make_scorer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nidl.estimators.autoencoders import VAE
from nidl.estimators.dummy import DummyEmbeddingEstimator
from nidl.estimators.probes import ModelProbing

rng = np.random.default_rng(0)
y = np.repeat([0, 1], 10)
X = np.where(y == 1, 1.0, -1.0)[:, None].astype(np.float32)
X = np.repeat(X, 3, axis=1)
LOADER = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
                    batch_size=6)


def probing(strategy="identity", scoring=None):
    return ModelProbing(
        DummyEmbeddingEstimator(strategy=strategy, random_state=0),
        LogisticRegression(solver="liblinear"), scoring=scoring,
    )


def test_identity_embeddings_are_separable():
    model = probing().fit(LOADER)
    assert isinstance(model.score(LOADER), float)
    assert model.score(LOADER) == 1.0
    predictions = model.predict(LOADER)
    assert len(predictions) == 20
    np.testing.assert_array_equal(predictions, y)


def test_arrays_and_a_validation_loader():
    model = probing()
    assert model.fit(X, y) is model
    assert model.score(X, y) == 1.0
    # A loader given in place of y (upstream's validation loader) is ignored.
    assert probing().fit(LOADER, LOADER).score(LOADER) == 1.0


def test_upstream_keyword_names_of_the_loaders():
    # fit(train_dataloader=, val_dataloader=), predict/score(test_dataloader=)
    # as upstream nidl names them; the validation loader is ignored.
    model = probing()
    assert model.fit(train_dataloader=LOADER, val_dataloader=LOADER) is model
    assert model.fitted_ is True
    np.testing.assert_array_equal(model.predict(test_dataloader=LOADER), y)
    assert model.score(test_dataloader=LOADER, scoring="f1") == 1.0
    with pytest.raises(TypeError, match="not both"):
        model.score(LOADER, test_dataloader=LOADER)
    with pytest.raises(TypeError, match="needs data"):
        probing().fit()


def test_dict_list_and_callable_scoring():
    scores = probing(scoring={"acc": "accuracy", "f1": "f1"}).fit(LOADER).score(LOADER)
    assert scores == {"acc": 1.0, "f1": 1.0}
    model = probing(scoring=make_scorer(accuracy_score)).fit(LOADER)
    assert model.score(LOADER) == 1.0


def test_normal_embeddings_and_scoring_override():
    model = probing("normal", scoring=["accuracy", "f1"]).fit(X, y)
    predictions = model.predict(X)
    scores = model.score(X, y)
    assert set(scores) == {"accuracy", "f1"}
    assert scores["accuracy"] == pytest.approx(accuracy_score(y, predictions))
    assert model.score(X, y, scoring="f1") == pytest.approx(
        f1_score(y, predictions))


def test_probe_on_a_fitted_vae():
    vae = VAE(nn.Linear(3, 4), nn.Linear(2, 3), encoder_out_dim=4, latent_dim=2,
              max_epochs=1, random_state=0, enable_progress_bar=False,
              logger=False, enable_checkpointing=False,
              enable_model_summary=False).fit(X)
    model = ModelProbing(vae, LogisticRegression()).fit(X, y)
    assert 0.0 <= model.score(X, y) <= 1.0


@pytest.mark.parametrize(
    "embedder, probe",
    [(object(), LogisticRegression()),
     (LogisticRegression(), LogisticRegression()),
     (DummyEmbeddingEstimator(), object())],
)
def test_bad_parts_are_refused(embedder, probe):
    with pytest.raises(TypeError, match="must be a"):
        ModelProbing(embedder, probe).fit(X, y)


def test_unfitted_embedder_is_refused():
    vae = VAE(nn.Linear(3, 4), nn.Linear(2, 3), encoder_out_dim=4, latent_dim=2)
    with pytest.raises(NotFittedError, match="fit it before probing"):
        ModelProbing(vae, LogisticRegression()).fit(X, y)


def test_trainer_options_are_kept_ignored_with_a_warning_and_typos_refused():
    model = ModelProbing(DummyEmbeddingEstimator(strategy="identity"),
                         LogisticRegression(), max_epochs=3, accelerator="cpu")
    assert clone(model).get_params()["max_epochs"] == 3
    with pytest.warns(UserWarning, match=r"ignores the Trainer options "
                      r"\['accelerator', 'max_epochs'\]"):
        model.fit(X, y)
    assert model.score(X, y) > 0.5
    typo = ModelProbing(DummyEmbeddingEstimator(), LogisticRegression(),
                        max_epoch=3)
    with pytest.raises(TypeError, match=r"\['max_epoch'\].*spelling"):
        typo.fit(X, y)


def test_predict_and_score_before_fit():
    with pytest.raises(NotFittedError):
        probing().predict(X)
    with pytest.raises(NotFittedError):
        probing().score(X, y)


def test_arrays_need_targets():
    with pytest.raises(ValueError, match="needs y"):
        probing().fit(X)


def test_clone_get_set_params():
    model = probing(scoring="accuracy")
    params = model.get_params()
    assert params["scoring"] == "accuracy"
    assert params["probe__solver"] == "liblinear"
    assert params["embedding_estimator__strategy"] == "identity"
    model.set_params(probe__C=0.5, scoring="f1")
    copy = clone(model)
    assert copy.probe.C == 0.5 and copy.scoring == "f1"
    assert copy.probe is not model.probe
    model.fit(X, y)
    assert model.probe_ is not model.probe
    assert not hasattr(model.probe, "coef_")
