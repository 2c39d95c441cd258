"""A synthetic cohort of T1-weighted brain images with known generative factors."""

import numbers

import numpy as np
from sklearn.utils import check_random_state, check_scalar

from .._optional import import_optional

#: Per-site acquisition: intensity gain, intensity offset, noise level.
_SITES = (
    (1.00, 0.00, 0.02),
    (0.92, 0.04, 0.03),
    (1.08, -0.03, 0.04),
)


def make_brain_cohort(n_subjects, resolution=4, random_state=None):
    """Generate a synthetic cohort of T1-weighted brain images.

    Each subject is the MNI152 template that nilearn ships (nothing is
    downloaded), transformed by known factors:

    - **age** (uniform in [20, 80] years) thins the grey matter (its
      intensity falls towards that of cerebrospinal fluid, by 30 % at 80
      years on average) and enlarges the ventricles;
    - **sex** (0 or 1, equally likely) and individual variation set the
      global **head size** (a scaling of about 3 % either way);
    - a smooth random **deformation** (low-frequency cosine fields, a few
      millimetres) makes every brain's shape its own;
    - the **site** (0, 1 or 2, equally likely) sets the intensity gain and
      offset and the noise level, as scanners do;
    - Gaussian acquisition **noise** is added to every voxel.

    Age is thus written in the images through tissue contrast and ventricle
    size, mixed with nuisance factors of larger variance, which is what a
    representation of neuroimaging data must untangle.

    Parameters
    ----------
    n_subjects : int
        Number of subjects.
    resolution : int, default=4
        Voxel size in millimetres; 4 gives volumes of 50 x 59 x 48 voxels,
        2 gives 99 x 117 x 95.
    random_state : int, RandomState instance or None, default=None
        Seed of every random draw.

    Returns
    -------
    images : list of nibabel.Nifti1Image
        One 3-D float32 image per subject, on the grid of the template at
        ``resolution`` (the grid of
        ``nilearn.datasets.load_mni152_brain_mask(resolution=resolution)``,
        the mask to use with a ``NiftiMasker``).
    factors : pandas.DataFrame
        One row per subject, the generating factors: ``age`` (years),
        ``sex`` (0 or 1), ``site`` (0, 1 or 2), ``head_size`` (scaling of
        the template), ``gm_loss`` (fraction of grey-matter contrast lost)
        and ``ventricle_volume`` (ml).

    Raises
    ------
    ImportError
        If nilearn is not installed.

    Examples
    --------
    >>> from nidl.datasets import make_brain_cohort
    >>> images, factors = make_brain_cohort(3, random_state=0)
    >>> images[0].shape
    (50, 59, 48)
    >>> list(factors.columns)
    ['age', 'sex', 'site', 'head_size', 'gm_loss', 'ventricle_volume']
    """
    datasets = import_optional("nilearn.datasets", "make_brain_cohort", "nilearn")
    nibabel = import_optional("nibabel", "make_brain_cohort", "nilearn")
    from scipy import ndimage

    check_scalar(n_subjects, "n_subjects", numbers.Integral, min_val=1)
    check_scalar(resolution, "resolution", numbers.Real, min_val=1, max_val=8)
    rng = check_random_state(random_state)
    import pandas as pd  # a dependency of nilearn

    template = datasets.load_mni152_template(resolution=resolution)
    t1 = template.get_fdata(dtype=np.float32)
    gm = datasets.load_mni152_gm_template(resolution=resolution).get_fdata(
        dtype=np.float32
    )
    mask = datasets.load_mni152_brain_mask(resolution=resolution).get_fdata() > 0
    shape = t1.shape
    grid = np.indices(shape, dtype=np.float32)
    centre = np.argwhere(mask).mean(axis=0).astype(np.float32)
    radius = np.sqrt(
        sum((g - c) ** 2 for g, c in zip(grid, centre))
    ) * resolution  # millimetres from the brain's centre

    # Ventricles: dark voxels deep in the brain. Smoothing their indicator
    # gives a map whose level sets are larger or smaller ventricles.
    ventricles = mask & (t1 < 0.45) & (radius < 35)
    ventricle_map = ndimage.gaussian_filter(
        ventricles.astype(np.float32), sigma=4.0 / resolution
    )
    # Grey matter loses contrast towards the cerebrospinal fluid intensity.
    csf_intensity = 0.2
    gm_contrast = gm * (t1 - csf_intensity)

    n_basis = 3
    bases = [
        np.cos(np.pi * np.outer(np.arange(n) + 0.5, np.arange(1, n_basis + 1)) / n)
        .astype(np.float32)
        for n in shape
    ]
    voxel_volume_ml = resolution**3 / 1000.0

    age = rng.uniform(20.0, 80.0, size=n_subjects)
    sex = rng.randint(0, 2, size=n_subjects)
    site = rng.randint(0, len(_SITES), size=n_subjects)
    head_size = 1.0 + 0.03 * (2 * sex - 1) + rng.normal(0.0, 0.02, size=n_subjects)
    ageing = (age - 20.0) / 60.0
    gm_loss = np.clip(0.3 * ageing + rng.normal(0.0, 0.03, size=n_subjects), 0, 0.9)
    ventricle_level = np.clip(
        0.5 - 0.3 * ageing + rng.normal(0.0, 0.04, size=n_subjects), 0.15, 0.95
    )

    images, volumes = [], []
    for subject in range(n_subjects):
        enlarged = 1.0 / (1.0 + np.exp(-(ventricle_map - ventricle_level[subject]) / 0.03))
        volume = t1 - gm_loss[subject] * gm_contrast
        volume = volume * (1 - enlarged) + csf_intensity * enlarged
        volumes.append(
            float(enlarged.sum()) * voxel_volume_ml * head_size[subject] ** 3
        )

        # Sample the subject's brain at the template coordinates scaled by
        # the head size and displaced by a smooth random field.
        coefficients = rng.normal(
            0.0, 3.0 / resolution / n_basis, size=(3, n_basis, n_basis, n_basis)
        ).astype(np.float32)
        displacement = np.einsum(
            "ia,jb,kc,dabc->dijk", *bases, coefficients, optimize=True
        )
        coordinates = (
            centre[:, None, None, None]
            + (grid - centre[:, None, None, None]) / head_size[subject]
            + displacement
        )
        volume = ndimage.map_coordinates(volume, coordinates, order=1, cval=0.0)

        gain, offset, noise = _SITES[site[subject]]
        volume = gain * volume + offset * (volume > 0.05)
        volume = volume + rng.normal(0.0, noise, size=shape)
        images.append(nibabel.Nifti1Image(volume.astype(np.float32), template.affine))

    factors = pd.DataFrame(
        {
            "age": age,
            "sex": sex,
            "site": site,
            "head_size": head_size,
            "gm_loss": gm_loss,
            "ventricle_volume": np.asarray(volumes),
        }
    )
    return images, factors
