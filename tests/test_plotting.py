import sys

import numpy as np
import pytest
from torch import nn

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from nidl.estimators.autoencoders import VAE
from nidl.plotting import (
    latent_traversals,
    plot_latent_scatter,
    plot_latent_traversals,
    plot_reconstructions,
)


@pytest.fixture(scope="module")
def image_vae():
    X = np.random.default_rng(0).random((32, 4, 4)).astype(np.float32)
    decoder = nn.Sequential(nn.Linear(3, 16), nn.Unflatten(1, (4, 4)))
    vae = VAE(nn.Flatten(), decoder, encoder_out_dim=16, latent_dim=3,
              stochastic_transform=False, random_state=0, max_epochs=1,
              enable_progress_bar=False, accelerator="cpu")
    return vae.fit(X), X


def test_latent_traversals_move_one_dimension(image_vae):
    vae, X = image_vae
    decoded = latent_traversals(vae, X, dims=[2, 0], n_steps=4, limit=2.0)
    assert decoded.shape == (2, 4, 4, 4)
    start = vae.transform(X[:1])[0]
    codes = np.tile(start, (4, 1))
    codes[:, 2] = np.linspace(-2, 2, 4)
    np.testing.assert_allclose(decoded[0], vae.inverse_transform(codes), rtol=1e-5)
    with pytest.raises(ValueError, match="latent_dim=3"):
        latent_traversals(vae, dims=[3])


def test_figures(image_vae):
    vae, X = image_vae
    fig = plot_latent_traversals(vae, X, n_steps=5)
    assert len(fig.axes) == 15
    assert fig.axes[0].get_ylabel() == "z0"
    fig = plot_reconstructions(vae, X, n_images=4)
    assert len(fig.axes) == 8
    images = [ax.get_images()[0].get_array() for ax in fig.axes]
    np.testing.assert_allclose(images[0], X[0])
    ax = plot_latent_scatter(vae.transform(X), X[:, 0, 0], dims=(1, 2),
                             factor_name="pixel")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("z1", "z2")
    matplotlib.pyplot.close("all")


def test_flat_samples_need_an_image_shape(image_vae):
    X = np.random.default_rng(0).random((16, 6)).astype(np.float32)
    vae = VAE(nn.Linear(6, 4), nn.Linear(2, 6), encoder_out_dim=4, latent_dim=2,
              random_state=0, max_epochs=1, enable_progress_bar=False,
              accelerator="cpu")
    vae.fit(X)
    with pytest.raises(ValueError, match="image_shape"):
        plot_reconstructions(vae, X)
    assert len(plot_reconstructions(vae, X, n_images=2, image_shape=(2, 3)).axes) == 4
    matplotlib.pyplot.close("all")


def test_scatter_checks_its_input():
    codes = np.zeros((5, 2))
    with pytest.raises(ValueError, match="one factor value per sample"):
        plot_latent_scatter(codes, np.zeros(4))
    with pytest.raises(ValueError, match="dims"):
        plot_latent_scatter(codes, np.zeros(5), dims=(0, 2))


def test_without_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"nidl\[plotting\]"):
        plot_latent_scatter(np.zeros((5, 2)), np.zeros(5))
