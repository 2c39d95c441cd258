"""
Normative modelling with a VAE: which subjects deviate, and where
=================================================================

A normative model learns the range of healthy brains, then says how far,
and where, each new subject departs from it. Here a VAE is trained on the
images of healthy controls, calibrated on other controls, and used to score
new controls and patients whose atrophy we know voxel by voxel, since the
cohort is synthetic (built from the MNI152 template, nothing is
downloaded). We measure how well the subject-level scores separate
patients from controls, what their p-values are worth, and compare one
patient's map of significant deviations with the true extent of the
atrophy.
"""

# %%
# Data: 210 controls and 20 patients whose left hippocampus lost half of
# its contrast (a ball of 10 mm), on a grid of 4 mm voxels. The controls
# are split three ways: 90 to train the VAE, 80 to calibrate the normative
# model (to learn what a normal deviation is), and 40 to test it with the
# patients. The calibration controls train nothing, so they cost little,
# and the more of them, the finer and steadier the p-values below.
import matplotlib.pyplot as plt
import numpy as np
import torch
from nilearn import plotting
from nilearn.datasets import load_mni152_brain_mask
from nilearn.maskers import NiftiMasker
from scipy.stats import binom
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler
from torch import nn

from nidl.datasets import make_brain_cohort_with_atrophy, make_brain_parcellation
from nidl.estimators.autoencoders import VAE
from nidl.normative import NormativeModel

images, factors, atrophy = make_brain_cohort_with_atrophy(
    210, 20, region="left_hippocampus", radius=10, strength=0.5, random_state=0
)
train, calibration, test = slice(0, 90), slice(90, 170), slice(170, 230)
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
# The VAE that will learn the controls: an MLP encoder and decoder around
# 8 latent dimensions, with a learned likelihood scale and a strong weight
# decay, as the user guide on brains recommends (a narrower hidden layer,
# to keep this example fast). ``stochastic_transform=False`` makes
# ``transform`` return the posterior means, which the normative model
# needs. It is not fitted here: the normative model fits it.
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

# %%
# The normative model fits a clone of the VAE on the training controls
# (``normative.estimator_``), then runs the calibration controls, which the
# VAE has never seen, through it: for each voxel, the mean and spread of
# their reconstruction error is what a normal deviation is for a brain new
# to the VAE, as every subject to test will be. We hand the calibration
# controls over with ``X_calibration`` rather than let ``calibration_size``
# draw them at random from the controls given as ``X``, because the voxels
# were standardised on the training controls alone: the three groups stay
# apart from the first step to the last.
#
# The parcellation gives region-wise scores; ``summary="max_abs"`` scores
# a subject by its most deviant region, as suits an atrophy confined to one
# place.
regions = make_brain_parcellation(n_regions=200)
normative = NormativeModel(vae, masker=masker, regions=regions, summary="max_abs",
                           random_state=0)
normative.fit(X[train], X_calibration=X[calibration])
deviations = normative.deviations(X[test])

# %%
# Which subjects deviate
# ----------------------
# Subject-level scores, patients against new controls. The latent distance
# (robust Mahalanobis distance of the latent means) looks at the whole
# brain at once; a small atrophy barely moves it. The region scores find
# it. A PCA with as many components, wrapped the same way, is the
# baseline; with 20 patients and 40 controls these AUCs are rough (the
# benchmark ``benchmarks/bench_normative.py`` measures them on 100 of
# each).
baseline = NormativeModel(PCA(latent_dim, random_state=0), masker=masker,
                          regions=regions, summary="max_abs", random_state=0)
baseline.fit(X[train], X_calibration=X[calibration])
baseline_scores = baseline.deviations(X[test]).score
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
# A score says who deviates most, not whether a subject is abnormal. The
# p-value of each subject's score answers that: it is the rank of the
# score among those of the calibration controls (each scored as a new
# subject, by statistics it did not enter), so that a new healthy control
# gets a p-value of at most 0.05 with probability at most 0.05, whatever
# the law of the scores. With 80 calibration controls the smallest p-value
# is 1/81, that of a subject more deviant than every one of them.
#
# The share of test controls flagged at 0.05 should be near or below 0.05.
# With 40 test controls this is only a rough check: one control is 0.025
# of them, and the share moves with the calibration controls drawn
# (``benchmarks/bench_normative_calibration.py`` measures it on many
# more). Next to each count of flagged controls we print the probability
# that a rate of exactly 0.05 flags at least as many of 40: only a small
# one would point at a p-value that is not calibrated.
alpha = 0.05
controls, patients = is_patient == 0, is_patient == 1


def check_controls(name, flagged):
    """Print how many test controls are flagged, and how surprising it is."""
    k, n = int(flagged.sum()), flagged.size
    print(f"{name}: test controls flagged: {k} of {n} (a rate of {alpha} "
          f"flags {k} or more with probability {binom.sf(k - 1, n, alpha):.2f})")


print(f"smallest p-value possible: {1 / (normative.calibration_.n_samples + 1):.3f}")
check_controls("subject p-value", deviations.p_value[controls] <= alpha)
print(f"patients with p <= {alpha}: {np.sum(deviations.p_value[patients] <= alpha)}"
      f" of {patients.sum()}")

