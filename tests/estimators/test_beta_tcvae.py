import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from nidl.estimators.autoencoders import BetaTCVAE
from nidl.losses import BetaTCVAELoss, LinearWarmup
from tests.conftest import History, history, make_estimator


def make_vae(n_features=8, hidden=16, **params):
    return make_estimator(BetaTCVAE, n_features, hidden=hidden, **params)


@pytest.fixture
def data():
    return np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)


def test_dataset_size_comes_from_the_training_data(data):
    assert make_vae().fit(data).dataset_size_ == 40
    loader = DataLoader(TensorDataset(torch.from_numpy(data[:30])), batch_size=10)
    vae = make_vae().fit(loader)
    # The number of samples, not of batches.
    assert vae.dataset_size_ == vae.criterion.dataset_size == 30
    assert isinstance(vae.criterion, BetaTCVAELoss)


def test_explicit_dataset_size_wins(data):
    assert make_vae(dataset_size=1000).fit(data).criterion.dataset_size == 1000


def test_scheduled_beta_is_logged(data):
    vae = make_vae(beta=LinearWarmup(6.0, 4), callbacks=[History()]).fit(data)
    assert [s["train/beta"] for s in history(vae).steps] == pytest.approx(
        [0.0, 1.5, 3.0, 4.5, 6.0, 6.0]
    )


def test_batch_of_one_sample_is_refused_before_training(data):
    vae = make_vae(batch_size=13)  # 40 = 3 * 13 + 1
    with pytest.raises(ValueError, match=r"batch of one sample.*batch_size=14"):
        vae.fit(data)
    assert not hasattr(vae, "n_steps_")
    loader = DataLoader(TensorDataset(torch.from_numpy(data)), batch_size=13)
    with pytest.raises(ValueError, match="drop_last=True"):
        vae.fit(loader)
    dropping = DataLoader(TensorDataset(torch.from_numpy(data)), batch_size=13,
                          drop_last=True)
    assert vae.fit(dropping).n_steps_ == 2 * 3


def test_invalid_parameters_fail_before_training(data):
    with pytest.raises(ValueError, match="alpha"):
        make_vae(alpha=-1.0).fit(data)
    with pytest.raises(ValueError, match="dataset_size"):
        make_vae(dataset_size=0).fit(data)
