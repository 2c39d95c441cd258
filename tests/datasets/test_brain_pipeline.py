"""A masker and a VAE in one scikit-learn pipeline, on the synthetic cohort."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from torch import nn

pytest.importorskip("nilearn")

from nilearn.datasets import load_mni152_brain_mask
from nilearn.maskers import NiftiMasker

from nidl.datasets import make_brain_cohort
from nidl.estimators.autoencoders import VAE


def test_masker_vae_pipeline_latents_predict_age():
    images, factors = make_brain_cohort(120, random_state=0)
    mask = load_mni152_brain_mask(resolution=4)
    n_voxels = int(mask.get_fdata().sum())
    latent_dim, hidden = 8, 64
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(n_voxels, hidden), nn.ReLU())
    decoder = nn.Sequential(
        nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_voxels)
    )
    vae = VAE(encoder, decoder, encoder_out_dim=hidden, latent_dim=latent_dim,
              lr=1e-3, batch_size=32, stochastic_transform=False, random_state=0,
              max_epochs=20, enable_progress_bar=False, accelerator="cpu")
    pipeline = make_pipeline(NiftiMasker(mask), vae)
    latents = pipeline.fit(images).transform(images)
    assert latents.shape == (120, latent_dim) and np.isfinite(latents).all()
    # The pipeline also maps latents back to images.
    decoded = pipeline.inverse_transform(latents[:2])
    assert decoded.shape == (*mask.shape, 2)

    age = factors.age.to_numpy()
    ridge = RidgeCV(alphas=np.logspace(-3, 3, 13))
    r2 = cross_val_score(ridge, latents, age, cv=5, scoring="r2").mean()
    random_latents = np.random.default_rng(0).normal(size=latents.shape)
    r2_random = cross_val_score(ridge, random_latents, age, cv=5, scoring="r2").mean()
    assert r2 > 0.2
    assert r2 > r2_random + 0.2
