"""DummyEmbeddingEstimator: embeddings without training."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from torch.utils.data import DataLoader, TensorDataset

from nidl.estimators.dummy import DummyEmbeddingEstimator

X = np.random.default_rng(0).normal(size=(20, 2, 3)).astype(np.float32)


def test_identity_flattens():
    Z = DummyEmbeddingEstimator(strategy="identity").transform(X)
    assert Z.shape == (20, 6)
    np.testing.assert_array_equal(Z, X.reshape(20, -1))


@pytest.mark.parametrize("strategy", ["normal", "uniform"])
def test_draws_differ_between_samples_and_batches(strategy):
    dummy = DummyEmbeddingEstimator(strategy, n_features=4, random_state=0,
                                    batch_size=5)
    loader = DataLoader(TensorDataset(torch.from_numpy(X)), batch_size=5)
    Z = dummy.transform(loader)
    assert Z.shape == (20, 4)
    # Every sample gets its own draws, also across batches.
    assert len(torch.unique(Z[:, 0])) == 20
    if strategy == "uniform":
        assert bool((Z >= 0).all() and (Z < 1).all())


def test_seeded_draws_are_reproducible():
    first = DummyEmbeddingEstimator(random_state=3).transform(X)
    second = DummyEmbeddingEstimator(random_state=3).transform(X)
    other = DummyEmbeddingEstimator(random_state=4).transform(X)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_constant():
    Z = DummyEmbeddingEstimator("constant", n_features=3, constant=1.5).transform(X)
    assert Z.shape == (20, 3) and bool((Z == 1.5).all())


@pytest.mark.parametrize(
    "params, message",
    [({"strategy": "foo"}, "strategy must be one of"),
     ({"strategy": "constant"}, "needs constant"),
     ({"n_features": 0}, "n_features")],
)
def test_bad_parameters(params, message):
    dummy = DummyEmbeddingEstimator(**params)
    with pytest.raises(ValueError, match=message):
        dummy.transform(X)
    with pytest.raises(ValueError, match=message):
        dummy.fit(X)


def test_fit_records_shape_and_checks_it():
    dummy = DummyEmbeddingEstimator(strategy="identity").fit(X)
    assert dummy.sample_shape_ == (2, 3) and dummy.n_features_in_ == 2
    assert list(dummy.get_feature_names_out()) == [
        f"dummyembeddingestimator{i}" for i in range(6)
    ]
    with pytest.raises(ValueError):
        dummy.transform(np.ones((4, 5), dtype=np.float32))


def test_transform_with_targets():
    y = np.arange(20)
    Z, t = DummyEmbeddingEstimator(strategy="identity").transform_with_targets(X, y)
    assert Z.shape == (20, 6)
    np.testing.assert_array_equal(t, y)


def test_clone_and_params():
    dummy = DummyEmbeddingEstimator("uniform", n_features=3, random_state=1,
                                    max_epochs=2)
    params = clone(dummy).get_params()
    assert params["strategy"] == "uniform" and params["n_features"] == 3
    assert params["max_epochs"] == 2
    dummy.set_params(strategy="identity")
    assert dummy.transform(X).shape == (20, 6)
    assert dummy.__sklearn_tags__().requires_fit is False
