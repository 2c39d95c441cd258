import numpy as np
import pytest
import torch
from sklearn.base import is_clusterer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nidl.estimators.autoencoders import JointVAE
from nidl.losses import JointVAELoss
from tests.conftest import QUIET, History, history, make_estimator


def make_vae(n_features=8, hidden=16, **params):
    return make_estimator(JointVAE, n_features, hidden=hidden, **params)


@pytest.fixture
def data():
    return np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)


def test_temperature_anneals_to_its_minimum_and_is_logged(data):
    vae = make_vae(
        temperature=1.0, min_temperature=0.25, temperature_steps=4,
        callbacks=[History()]
    ).fit(data)
    temperatures = [s["train/temperature"] for s in history(vae).steps]
    # 1.0 * 0.25 ** (t / 4): halved every two steps, then flat at the minimum.
    expected = [1.0, 0.25**0.25, 0.5, 0.25**0.75, 0.25, 0.25]
    assert temperatures == pytest.approx(expected)
    # The posterior used in training is relaxed at that temperature.
    assert float(vae.encode(torch.from_numpy(data)).categoricals[0].temperature) == 0.25


def test_capacities_are_logged_and_discrete_is_capped(data):
    vae = make_vae(
        categorical_dims=(3, 2), continuous_capacity_max=6.0,
        continuous_capacity_steps=6,
        discrete_capacity_max=10.0, discrete_capacity_steps=5, callbacks=[History()],
    ).fit(data)
    steps = history(vae).steps
    assert [s["train/continuous_capacity"] for s in steps] == pytest.approx(
        [0, 1, 2, 3, 4, 5]
    )
    cap = np.log(3) + np.log(2)
    assert [s["train/discrete_capacity"] for s in steps] == pytest.approx(
        [0.0] + [cap] * 5, rel=1e-6
    )
    assert isinstance(vae.criterion, JointVAELoss)


def test_transform_gives_means_then_class_probabilities(data):
    vae = make_vae(latent_dim=2, categorical_dims=(3, 4)).fit(data)
    codes = vae.transform(data)
    assert codes.shape == (40, 2 + 3 + 4)
    np.testing.assert_allclose(codes[:, 2:5].sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(codes[:, 5:].sum(1), 1.0, rtol=1e-5)
    with torch.no_grad():
        means = vae.fc_mu(vae.encoder(torch.from_numpy(data))).numpy()
    np.testing.assert_allclose(codes[:, :2], means, rtol=1e-5, atol=1e-6)
    # Deterministic: the same codes every time.
    np.testing.assert_array_equal(codes, vae.transform(data))
    names = vae.get_feature_names_out()
    assert len(names) == 9 and names[0] == "jointvae0"


def test_predict_gives_the_most_likely_category(data):
    one = make_vae(categorical_dims=(3,)).fit(data)
    labels = one.predict(data)
    assert labels.shape == (40,) and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, one.transform(data)[:, 2:].argmax(1))
    two = make_vae(categorical_dims=(3, 4)).fit(data)
    labels = two.predict(data)
    codes = two.transform(data)
    assert labels.shape == (40, 2)
    np.testing.assert_array_equal(labels[:, 0], codes[:, 2:5].argmax(1))
    np.testing.assert_array_equal(labels[:, 1], codes[:, 5:].argmax(1))
    tensor_labels = two.predict(torch.from_numpy(data))
    assert isinstance(tensor_labels, torch.Tensor)
    np.testing.assert_array_equal(tensor_labels.numpy(), labels)


def test_fit_predict_is_fit_then_predict(data):
    labels = make_vae().fit_predict(data)
    np.testing.assert_array_equal(labels, make_vae().fit(data).predict(data))
    assert is_clusterer(make_vae())


def test_sample_inverse_transform_and_score(data):
    vae = make_vae(categorical_dims=(3,)).fit(data)
    assert vae.sample(5).shape == (5, 8)
    codes = vae.transform(data)
    assert vae.inverse_transform(codes).shape == (40, 8)
    with pytest.raises(ValueError, match="JointVAE codes have 5"):
        vae.inverse_transform(codes[:, :2])
    assert np.isfinite(vae.score(data))


def test_accepts_a_dataloader(data):
    loader = DataLoader(TensorDataset(torch.from_numpy(data)), batch_size=8)
    vae = make_vae().fit(loader)
    assert vae.transform(loader).shape == (40, 5)
    assert vae.predict(loader).shape == (40,)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"categorical_dims": ()}, "categorical_dims"),
        ({"categorical_dims": 10}, "categorical_dims"),
        ({"categorical_dims": (10, 1)}, r"categorical_dims\[1\]"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": 0.5, "min_temperature": 0.6}, "min_temperature"),
        ({"temperature_steps": -1}, "temperature_steps"),
        ({"discrete_gamma": -1.0}, "discrete_gamma"),
    ],
)
def test_invalid_parameters_fail_before_training(params, match, data):
    vae = make_vae(lazy_decoder=True).set_params(**params)
    with pytest.raises(ValueError, match=match):
        vae.fit(data)
    assert not hasattr(vae, "n_steps_")


def test_decoder_of_the_wrong_width_is_explained(data):
    encoder = nn.Sequential(nn.Linear(8, 16), nn.ReLU())
    vae = JointVAE(encoder, nn.Linear(2, 8), encoder_out_dim=16, latent_dim=2,
                   categorical_dims=(3,), **QUIET)
    with pytest.raises(ValueError, match="make it take 5 inputs"):
        vae.fit(data)
