"""
A VAE on brain images: what the latent space knows about age
============================================================

Neuroimaging pipelines turn images into features with a masker before any
model. Here a ``NiftiMasker`` and a VAE form one scikit-learn pipeline,
trained on a synthetic cohort built from the MNI152 template (nothing is
downloaded) in which age thins the grey matter and enlarges the ventricles,
mixed with head size, deformations, site effects and noise. We check how
much of age a ridge regression reads from the latent means, and decode
latent traversals back to brain images to see what each dimension changes.
"""

# %%
# Data: 150 subjects at 4 mm; the table holds the factors that generated
# each image.
import matplotlib.pyplot as plt
import numpy as np
import torch
from nilearn import plotting
from nilearn.datasets import load_mni152_brain_mask
from nilearn.maskers import NiftiMasker
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from torch import nn

from nidl.datasets import make_brain_cohort
from nidl.estimators.autoencoders import VAE
from nidl.plotting import latent_traversals, plot_latent_scatter

images, factors = make_brain_cohort(150, random_state=0)
print(factors.describe().round(2))

# %%
# Pipeline: the masker keeps the brain voxels, a VAE with MLP encoder and
# decoder compresses them to 8 latent dimensions.
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
          max_epochs=30, enable_progress_bar=False, accelerator="cpu")
pipeline = make_pipeline(NiftiMasker(mask, standardize=None), vae)
latents = pipeline.fit(images).transform(images)

# %%
# Age from the latents: the cross-validated R^2 of a ridge regression,
# next to the same regression on random latents (chance).
age = factors.age.to_numpy()
ridge = RidgeCV(alphas=np.logspace(-3, 3, 13))
r2 = cross_val_score(ridge, latents, age, cv=5, scoring="r2").mean()
random_latents = np.random.default_rng(0).normal(size=latents.shape)
r2_random = cross_val_score(ridge, random_latents, age, cv=5, scoring="r2").mean()
print(f"age R^2 from the VAE latents: {r2:.2f} (random latents: {r2_random:.2f})")

correlations = np.array(
    [[np.corrcoef(latents[:, j], factors[name])[0, 1] for j in range(latent_dim)]
     for name in factors.columns]
)
dim = int(np.abs(correlations[0]).argmax())
print(f"latent dimension most correlated with age: z{dim} "
      f"(r={correlations[0, dim]:.2f})")
plot_latent_scatter(latents, age, dims=(dim, (dim + 1) % latent_dim), factor_name="age")

# %%
# Traversal: decode the origin of the latent space with that dimension set
# to -2.5 and to 2.5, map both back to images with the masker and show
# their difference, the change this dimension makes in the brain.
decoded = latent_traversals(vae, dims=[dim], n_steps=2)[0]
difference = pipeline[0].inverse_transform(decoded[1] - decoded[0])
display = plotting.plot_stat_map(
    difference, bg_img=images[0], cut_coords=(0, -10, 10),
    title=f"decoded change along z{dim} (-2.5 to 2.5)",
)

# %%
# The two ends of the traversal, as anatomical images.
fig, axes = plt.subplots(2, 1, figsize=(7, 5))
for ax, code, title in zip(axes, decoded, ("z = -2.5", "z = +2.5")):
    plotting.plot_anat(pipeline[0].inverse_transform(code), axes=ax,
                       cut_coords=(0, -10, 10), title=f"z{dim} {title}")
plt.show()
