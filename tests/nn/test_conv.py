import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli

from nidl.estimators.autoencoders import VAE
from nidl.nn import ConvDecoder, ConvEncoder


@pytest.mark.parametrize(
    "spatial_shape, channels",
    [((64, 64), None), ((17, 30), 3), ((25, 30, 17), None), ((12, 9, 16), 2)],
)
def test_encoder_decoder_shapes(spatial_shape, channels):
    batch = (5, *spatial_shape) if channels is None else (5, channels, *spatial_shape)
    encoder = ConvEncoder(spatial_shape, in_channels=channels, widths=(4, 8),
                          out_features=12)
    assert encoder(torch.zeros(batch)).shape == (5, 12)
    assert encoder.out_features == 12
    assert encoder.feature_shape == (8, *(s // 4 for s in spatial_shape))
    decoder = ConvDecoder(3, spatial_shape, out_channels=channels, widths=(4, 8))
    assert decoder(torch.zeros(5, 3)).shape == batch


def test_widths_and_depth():
    encoder = ConvEncoder((32, 32), widths=6, depth=3)
    convolutions = [m for m in encoder.convolutions if isinstance(m, torch.nn.Conv2d)]
    assert [m.out_channels for m in convolutions] == [6, 6, 6]
    assert len(ConvEncoder((32, 32)).widths) == 4
    decoder = ConvDecoder(2, (32, 32), widths=(4, 8, 16))
    layers = [m for m in decoder.convolutions
              if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [m.in_channels for m in layers] == [16, 8, 4]
    assert layers[-1].out_channels == 1


def test_bernoulli_decoder():
    p = ConvDecoder(2, (8, 8), widths=4, depth=2,
                    distribution="bernoulli")(torch.zeros(3, 2))
    assert isinstance(p, Bernoulli) and p.mean.shape == (3, 8, 8)


@pytest.mark.parametrize("distribution", [None, "bernoulli"])
def test_vae_on_images_and_volumes(distribution):
    rng = np.random.default_rng(0)
    for shape in ((16, 16), (8, 12, 10)):
        X = (rng.random((24, *shape)) > 0.5).astype(np.float32)
        encoder = ConvEncoder(shape, widths=4, depth=2, out_features=16)
        decoder = ConvDecoder(3, shape, widths=4, depth=2, distribution=distribution)
        vae = VAE(encoder, decoder, encoder_out_dim=encoder.out_features, latent_dim=3,
                  default_dist="bernoulli" if distribution else "normal", lr=1e-2,
                  random_state=0, max_epochs=2,
                  enable_progress_bar=False, accelerator="cpu")
        Z = vae.fit(X).transform(X)
        assert Z.shape == (24, 3) and np.isfinite(Z).all()
        decoded = vae.inverse_transform(Z)
        assert decoded.shape == X.shape
        if distribution == "bernoulli":
            assert ((decoded >= 0) & (decoded <= 1)).all()


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: ConvEncoder((64,)), "2 or 3 sizes"),
        (lambda: ConvEncoder((8, 8), widths=4, depth=4), "too small"),
        (lambda: ConvEncoder((8, 8), widths=(4, 4), depth=3), "depth=3"),
        (lambda: ConvEncoder((8, 8), widths=()), "at least one"),
        (lambda: ConvEncoder((16, 16), out_features=0), "out_features"),
        (lambda: ConvDecoder(2, (16, 16), distribution="normal"), "distribution"),
        (lambda: ConvDecoder(0, (16, 16)), "latent_dim"),
        (lambda: ConvEncoder((8, 8), in_channels=0), "in_channels"),
    ],
)
def test_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()
