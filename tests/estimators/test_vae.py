import warnings

import numpy as np
import pytest
import torch
from pytorch_lightning.callbacks import Callback
from sklearn.exceptions import NotFittedError
from torch.distributions import Normal, kl_divergence
from torch.utils.data import DataLoader, TensorDataset

from nidl.losses import BetaVAELoss
from tests.conftest import make_mlp_vae


def as_kind(X, kind, batch_size=16):
    tensor = torch.from_numpy(X)
    if kind == "ndarray":
        return X
    if kind == "tensor":
        return tensor
    if kind == "dataset":
        return TensorDataset(tensor)
    return DataLoader(TensorDataset(tensor), batch_size=batch_size)


@pytest.mark.parametrize("kind", ["ndarray", "tensor", "dataset", "dataloader"])
def test_each_input_kind_gives_one_latent_row_per_sample(kind, small_data):
    X = as_kind(small_data, kind)
    Z = make_mlp_vae(latent_dim=3).fit(X).transform(X)
    assert Z.shape == (len(small_data), 3)
    assert isinstance(Z, np.ndarray if kind == "ndarray" else torch.Tensor)
    if isinstance(Z, torch.Tensor):
        assert Z.device.type == "cpu"


def test_xy_batches_use_x_only(small_data):
    y = torch.arange(len(small_data))
    loader = DataLoader(TensorDataset(torch.from_numpy(small_data), y), batch_size=16)
    vae = make_mlp_vae(stochastic_transform=False).fit(loader)
    np.testing.assert_allclose(vae.transform(loader).numpy(), vae.transform(small_data),
                               rtol=1e-6)


def test_deterministic_transform_is_posterior_mean(small_data):
    vae = make_mlp_vae(stochastic_transform=False).fit(small_data)
    with torch.no_grad():
        x = torch.from_numpy(small_data)
        expected = vae.fc_mu(vae.encoder(x)).numpy()
    np.testing.assert_allclose(vae.transform(small_data), expected, rtol=1e-5,
                               atol=1e-6)


def test_stochastic_transform_samples_around_the_mean(small_data):
    vae = make_mlp_vae(random_state=0).fit(small_data)
    mean = vae.set_params(stochastic_transform=False).transform(small_data)
    sample = vae.set_params(stochastic_transform=True).transform(small_data)
    assert not np.allclose(sample, mean)
    # Samples stay within a few posterior standard deviations of the mean.
    with torch.no_grad():
        std = vae.encode(torch.from_numpy(small_data)).scale.numpy()
    assert np.all(np.abs(sample - mean) < 6 * std)


@pytest.mark.parametrize("stochastic", [False, True])
def test_same_random_state_gives_identical_latents(stochastic, small_data):
    first = make_mlp_vae(stochastic_transform=stochastic,
                         random_state=3).fit(small_data)
    second = make_mlp_vae(stochastic_transform=stochastic,
                          random_state=3).fit(small_data)
    np.testing.assert_array_equal(first.transform(small_data),
                                  second.transform(small_data))


def test_different_random_states_differ(small_data):
    first = make_mlp_vae(random_state=1, stochastic_transform=False).fit(small_data)
    second = make_mlp_vae(random_state=2, stochastic_transform=False).fit(small_data)
    assert not np.allclose(first.transform(small_data), second.transform(small_data))


def test_fit_leaves_global_random_stream_alone(small_data):
    vae = make_mlp_vae(random_state=0)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    vae.fit(small_data)
    torch.testing.assert_close(torch.rand(3), expected)


def test_refit_starts_from_the_initial_weights(small_data):
    vae = make_mlp_vae(stochastic_transform=False)
    first = vae.fit(small_data).transform(small_data)
    second = vae.fit(small_data).transform(small_data)
    np.testing.assert_array_equal(first, second)


