"""
OpenBHB offline: a synthetic folder in its layout, read for brain age
=====================================================================

:class:`~nidl.datasets.OpenBHB` reads the OpenBHB brain-age cohort (healthy
people scanned on many scanners, with a validation set split into scanners
seen in training and scanners never seen) from a local folder, fetching the
files it lacks when the optional download package is installed.
:func:`~nidl.datasets.make_openbhb_folder` writes a small synthetic cohort
in the same folder layout, so that code written for OpenBHB runs offline:
here we write one, read grey-matter volumes and region-wise volumes with
``OpenBHB``, and fit a ridge regression of age on the regional volumes, with
its R^2 on the held-out scanners seen and unseen in training.
"""

# %%
# Write the folder: 150 subjects of the brain-cohort generator at 4 mm (the
# volumes are small, the region tables have OpenBHB's shapes). The subjects
# of site 2 are the external validation set; a quarter of the others is the
# internal one.
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nidl.datasets import OpenBHB, make_openbhb_folder

folder = tempfile.TemporaryDirectory()
participants = make_openbhb_folder(folder.name, n_subjects=150, random_state=0)
print(participants.head())
print(participants.groupby("split").siteXacq.unique())

# %%
# Read it as OpenBHB: two modalities give a dict per item, in the order
# asked; the target is the age. Every grey-matter volume is zero outside
# the grey-matter template.
train = OpenBHB(folder.name, modality=("vbm", "vbm_roi"), target="age",
                split="train")
sample, age = train[0]
print(train, len(train), "subjects")
print({name: array.shape for name, array in sample.items()}, f"age {age:.1f}")
template = train.get_cat12_template().get_fdata()
print("voxels > 0 outside the template:",
      int((sample["vbm"][0][template <= 1e-7] > 0).sum()))

# %%
# A slice of that grey-matter volume, and the ages in each split.
fig, (ax_image, ax_age) = plt.subplots(1, 2, figsize=(9, 3.6))
middle = sample["vbm"].shape[3] // 2
ax_image.imshow(sample["vbm"][0, :, :, middle].T, origin="lower", cmap="gray")
ax_image.set_title(f"grey-matter density, axial slice {middle}")
ax_image.axis("off")
for split, rows in participants.groupby("split"):
    ax_age.hist(rows.age, bins=np.arange(20, 85, 5), histtype="step",
                linewidth=2, label=f"{split} ({len(rows)})")
ax_age.set_xlabel("age (years)")
ax_age.set_ylabel("subjects")
ax_age.legend()
fig.tight_layout()

# %%
# Brain age from the 284 regional volumes (grey matter and CSF in 142
# regions): a ridge regression fitted on the training split, scored on the
# two validation splits.
def features_and_ages(split):
    dataset = OpenBHB(folder.name, modality="vbm_roi", target="age", split=split)
    features, ages = zip(*dataset)
    return np.concatenate(features), np.array(ages)


X_train, y_train = features_and_ages("train")
model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 13)))
model.fit(X_train, y_train)
fig, ax = plt.subplots(figsize=(4.5, 4.2))
for split, marker in (("internal_val", "o"), ("external_val", "^")):
    X, y = features_and_ages(split)
    predicted = model.predict(X)
    print(f"{split}: {len(y)} subjects, R^2 = {r2_score(y, predicted):.2f}, "
          f"mean absolute error = {np.abs(predicted - y).mean():.1f} years")
    ax.scatter(y, predicted, marker=marker, label=split)
ax.plot([20, 80], [20, 80], color="gray", lw=1)
ax.set_xlabel("age (years)")
ax.set_ylabel("predicted age (years)")
ax.legend()
fig.tight_layout()

# %%
# On this synthetic cohort the unseen scanner is no harder than the seen
# ones (the R^2 above): the generator computes the grey-matter maps after
# undoing each scanner's intensity gain and offset, as segmentation does,
# so little of the site is left in the regional volumes. On OpenBHB itself,
# the gap between the two validation splits measures how much a model
# depends on the scanner.
#
# The folder is temporary: remove it.
folder.cleanup()
