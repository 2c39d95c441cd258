"""Every bad input is refused before any training step, with a clear error.

Each case names the input, the error type and a pattern the message must
contain. A fitted estimator that is given bad input for a refit keeps its
fitted state and transforms exactly as before.
"""

import warnings
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from nidl.estimators.autoencoders import VAE
from tests.conftest import QUIET

N_FEATURES = 8


class CountingEncoder(nn.Module):
    """An MLP encoder that counts the batches it sees in training mode."""

    def __init__(self, out_features=16):
        super().__init__()
        self.layer = nn.Linear(N_FEATURES, out_features)
        self.training_calls = 0

    def forward(self, x):
        if self.training:
            self.training_calls += 1
        return torch.relu(self.layer(x))


class Strings(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, index):
        return "not a tensor"


def make_vae(encoder_out_dim=16, decoder_out=N_FEATURES, encoder=None, **params):
    torch.manual_seed(0)
    decoder = nn.Sequential(nn.Linear(max(params.get("latent_dim", 2), 1), 16),
                            nn.ReLU(), nn.Linear(16, decoder_out))
    options = {"encoder_out_dim": encoder_out_dim, "latent_dim": 2, "random_state": 0,
               "stochastic_transform": False, **QUIET}
    options.update(params)
    return VAE(encoder or CountingEncoder(), decoder, **options)


rng = np.random.default_rng(0)
GOOD = rng.normal(size=(20, N_FEATURES)).astype(np.float32)
with_nan = GOOD.copy()
with_nan[3, 2] = np.nan
with_inf = GOOD.copy()
with_inf[0, 0] = np.inf

#: (case, constructor parameters, data, error type, message pattern)
BAD_INPUTS = [
    ("NaN in the data", {}, with_nan, ValueError, "Input X contains NaN"),
    ("inf in the data", {}, with_inf, ValueError, "Input X contains infinity"),
    ("NaN in a tensor", {}, torch.from_numpy(with_nan), ValueError, "contains NaN"),
    ("NaN in a DataLoader's first batch", {},
     DataLoader(TensorDataset(torch.from_numpy(with_nan)), batch_size=8), ValueError,
     "contains NaN"),
    ("empty array", {}, np.zeros((0, N_FEATURES), np.float32), ValueError, "0 sample"),
    ("empty Dataset", {}, TensorDataset(torch.zeros(0, N_FEATURES)), ValueError,
     "empty Dataset"),
    ("empty DataLoader", {}, DataLoader(TensorDataset(torch.zeros(0, N_FEATURES))),
     ValueError, "empty DataLoader"),
    ("one-dimensional data", {}, GOOD[0], ValueError, "Expected 2D array"),
    ("non-numeric data", {}, np.array([["a"] * N_FEATURES] * 4), ValueError,
     "could not convert"),
    ("Dataset of strings", {}, Strings(), ValueError,
     "could not convert string to float"),
    ("encoder_out_dim not what the encoder returns", {"encoder_out_dim": 12}, GOOD,
     ValueError, r"encoder_out_dim=12; set encoder_out_dim=16"),
    ("decoder output not shaped like the input", {"decoder_out": 5}, GOOD, ValueError,
     r"decoder returns samples of shape \(5,\)"),
    ("latent_dim < 1", {"latent_dim": 0}, GOOD, ValueError,
     "latent_dim == 0, must be >= 1"),
    ("negative beta", {"beta": -1.0}, GOOD, ValueError, "beta"),
    ("unknown default_dist", {"default_dist": "poisson"}, GOOD, ValueError,
     "'normal', 'laplace', 'bernoulli'"),
    ("batch_size < 1", {"batch_size": 0}, GOOD, ValueError,
     "batch_size == 0, must be >= 1"),
    ("misspelt Trainer option", {"max_epoch": 2}, GOOD, TypeError, "max_epoch"),
]