def test_validation_data_is_evaluated_and_losses_logged(small_data):
    train = DataLoader(TensorDataset(torch.from_numpy(small_data[:30])), batch_size=10)
    val = DataLoader(TensorDataset(torch.from_numpy(small_data[30:])), batch_size=10)
    vae = make_mlp_vae().fit(train, val)
    for stage in ("train", "val"):
        for term in ("loss", "rec_loss", "kl_loss"):
            values = vae.history_[f"{stage}/{term}"]
            assert len(values) == vae.n_epochs_ and np.all(np.isfinite(values))
    assert vae.n_epochs_ == 2
    assert vae.n_steps_ == 2 * 3


class StepOutputs(Callback):
    def __init__(self):
        self.outputs = []

    def __deepcopy__(self, memo):
        return self  # the fit's copy records for the test

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.outputs.append(
            {key: float(value.detach()) for key, value in outputs.items()}
        )


def test_training_step_returns_consistent_terms(small_data):
    recorded = StepOutputs()
    vae = make_mlp_vae(beta=2.5, callbacks=[recorded]).fit(small_data)
    assert len(recorded.outputs) == vae.n_steps_
    for losses in recorded.outputs:
        assert set(losses) == {"loss", "rec_loss", "kl_loss"}
        assert losses["loss"] == pytest.approx(
            losses["rec_loss"] + 2.5 * losses["kl_loss"], rel=1e-5
        )
    assert isinstance(vae.criterion, BetaVAELoss)
    assert vae.criterion.beta == 2.5


def test_sample_decodes_prior_draws(small_data):
    vae = make_mlp_vae().fit(small_data)
    samples = vae.sample(5)
    assert isinstance(samples, torch.Tensor)
    assert samples.shape == (5, 8)
    assert samples.device == vae.device


def test_forward_samples_the_posterior(small_data):
    vae = make_mlp_vae(latent_dim=4).fit(small_data)
    z = vae(torch.from_numpy(small_data[:5]))
    assert z.shape == (5, 4)


@pytest.mark.parametrize("method", ["transform", "score", "inverse_transform"])
def test_unfitted_estimator_raises_not_fitted(method, small_data):
    with pytest.raises(NotFittedError):
        getattr(make_mlp_vae(), method)(small_data)


def test_fit_is_quiet_without_progress_bar(small_data, capfd):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_mlp_vae().fit(small_data)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert [str(w.message) for w in caught] == []


def test_batch_size_sets_the_number_of_steps(small_data):
    vae = make_mlp_vae(batch_size=8, max_epochs=1).fit(small_data)
    assert vae.n_steps_ == 5


def test_score_is_the_mean_elbo(small_data):
    vae = make_mlp_vae(stochastic_transform=False).fit(small_data)
    score = vae.score(small_data)
    assert np.isfinite(score)
    # The squared-error likelihood is a Normal of variance 1/2: its negative
    # log-likelihood adds 0.5 * log(pi) per feature to the squared error.
    x = torch.from_numpy(small_data)
    with torch.no_grad():
        q = vae.encode(x)
        p = vae.decoder(q.loc)
        bound_at_mean = -(
            ((p - x) ** 2).sum(1) + 8 * 0.5 * np.log(np.pi)
            + kl_divergence(q, Normal(0.0, 1.0)).sum(1)
        ).mean()
    # One posterior draw per sample is close to the bound at the mean.
    assert score == pytest.approx(float(bound_at_mean), rel=0.2)


def test_inverse_transform_decodes_to_data_shape(small_data):
    vae = make_mlp_vae(stochastic_transform=False).fit(small_data)
    Z = vae.transform(small_data)
    X_back = vae.inverse_transform(Z)
    assert isinstance(X_back, np.ndarray) and X_back.shape == small_data.shape
    with torch.no_grad():
        expected = vae.decoder(torch.from_numpy(Z)).numpy()
    np.testing.assert_allclose(X_back, expected, rtol=1e-5, atol=1e-6)
    assert isinstance(vae.inverse_transform(torch.from_numpy(Z)), torch.Tensor)
