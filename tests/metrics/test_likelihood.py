import math

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from torch import nn
from torch.distributions import MultivariateNormal

from nidl.estimators.autoencoders import VAE
from nidl.losses._likelihood import negative_log_likelihood
from nidl.metrics import elbo, log_likelihood
from tests.conftest import QUIET


@pytest.fixture(scope="module")
def linear_vae():
    """A VAE with a linear decoder, whose log p(x) is known in closed form."""
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(200, 2)) @ rng.normal(size=(2, 3))).astype(np.float32)
    torch.manual_seed(0)
    vae = VAE(
        nn.Sequential(nn.Linear(3, 16), nn.Tanh()), nn.Linear(2, 3),
        encoder_out_dim=16, latent_dim=2, lr=1e-2, random_state=0, batch_size=50,
        **{**QUIET, "max_epochs": 20},
    )
    return vae.fit(X), X


def exact_log_likelihood(vae, X):
    # x = W z + b + e with z ~ N(0, I) and e ~ N(0, I / 2).
    W, b = vae.decoder.weight.detach().double(), vae.decoder.bias.detach().double()
    covariance = W @ W.T + 0.5 * torch.eye(3, dtype=torch.float64)
    log_prob = MultivariateNormal(b, covariance).log_prob(torch.as_tensor(X).double())
    return float(log_prob.mean())


def test_importance_weighted_bound_reaches_the_exact_likelihood(linear_vae):
    vae, X = linear_vae
    exact = exact_log_likelihood(vae, X)
    one, few, many = (log_likelihood(vae, X, n_samples=k) for k in (1, 10, 2000))
    assert one < few < many <= exact + 0.01
    assert many == pytest.approx(exact, abs=0.03)
    # One importance sample is the ELBO, up to Monte Carlo error.
    assert one == pytest.approx(elbo(vae, X), abs=0.15)


def test_elbo_is_the_estimator_score(linear_vae):
    vae, X = linear_vae
    assert elbo(vae, X) == vae.score(X)


def test_seeded_by_random_state(linear_vae):
    vae, X = linear_vae
    assert log_likelihood(vae, X, n_samples=5) == log_likelihood(vae, X, n_samples=5)


@pytest.mark.parametrize(
    "name, expected",
    [
        # log N(1; 0, 1/2) = -1 - log(pi) / 2; log Laplace(1; 0, 1) = -1 - log 2;
        # log Bernoulli(1; 0.25) = log 0.25.
        ("normal", -1 - 0.5 * math.log(math.pi)),
        ("laplace", -1 - math.log(2)),
        ("bernoulli", math.log(0.25)),
    ],
)
def test_log_prob_constants_on_paper(name, expected):
    mean = torch.full((1, 3), 0.25 if name == "bernoulli" else 0.0)
    x = torch.ones(1, 3)
    assert -float(negative_log_likelihood(mean, x, name)) == pytest.approx(
        3 * expected, rel=1e-6
    )


def test_bernoulli_decoder_output():
    X = (np.random.default_rng(0).random((40, 6)) > 0.5).astype(np.float32)

    class BernoulliDecoder(nn.Linear):
        def forward(self, z):
            return torch.distributions.Bernoulli(logits=super().forward(z))

    vae = VAE(nn.Linear(6, 8), BernoulliDecoder(2, 6), encoder_out_dim=8, latent_dim=2,
              default_dist="bernoulli", random_state=0,
              **{**QUIET, "max_epochs": 1}).fit(X)
    bound = log_likelihood(vae, X, n_samples=20)
    # Six binary features: the bound lies between 6 log(1/2) - slack and 0.
    assert -8 < bound < 0
    assert bound > elbo(vae, X)


def test_errors(linear_vae):
    vae, X = linear_vae
    with pytest.raises(ValueError, match="n_samples"):
        log_likelihood(vae, X, n_samples=0)
    with pytest.raises(ValueError, match="features"):
        log_likelihood(vae, X[:, :2])
    unfitted = VAE(nn.Linear(3, 4), nn.Linear(2, 3), encoder_out_dim=4, latent_dim=2)
    with pytest.raises(NotFittedError):
        log_likelihood(unfitted, X)