@pytest.mark.parametrize(
    "params, data, error, match", [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS]
)
def test_bad_input_fails_before_training(params, data, error, match):
    vae = make_vae(**params)
    with pytest.raises(error, match=match):
        vae.fit(data)
    assert vae.encoder.training_calls == 0
    assert not vae.__sklearn_is_fitted__()


def test_encoder_must_be_a_module():
    vae = VAE(lambda x: x, nn.Linear(2, N_FEATURES), 8, 2, **QUIET)
    with pytest.raises(TypeError, match="encoder must be a torch.nn.Module"):
        vae.fit(GOOD)


@pytest.mark.parametrize(
    "data, match",
    [
        (GOOD[:, :5], "X has 5 features, but VAE is expecting 8 features"),
        (GOOD.reshape(20, 2, 4), r"X has 2 features"),
        (GOOD[:, :, None], r"samples of shape \(8, 1\)"),
        (with_nan, "contains NaN"),
    ],
    ids=["wrong number of features", "wrong sample shape", "extra sample axis", "NaN"],
)
def test_fitted_estimator_refuses_bad_data_for_transform(data, match):
    vae = make_vae().fit(GOOD)
    with pytest.raises(ValueError, match=match):
        vae.transform(data)


@pytest.mark.parametrize("params, data, error, match",
                         [case[1:] for case in BAD_INPUTS[:2]])
def test_failed_refit_leaves_the_fitted_estimator_as_it_was(params, data, error, match):
    vae = make_vae().fit(GOOD)
    before = vae.transform(GOOD)
    steps = vae.n_steps_
    # A new beta keeps the trained layers (a new latent_dim would build new
    # heads at once, before fit).
    with pytest.raises(error, match=match):
        vae.set_params(beta=2.0).fit(data)
    np.testing.assert_array_equal(vae.transform(GOOD), before)
    assert vae.n_steps_ == steps and vae.n_features_in_ == N_FEATURES


# ---------------------------------------------------------------------------
# Every batch of a Dataset or DataLoader is checked during training
# ---------------------------------------------------------------------------
class Samples(Dataset):
    """A Dataset of samples built one at a time, as a dataset reading files does."""

    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        return self.samples[index]


def batches_with(index, value):
    """GOOD in batches of 4 (first batch clean), one value of the 3rd batch replaced."""
    data = torch.from_numpy(GOOD.copy())
    data[2 * 4 + index, 1] = value
    return data


class Ragged(Dataset):
    """Samples of 8 features, except from the 9th on (the 3rd batch of 4)."""

    def __len__(self):
        return 20

    def __getitem__(self, index):
        return torch.zeros(N_FEATURES if index < 8 else N_FEATURES + 1)


#: (case, training data, message pattern): the first batch is clean.
BAD_LATER_BATCHES = [
    ("NaN in the 3rd batch",
     DataLoader(TensorDataset(batches_with(1, float("nan"))), batch_size=4),
     r"^batch 2 of epoch 0 holds NaN values; remove or replace them"),
    ("inf in the 3rd batch",
     DataLoader(TensorDataset(batches_with(3, -float("inf"))), batch_size=4),
     r"^batch 2 of epoch 0 holds infinite values; remove or replace them"),
    ("NaN from a Dataset read sample by sample",
     DataLoader(Samples(batches_with(0, float("nan"))), batch_size=4),
     r"^batch 2 of epoch 0 holds NaN values"),
    ("3rd batch of another sample shape", DataLoader(Ragged(), batch_size=4),
     (r"^batch 2 of epoch 0 has samples of shape \(9,\), but the first batch "
      r"had samples of shape \(8,\); make every sample the same shape")),
]


