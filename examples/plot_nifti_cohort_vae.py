"""
From NIfTI files to a VAE and back: a cohort on disk, through the cache
=======================================================================

Brain cohorts live on disk as NIfTI files with a table of who is who. Here a
synthetic cohort is written as ``.nii.gz`` files with a CSV table of paths
and ages; an :class:`~nidl.datasets.ImageDataFrameDataset` reads the files,
crops each volume to the brain and keeps the result in an on-disk cache, so
that only the first epoch decodes files; a 3-D convolutional VAE is trained
from it; a ridge regression reads age from the latents; and decoded volumes
go back to NIfTI images on the original grid, shown with nilearn.
"""

# %%
# A cohort on disk: 100 subjects at 4 mm written as ``.nii.gz`` files to a
# temporary folder, with a table of their relative paths and ages, the form
# in which cohorts are shared.
import os
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from nilearn import image, plotting
from nilearn.datasets import load_mni152_brain_mask
from pytorch_lightning import Callback
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import cross_val_score
from torch.utils.data import DataLoader

from nidl.datasets import ImageDataFrameDataset, default_image_loader, make_brain_cohort
from nidl.estimators.autoencoders import VAE
from nidl.maskers import NiftiVolumeMasker
from nidl.nn import ConvDecoder, ConvEncoder
from nidl.transforms import Compose, VolumeTransform, ZNormalization

folder = tempfile.TemporaryDirectory()
root = folder.name
images, factors = make_brain_cohort(100, resolution=4, random_state=0)
for subject, img in enumerate(images):
    img.to_filename(os.path.join(root, f"sub-{subject:03d}.nii.gz"))
table = pd.DataFrame({
    "image_path": [f"sub-{subject:03d}.nii.gz" for subject in range(len(images))],
    "age": factors.age.round(1),
})
table.to_csv(os.path.join(root, "participants.csv"), index=False)
del images  # from here on, the files are the data
print(table.head(3))

# %%
# The brain's box: a :class:`~nidl.maskers.NiftiVolumeMasker` with the MNI152
# brain mask (the grid of the cohort), saved next to the files, finds the
# bounding box of the brain; cropping to it removes half of the voxels, all
# outside the brain.
mask_path = os.path.join(root, "brain_mask.nii.gz")
load_mni152_brain_mask(resolution=4).to_filename(mask_path)
masker = NiftiVolumeMasker(mask_path).fit()
print(f"grid {masker.grid_shape_}, brain box {masker.box_shape_}")


# %%
# The preprocessing: crop to the box and zero the voxels outside the brain
# (a small transform of our own), then standardise the intensities, which
# removes the scanners' gain and offset. Both are deterministic
# (``is_random`` is False) and their ``repr`` lists their parameters, so the
# dataset's cache can hold their output, keyed by that ``repr`` (printed here
# with the temporary folder shown as ``<root>``).
class BrainBox(VolumeTransform):
    """Crop to the bounding box of a mask file, zero outside the mask."""

    def __init__(self, mask_path):
        super().__init__()
        self.mask_path = mask_path
        self._masker = NiftiVolumeMasker(mask_path).fit()
        mask = self._masker.mask_img_.get_fdata()[self._masker.bounding_box_]
        self._outside = mask == 0

    def apply_transform(self, data):
        data = data[(..., *self._masker.bounding_box_)].copy()
        data[..., self._outside] = 0
        return data


preprocessing = Compose([BrainBox(mask_path), ZNormalization()])
# ``repr(root)[1:-1]`` is the folder as a repr writes it (backslashes doubled
# on Windows).
shown = repr(preprocessing).replace(repr(root)[1:-1], "<root>")
print(shown, "is_random:", preprocessing.is_random)

# %%
# The dataset reads the table and the files; the loader counts the NIfTI
# files it decodes, so that we can see which epochs read them, and puts a
# channel axis first: the default loader gives the ``(X, Y, Z)`` volume as
# stored, a 3-D network takes ``(channels, X, Y, Z)``.
files_read = []


def load_and_count(path):
    files_read.append(path)
    return default_image_loader(path)[np.newaxis]


cache_dir = os.path.join(root, "cache")
dataset = ImageDataFrameDataset(
    root, os.path.join(root, "participants.csv"), label_cols="age",
    transform=preprocessing, image_loader=load_and_count, cache_dir=cache_dir,
)
volume, age = dataset[0]
print(f"{len(dataset)} items; item 0: {volume.shape} {volume.dtype}, age {age}")


