"""
Normative modelling with a VAE: which subjects deviate, and where
=================================================================

A normative model learns the range of healthy brains, then says how far,
and where, each new subject departs from it. Here a VAE is trained on the
images of healthy controls, calibrated on other controls, and used to score
new controls and patients whose atrophy we know voxel by voxel, since the
cohort is synthetic (built from the MNI152 template, nothing is
downloaded). We measure how well the subject-level scores separate
patients from controls, and compare one patient's map of deviations with
the true extent of the atrophy.
"""

# %%
# Data: 130 controls and 20 patients whose left hippocampus lost half of
# its contrast (a ball of 10 mm), on a grid of 4 mm voxels. The controls
# are split three ways: to train the VAE, to calibrate the normative model,
# and to test it with the patients.
import matplotlib.pyplot as plt
import numpy as np
import torch
from nilearn import plotting
from nilearn.datasets import load_mni152_brain_mask
from nilearn.maskers import NiftiMasker
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler
from torch import nn

from nidl.datasets import make_brain_cohort_with_atrophy, make_brain_parcellation
from nidl.estimators.autoencoders import VAE
from nidl.normative import NormativeModel

images, factors, atrophy = make_brain_cohort_with_atrophy(
    130, 20, region="left_hippocampus", radius=10, strength=0.5, random_state=0
)
train, calibration, test = slice(0, 90), slice(90, 110), slice(110, 150)
print(factors.groupby("patient")[["age", "atrophy_volume"]].mean().round(1))

# %%
# Features: the voxels of the brain mask, each standardised by its mean and
# standard deviation over the training controls.
masker = NiftiMasker(load_mni152_brain_mask(resolution=4), standardize=None).fit()
scaler = StandardScaler().fit(masker.transform(images[train]))
X = scaler.transform(masker.transform(images)).astype(np.float32)
n_voxels = X.shape[1]
is_patient = factors.patient.to_numpy()[test]

# %%
# The VAE learns the controls: an MLP encoder and decoder around 8 latent
# dimensions, with a learned likelihood scale and a strong weight decay, as
# the user guide on brains recommends (a narrower hidden layer, to keep this
# example fast).
# ``stochastic_transform=False`` makes ``transform`` return the posterior
# means, which the normative model needs.
latent_dim, hidden = 8, 64
torch.manual_seed(0)
encoder = nn.Sequential(nn.Linear(n_voxels, hidden), nn.ReLU())
decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(),
                        nn.Linear(hidden, n_voxels))
vae = VAE(encoder, decoder, encoder_out_dim=hidden, latent_dim=latent_dim, lr=1e-4,
          weight_decay=10, observation_scale="shared", batch_size=16,
          stochastic_transform=False,
          random_state=0, max_epochs=100,
          enable_progress_bar=False, enable_model_summary=False, logger=False,
          enable_checkpointing=False, accelerator="cpu")
vae.fit(X[train])

# %%
# The normative model wraps the fitted VAE and is calibrated on held-out
# controls: for each voxel, the mean and spread of its reconstruction error
# in healthy brains new to the VAE. The parcellation gives region-wise
# scores; ``summary="max_abs"`` scores a subject by its most deviant
# region, as suits an atrophy confined to one place.
regions = make_brain_parcellation(n_regions=200)
normative = NormativeModel(vae, masker=masker, regions=regions, summary="max_abs",
                           random_state=0)
normative.fit(X[calibration])
deviations = normative.deviations(X[test])

# %%
# Subject-level scores: patients against new controls. The latent deviation
# (robust Mahalanobis distance of the latent means) looks at the whole
# brain at once; a small atrophy barely moves it. The region scores find it.
# A PCA with as many components, wrapped the same way, is the baseline; with
# 20 patients and 20 controls these AUCs are rough (the benchmark
# ``benchmarks/bench_normative.py`` measures them on 100 of each).
pca = PCA(latent_dim, random_state=0).fit(X[train])
baseline = NormativeModel(pca, masker=masker, regions=regions, summary="max_abs",
                          random_state=0)
baseline_scores = baseline.fit(X[calibration]).deviation_scores(X[test])
print(f"subject AUC, region scores:   "
      f"VAE {roc_auc_score(is_patient, deviations.score):.2f}"
      f"  (PCA {roc_auc_score(is_patient, baseline_scores):.2f})")
print(f"subject AUC, latent distance: "
      f"{roc_auc_score(is_patient, deviations.latent_distance):.2f}")

fig, ax = plt.subplots(figsize=(5, 3))
for group, name in ((0, "controls"), (1, "patients")):
    ax.hist(deviations.score[is_patient == group], bins=12, alpha=0.6, label=name)
ax.set_xlabel("subject-level deviation score")
ax.set_ylabel("subjects")
ax.legend()
fig.tight_layout()

# %%
# Where: the deviation z-map of one patient (voxels more than 3 standard
# deviations below what the VAE expects) over the patient's image, next to
# the true atrophy mask. The voxel-level AUC measures how well the z-scores
# rank the atrophied voxels above the others.
patient = int(np.flatnonzero(is_patient)[0])
subject = test.start + patient
z_map = normative.zscore_maps(X[subject:subject + 1])
truth = masker.transform(atrophy[subject]).ravel() > 0.5
voxel_auc = roc_auc_score(truth, -deviations.zscores[patient])
print(f"voxel AUC of this patient's z-scores: {voxel_auc:.2f}")

cut = (-26, -22, -12)
fig, axes = plt.subplots(2, 1, figsize=(7, 5))
plotting.plot_stat_map(z_map.slicer[..., 0], bg_img=images[subject], threshold=3,
                       cut_coords=cut, axes=axes[0], title="deviation z-scores",
                       draw_cross=False)
plotting.plot_roi(atrophy[subject], bg_img=images[subject], cut_coords=cut,
                  axes=axes[1], title="true atrophy", draw_cross=False)
plt.show()