# %%
# Where they deviate
# ------------------
# Each voxel of a subject has a z-score, and a p-value: the rank of its
# ``|z|`` among the ``|z|`` of every voxel of every calibration control
# (which takes the standardised residuals of all voxels to share one law,
# whatever it is). A brain has thousands of voxels, so the p-values are
# corrected across them before a threshold is set. With
# ``correction="fdr"`` (Benjamini--Hochberg), flagging the voxels whose
# corrected p-value is at most ``alpha`` keeps the expected share of
# normal voxels among the flagged ones at most ``alpha``.
#
# We compare the voxels flagged with the true atrophy: precision is the
# share of the flagged voxels that lie in the atrophy, sensitivity the
# share of the atrophy that is flagged. We follow the patient with the
# largest atrophy.
truth = np.asarray(masker.transform(atrophy[test])) > 0.5
volume = factors.atrophy_volume.to_numpy()[test][patients]
patient = int(np.argmax(volume))  # among the patients
subject = test.start + int(np.flatnonzero(patients)[patient])


def report(name, corrected):
    """Print the voxels flagged in the patients, against the true atrophy."""
    flagged, inside = corrected[patients] <= alpha, truth[patients]
    n_flagged = flagged.sum(axis=1)
    n, hits = n_flagged[patient], np.sum(flagged[patient] & inside[patient])
    precision = f", precision {hits / n:.2f}" if n else ""
    print(f"{name}: patients with a voxel flagged: {np.sum(n_flagged > 0)} of "
          f"{n_flagged.size}; subject {subject} ({inside[patient].sum()} "
          f"atrophied voxels): {n} flagged{precision}, "
          f"sensitivity {hits / inside[patient].sum():.2f}")


report("FDR, strength 0.5", deviations.corrected_p_values)

# %%
# Half of the contrast lost in a small region is not enough for single
# voxels to stand out among the most deviant voxels of healthy brains. A
# region pools its voxels: its mean residual is less noisy than that of a
# single voxel. The region p-values rank each region's ``|z|`` among those
# of every region of every calibration control, corrected across the 200
# regions. For each patient, we check the region that holds most of the
# atrophy, and count the flagged regions that hold none of it.
labels = normative.regions_
region_flagged = deviations.region_corrected_p_values <= alpha
hits = false_regions = 0
for inside, flagged in zip(truth[patients], region_flagged[patients]):
    atrophied = np.isin(normative.region_labels_, labels[inside])
    main = np.bincount(labels[inside & (labels > 0)]).argmax()
    hits += flagged[normative.region_labels_ == main][0]
    false_regions += np.sum(flagged & ~atrophied)
print(f"FDR over regions: patients with the region of their atrophy flagged: "
      f"{hits} of {patients.sum()}; flagged regions without atrophy: "
      f"{false_regions} in all patients")
check_controls("FDR over regions", region_flagged[controls].any(axis=1))

# %%
# A stronger atrophy
# ------------------
# The same patients, with 90% of the contrast of the hippocampus lost (the
# cohort drawn with the same seed has the same subjects and the same
# atrophied voxels; only the loss differs): their voxels now stand out.
images_90, _, atrophy_90 = make_brain_cohort_with_atrophy(
    210, 20, region="left_hippocampus", radius=10, strength=0.9, random_state=0
)
X_90 = scaler.transform(masker.transform(images_90[test])).astype(np.float32)
deviations_90 = normative.deviations(X_90)
report("FDR, strength 0.9", deviations_90.corrected_p_values)

# %%
# The map of the patient, over the patient's image, next to the true
# atrophy. Every voxel left in the map has passed the test; the threshold
# of the plot, just below the smallest ``|z|`` left, only hides the zeros
# (and marks on the colour bar the ``|z|`` the test asked of this patient).
z_map = normative.deviation_maps(X_90[subject - test.start][None], alpha=alpha,
                                 correction="fdr").slicer[..., 0]
z_left = np.abs(z_map.get_fdata())
cut = (-26, -22, -12)  # the centre of the left hippocampus, in MNI mm
fig, axes = plt.subplots(2, 1, figsize=(7, 5))
plotting.plot_stat_map(z_map, bg_img=images_90[subject],
                       threshold=0.99 * min(z_left[z_left > 0], default=1.0),
                       cut_coords=cut, axes=axes[0], symmetric_cbar=True,
                       title=f"z-scores, FDR at {alpha}", draw_cross=False)
plotting.plot_roi(atrophy_90[subject], bg_img=images_90[subject], cut_coords=cut,
                  axes=axes[1], title="true atrophy", draw_cross=False)

# %%
# Healthy controls check the thresholds: a control has no abnormal voxel,
# so any voxel flagged in a control is a false discovery. For a healthy
# subject, a false discovery rate of ``alpha`` is a probability of
# ``alpha`` of flagging any voxel, so the FDR threshold should leave the
# maps of about 95% of the controls empty, or more.
#
# ``correction="fwe"`` bounds that probability directly, whatever the
# dependence between voxels: a voxel's corrected p-value is the rank of
# its ``|z|`` among the largest ``|z|`` of each calibration control's whole
# map. It is stricter, so it flags fewer voxels.
fwe = normative.deviations(X[test], correction="fwe").corrected_p_values
for name, corrected in (("FDR", deviations.corrected_p_values), ("FWE", fwe)):
    check_controls(f"{name} over voxels", (corrected[controls] <= alpha).any(axis=1))
report("FWE, strength 0.9",
       normative.deviations(X_90, correction="fwe").corrected_p_values)
plt.show()

# %%
# At half the contrast lost, the subject-level test flags most patients
# and the regions say where, but single voxels do not stand out: a voxel's
# p-value ranks it among the voxels of all the healthy calibration brains,
# and a correction over thousands of voxels keeps only those beyond nearly
# all of them. At 90% lost, most of the voxels the FDR flags lie in the
# atrophy, and they cover about half of it; the FWE, stricter, flags fewer
# voxels, nearly all in the atrophy. The healthy controls stay within what
# chance allows, which is what makes these maps worth reading: a voxel
# flagged is a voxel that healthy brains rarely match.