# %%
# A 3-D convolutional VAE whose encoder and decoder are built for the box,
# trained from the files through the cache. A callback prints, for each
# epoch, its duration, the files decoded during it and the cache entries.
class EpochLog(Callback):
    def on_train_epoch_start(self, trainer, module):
        self.start, self.reads = time.perf_counter(), len(files_read)

    def on_train_epoch_end(self, trainer, module):
        entries = sum(name.endswith(".npy") for name in os.listdir(cache_dir))
        print(f"epoch {trainer.current_epoch + 1:2d}: "
              f"{time.perf_counter() - self.start:.1f} s, "
              f"{len(files_read) - self.reads:3d} NIfTI files decoded, "
              f"{entries} cache entries")


box = masker.box_shape_
latent_dim = 8
torch.manual_seed(0)
vae = VAE(
    ConvEncoder(box, in_channels=1, widths=(8, 16, 32), out_features=64),
    ConvDecoder(latent_dim, box, out_channels=1, widths=(8, 16, 32)),
    encoder_out_dim=64, latent_dim=latent_dim, lr=2e-3,
    stochastic_transform=False, random_state=0, max_epochs=10,
    accelerator="cpu", enable_progress_bar=False, logger=False,
    enable_checkpointing=False, enable_model_summary=False,
    callbacks=[EpochLog()],
)
loader = DataLoader(dataset, batch_size=10, shuffle=True)
vae.fit(loader)
print(f"NIfTI files decoded in all: {len(files_read)}, {len(set(files_read))} "
      f"different (the cohort has {len(dataset)}; item 0 was read above, the "
      "first batch when fit checked the data)")

# %%
# Latents against age: the cross-validated R^2 of a ridge regression from
# the latent means, next to the same regression on random latents (chance),
# and the latent dimension that follows age most closely.
latents = vae.transform(DataLoader(dataset, batch_size=20)).numpy()
age = table.age.to_numpy()
ridge = RidgeCV(alphas=np.logspace(-3, 3, 13))
r2 = cross_val_score(ridge, latents, age, cv=5, scoring="r2").mean()
random_latents = np.random.default_rng(0).normal(size=latents.shape)
r2_random = cross_val_score(ridge, random_latents, age, cv=5, scoring="r2").mean()
print(f"age R^2 from the latents: {r2:.2f} (random latents: {r2_random:.2f})")

correlations = [np.corrcoef(latents[:, j], age)[0, 1] for j in range(latent_dim)]
dim = int(np.argmax(np.abs(correlations)))
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.scatter(age, latents[:, dim], s=12)
ax.set(xlabel="age (years)", ylabel=f"latent mean z{dim}",
       title=f"z{dim} against age (r = {correlations[dim]:.2f})")
fig.tight_layout()

# %%
# Back to images: the youngest and oldest subjects' reconstructions
# (decoded latent means), put on the original grid by the masker's
# ``inverse_transform``, next to their files.
order = np.argsort(age)
subjects = [int(order[0]), int(order[-1])]
decoded = vae.inverse_transform(torch.from_numpy(latents[subjects]))
reconstructions = masker.inverse_transform(decoded)
fig, axes = plt.subplots(4, 1, figsize=(7, 9))
for row, subject in enumerate(subjects):
    original = os.path.join(root, table.image_path[subject])
    plotting.plot_anat(original, axes=axes[2 * row], cut_coords=(0, -10, 10),
                       title=f"sub-{subject:03d}, age {age[subject]:.0f}: file")
    plotting.plot_anat(image.index_img(reconstructions, row), axes=axes[2 * row + 1],
                       cut_coords=(0, -10, 10), title="reconstruction")

# %%
# What the age dimension changes: decode the latent origin with z{dim} at
# -2 and +2 (the other dimensions at 0), map both to images and show their
# difference on the grid of the cohort.
codes = np.zeros((2, latent_dim), dtype=np.float32)
codes[:, dim] = (-2.0, 2.0)
ends = masker.inverse_transform(vae.inverse_transform(torch.from_numpy(codes)))
difference = image.math_img("img[..., 1] - img[..., 0]", img=ends)
plotting.plot_img(difference, cmap="RdBu_r", colorbar=True, cut_coords=(0, -10, 10),
                  title=f"decoded change from z{dim} = -2 to z{dim} = +2")
plt.show()
folder.cleanup()
