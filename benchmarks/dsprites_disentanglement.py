"""MIG and FactorVAE score of a VAE (beta=1) and a beta-VAE (beta=4) on dSprites-style data.

One fixed budget for every model: 10,000 training images drawn at random
from the grid, halved to 32x32 pixels (every second pixel), a convolutional
encoder and decoder with a Bernoulli likelihood, 6 latent dimensions, AdamW
with lr=1e-3 and no weight decay, batch size 64, 5 epochs, seed 0. MIG is computed on the
posterior means of 5,000 other images; the FactorVAE score with 800
training and 400 evaluation points of 64 images each.

Run from the repository root (about 2 minutes per model on one CPU core)::

    OMP_NUM_THREADS=1 python benchmarks/dsprites_disentanglement.py

Arguments choose other models: a number is the beta of a beta-VAE, ``tc``
followed by a number the beta of a beta-TCVAE (``... 1 4 tc6``).
"""

import sys
import time

import numpy as np
import torch

from nidl.datasets import draw_dsprites, dsprites_factor_values, make_dsprites
from nidl.estimators.autoencoders import VAE, BetaTCVAE
from nidl.metrics import factor_vae_score, mig_score
from nidl.nn import ConvDecoder, ConvEncoder

MODELS = sys.argv[1:] or ["1", "4"]
LATENT_DIM = 6
WIDTHS = (32, 32, 64)


def halve(images):
    return images[:, ::2, ::2].astype(np.float32)


def draw(factors):
    return halve(draw_dsprites(factors))


images, factors = make_dsprites(n_samples=15000, random_state=0)
X_train, X_test, factors_test = halve(images[:10000]), halve(images[10000:]), factors[10000:]

for model in MODELS:
    tc = model.startswith("tc")
    beta = float(model[2:] if tc else model)
    torch.manual_seed(0)
    encoder = ConvEncoder((32, 32), widths=WIDTHS, out_features=128)
    decoder = ConvDecoder(LATENT_DIM, (32, 32), widths=WIDTHS, distribution="bernoulli")
    extra = {"dataset_size": len(X_train)} if tc else {}
    vae = (BetaTCVAE if tc else VAE)(
        encoder, decoder, encoder_out_dim=128, latent_dim=LATENT_DIM, beta=beta,
        default_dist="bernoulli", lr=1e-3, weight_decay=0.0, batch_size=64,
        stochastic_transform=False, random_state=0, max_epochs=5,
        enable_progress_bar=False, accelerator="cpu", **extra,
    )
    start = time.perf_counter()
    vae.fit(X_train)
    fit_time = time.perf_counter() - start
    mig = mig_score(vae.transform(X_test), factors_test)
    fvae = factor_vae_score(vae, draw, dsprites_factor_values(), n_train=800,
                            n_eval=400, n_variance_estimate=5000, random_state=0)
    name = "beta-TCVAE" if tc else "VAE"
    print(f"{name} beta={beta:g}: MIG={mig:.3f} FactorVAE score={fvae:.3f} "
          f"test ELBO={vae.score(X_test):.1f} nats (fit {fit_time:.0f} s)", flush=True)