@pytest.mark.parametrize(
    "data, match", [case[1:] for case in BAD_LATER_BATCHES],
    ids=[case[0] for case in BAD_LATER_BATCHES]
)
def test_bad_later_batch_fails_before_its_step_and_leaves_the_fit(data, match):
    class RecordingEncoder(CountingEncoder):
        # On the class: a failed fit restores the module's own state.
        training_calls: ClassVar[list] = []

        def forward(self, x):
            if self.training:
                RecordingEncoder.training_calls.append(len(x))
            return super().forward(x)

    vae = make_vae(batch_size=4, encoder=RecordingEncoder()).fit(GOOD)
    before, steps = vae.transform(GOOD), vae.n_steps_
    RecordingEncoder.training_calls.clear()
    with pytest.raises(ValueError, match=match):
        vae.fit(data)
    # Batches 0 and 1 were trained on; the bad batch never reached the encoder.
    assert RecordingEncoder.training_calls == [4, 4]
    np.testing.assert_array_equal(vae.transform(GOOD), before)
    assert vae.n_steps_ == steps


def test_bad_batch_in_a_later_epoch_names_the_epoch():
    class NaNOnThirdPass(Samples):
        # Passes over the data: fit's check of the first batch, epoch 0, epoch 1.
        passes = 0

        def __getitem__(self, index):
            if index == 0:
                NaNOnThirdPass.passes += 1
            sample = self.samples[index].clone()
            if self.passes == 3 and index == 13:
                sample[0] = float("nan")
            return sample

    data = DataLoader(NaNOnThirdPass(torch.from_numpy(GOOD)), batch_size=4)
    with pytest.raises(ValueError, match=r"^batch 3 of epoch 1 holds NaN values"):
        make_vae(batch_size=4).fit(data)


def test_bad_validation_batch_names_the_validation_batch():
    val = DataLoader(TensorDataset(batches_with(0, float("nan"))), batch_size=4)
    with pytest.raises(ValueError,
                       match=r"^validation batch 2 of epoch 0 holds NaN values"):
        make_vae(batch_size=4, num_sanity_val_steps=0).fit(GOOD, val_dataloader=val)


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool])
def test_integer_batches_are_refused_before_training(dtype):
    # Arrays are copied into nidl's float32 tensor anyway; the batches of a
    # loader reach the model as they are, and an integer batch would fail
    # deep inside the encoder.
    name = str(dtype).removeprefix("torch.")
    vae = make_vae()
    loader = DataLoader(TensorDataset(torch.from_numpy(GOOD).to(dtype)), batch_size=4)
    with pytest.raises(ValueError,
                       match=rf"first batch of the DataLoader holds {name} values, "
                       r"not floating-point ones; make the dataset return "
                       r"floating-point"):
        vae.fit(loader)
    assert vae.encoder.training_calls == 0


def test_integer_batch_after_a_float_one_is_refused():
    samples = [torch.from_numpy(row) for row in GOOD]
    samples[8:12] = [sample.long() for sample in samples[8:12]]
    with pytest.raises(ValueError, match=r"^batch 2 of epoch 0 holds int64 values"):
        make_vae(batch_size=4).fit(DataLoader(Samples(samples), batch_size=4))


@pytest.fixture
def more_cpus(monkeypatch):
    """Lightning advises workers only on machines with more than two cores."""
    from pytorch_lightning.trainer.connectors import data_connector

    monkeypatch.setattr(data_connector, "suggested_max_num_workers",
                        lambda n_devices: 8)


def worker_warnings(fit):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()
    return [str(w.message) for w in caught
            if "does not have many workers" in str(w.message)]


def test_worker_advice_is_kept_for_a_dataset_read_sample_by_sample(more_cpus):
    data = Samples(torch.from_numpy(GOOD))
    caught = worker_warnings(
        lambda: make_vae(batch_size=4).fit(DataLoader(data, batch_size=4),
                                           val_dataloader=data)
    )
    assert any("'train_dataloader'" in message for message in caught)
    assert any("'val_dataloader'" in message for message in caught)


@pytest.mark.parametrize("kind", [np.asarray, torch.from_numpy])
def test_worker_advice_is_silenced_for_in_memory_arrays(more_cpus, kind):
    caught = worker_warnings(
        lambda: make_vae(batch_size=4).fit(kind(GOOD), val_dataloader=kind(GOOD))
    )
    assert caught == []
