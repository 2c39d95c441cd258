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

#: Intensity that tissue tends to as it is lost: that of cerebrospinal fluid.
_CSF_INTENSITY = 0.2

#: Centres of named regions in MNI coordinates (millimetres), for the
#: atrophy of :func:`make_brain_cohort_with_atrophy`.
BRAIN_REGIONS = {
    "left_hippocampus": (-26.0, -22.0, -12.0),
    "right_hippocampus": (26.0, -22.0, -12.0),
    "left_amygdala": (-22.0, -4.0, -18.0),
    "right_amygdala": (22.0, -4.0, -18.0),
    "left_thalamus": (-12.0, -18.0, 8.0),
    "right_thalamus": (12.0, -18.0, 8.0),
    "left_middle_temporal": (-56.0, -34.0, -4.0),
    "right_middle_temporal": (56.0, -34.0, -4.0),
    "left_precuneus": (-8.0, -58.0, 46.0),
    "right_precuneus": (8.0, -58.0, 46.0),
}


class _Template:
    """The maps every subject of a cohort at one resolution is made from."""

    def __init__(self, resolution):
        datasets = import_optional("nilearn.datasets", "make_brain_cohort", "nilearn")
        from scipy import ndimage

        template = datasets.load_mni152_template(resolution=resolution)
        self.affine = template.affine
        self.resolution = resolution
        self.t1 = t1 = template.get_fdata(dtype=np.float32)
        gm = datasets.load_mni152_gm_template(resolution=resolution).get_fdata(
            dtype=np.float32
        )
        self.mask = mask = (
            datasets.load_mni152_brain_mask(resolution=resolution).get_fdata() > 0
        )
        self.shape = shape = t1.shape
        self.grid = grid = np.indices(shape, dtype=np.float32)
        self.centre = centre = np.argwhere(mask).mean(axis=0).astype(np.float32)
        radius = np.sqrt(
            sum((g - c) ** 2 for g, c in zip(grid, centre))
        ) * resolution  # millimetres from the brain's centre

        # Ventricles: dark voxels deep in the brain. Smoothing their indicator
        # gives a map whose level sets are larger or smaller ventricles.
        ventricles = mask & (t1 < 0.45) & (radius < 35)
        self.ventricle_map = ndimage.gaussian_filter(
            ventricles.astype(np.float32), sigma=4.0 / resolution
        )
        # Grey matter loses contrast towards the cerebrospinal fluid intensity.
        self.gm_contrast = gm * (t1 - _CSF_INTENSITY)

        self.n_basis = n_basis = 3
        self.bases = [
            np.cos(np.pi * np.outer(np.arange(n) + 0.5, np.arange(1, n_basis + 1)) / n)
            .astype(np.float32)
            for n in shape
        ]
        self.voxel_volume_ml = resolution**3 / 1000.0


def _draw_subjects(template, n_subjects, rng, atrophy=None, strength=0.0):
    """Draw subjects: their volumes, generating factors and atrophied voxels.

    ``atrophy`` is a float32 map in [0, 1] on the template (1 where tissue
    loses ``strength`` of its contrast), or None for controls. The random
    draws, in their order, are those of :func:`make_brain_cohort`, so that
    a cohort's controls do not depend on whether patients follow them.
    """
    from scipy import ndimage

    t = template
    age = rng.uniform(20.0, 80.0, size=n_subjects)
    sex = rng.randint(0, 2, size=n_subjects)
    site = rng.randint(0, len(_SITES), size=n_subjects)
    head_size = 1.0 + 0.03 * (2 * sex - 1) + rng.normal(0.0, 0.02, size=n_subjects)
    ageing = (age - 20.0) / 60.0
    gm_loss = np.clip(0.3 * ageing + rng.normal(0.0, 0.03, size=n_subjects), 0, 0.9)
    ventricle_level = np.clip(
        0.5 - 0.3 * ageing + rng.normal(0.0, 0.04, size=n_subjects), 0.15, 0.95
    )

    volumes, ventricle_volumes, affected = [], [], []
    for subject in range(n_subjects):
        enlarged = 1.0 / (
            1.0 + np.exp(-(t.ventricle_map - ventricle_level[subject]) / 0.03)
        )
        volume = t.t1 - gm_loss[subject] * t.gm_contrast
        volume = volume * (1 - enlarged) + _CSF_INTENSITY * enlarged
        ventricle_volumes.append(
            float(enlarged.sum()) * t.voxel_volume_ml * head_size[subject] ** 3
        )
        if atrophy is not None:
            # Atrophied tissue tends to cerebrospinal fluid.
            loss = strength * atrophy
            volume = volume * (1 - loss) + _CSF_INTENSITY * loss

        # Sample the subject's brain at the template coordinates scaled by
        # the head size and displaced by a smooth random field.
        coefficients = rng.normal(
            0.0,
            3.0 / t.resolution / t.n_basis,
            size=(3, t.n_basis, t.n_basis, t.n_basis),
        ).astype(np.float32)
        displacement = np.einsum(
            "ia,jb,kc,dabc->dijk", *t.bases, coefficients, optimize=True
        )
        centre = t.centre[:, None, None, None]
        coordinates = centre + (t.grid - centre) / head_size[subject] + displacement
        volume = ndimage.map_coordinates(volume, coordinates, order=1, cval=0.0)
        if atrophy is not None:
            # The atrophied voxels follow the same deformation.
            affected.append(
                ndimage.map_coordinates(atrophy, coordinates, order=1, cval=0.0) >= 0.5
            )

        gain, offset, noise = _SITES[site[subject]]
        volume = gain * volume + offset * (volume > 0.05)
        volume = volume + rng.normal(0.0, noise, size=t.shape)
        volumes.append(volume.astype(np.float32))

    factors = {
        "age": age,
        "sex": sex,
        "site": site,
        "head_size": head_size,
        "gm_loss": gm_loss,
        "ventricle_volume": np.asarray(ventricle_volumes),
    }
    return volumes, factors, affected


def _check_cohort_args(resolution, random_state):
    """nibabel and nilearn, the checked resolution and the random generator."""
    import_optional("nilearn.datasets", "make_brain_cohort", "nilearn")
    nibabel = import_optional("nibabel", "make_brain_cohort", "nilearn")
    check_scalar(resolution, "resolution", numbers.Real, min_val=1, max_val=8)
    return nibabel, check_random_state(random_state)


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

    See Also
    --------
    make_brain_cohort_with_atrophy : The same controls followed by patients
        with localised atrophy.

    Examples
    --------
    >>> from nidl.datasets import make_brain_cohort
    >>> images, factors = make_brain_cohort(3, random_state=0)
    >>> images[0].shape
    (50, 59, 48)
    >>> list(factors.columns)
    ['age', 'sex', 'site', 'head_size', 'gm_loss', 'ventricle_volume']
    """
    nibabel, rng = _check_cohort_args(resolution, random_state)
    check_scalar(n_subjects, "n_subjects", numbers.Integral, min_val=1)
    import pandas as pd  # a dependency of nilearn

    template = _Template(resolution)
    volumes, factors, _ = _draw_subjects(template, n_subjects, rng)
    images = [nibabel.Nifti1Image(volume, template.affine) for volume in volumes]
    return images, pd.DataFrame(factors)


def _millimetres(template):
    """MNI coordinates (mm) of every voxel of the template, shape (3, X, Y, Z)."""
    affine = template.affine
    return np.einsum("ij,jxyz->ixyz", affine[:3, :3], template.grid) + affine[
        :3, 3, None, None, None
    ]


def _region_map(region, radius, template):
    """The atrophied voxels of the template: a float32 map of 0 and 1."""
    mm = _millimetres(template)
    if isinstance(region, str):
        if region not in BRAIN_REGIONS:
            raise ValueError(
                f"region={region!r} is not a named region; use one of "
                f"{sorted(BRAIN_REGIONS)}, MNI coordinates (x, y, z) in mm, or a "
                "mask on the cohort's grid."
            )
        region = BRAIN_REGIONS[region]
    if hasattr(region, "affine"):
        if region.shape[:3] != template.shape or not np.allclose(
            region.affine, template.affine
        ):
            raise ValueError(
                f"the region image has shape {region.shape} and affine "
                f"{np.round(region.affine, 3).tolist()}, but the cohort's grid has "
                f"shape {template.shape} and affine "
                f"{np.round(template.affine, 3).tolist()}; resample it with "
                "nilearn.image.resample_to_img(region, template, "
                "interpolation='nearest') or pass MNI coordinates."
            )
        region = np.asarray(region.dataobj)
    region = np.asarray(region)
    if region.ndim == 1:
        if region.shape != (3,) or not np.issubdtype(region.dtype, np.number):
            raise ValueError(
                f"region={region.tolist()!r} is not a point; pass MNI coordinates "
                "as three numbers (x, y, z) in mm."
            )
        if radius is None:
            raise ValueError(
                "radius=None keeps a whole region given as a mask; for a named "
                "region or MNI coordinates, set radius to the size of the "
                "atrophy in mm, e.g. radius=10."
            )
        centre, inside = region.astype(np.float32), template.mask
    elif region.shape == template.shape:
        inside = (region != 0) & template.mask
        if not inside.any():
            raise ValueError(
                "the region mask has no voxel in the brain mask; pass a mask with "
                "nonzero voxels inside the brain."
            )
        # The region's voxel nearest its centre of mass: the centre of the
        # atrophy, inside the region even when the region is not convex.
        points = mm[:, inside].T
        centre = points[np.argmin(((points - points.mean(axis=0)) ** 2).sum(axis=1))]
    else:
        raise ValueError(
            f"region has shape {region.shape}; pass a name, MNI coordinates "
            f"(x, y, z) or a mask of the cohort's grid shape {template.shape}."
        )
    if radius is not None:
        distance = np.sqrt(((mm - centre[:, None, None, None]) ** 2).sum(axis=0))
        inside = inside & (distance <= radius)
    if not inside.any():
        raise ValueError(
            f"the atrophy (radius={radius} mm around MNI coordinates "
            f"{np.round(centre, 1).tolist()}) has no voxel in the brain mask; "
            "choose a centre inside the brain or a larger radius."
        )
    return inside.astype(np.float32)


def make_brain_cohort_with_atrophy(
    n_controls, n_patients, region="left_hippocampus", radius=10.0, strength=0.5,
    resolution=4, random_state=None,
):
    """Generate controls and patients with localised atrophy of known extent.

    The controls are those of :func:`make_brain_cohort` with the same
    ``n_subjects=n_controls``, ``resolution`` and ``random_state``,
    identical to the bit. The patients, drawn next from the same random
    sequence, are subjects of the same population (age, sex, site, head
    size, deformation, noise) in whom the tissue of one region loses
    ``strength`` of its contrast towards the intensity of cerebrospinal
    fluid, as in atrophy. The region is deformed with the rest of each
    patient's brain, and the voxels it covers in each image are returned:
    the ground truth a normative model's deviation maps are measured
    against.

    Parameters
    ----------
    n_controls : int
        Number of controls (0 or more), first in the outputs.
    n_patients : int
        Number of patients (1 or more), after the controls.
    region : str, tuple of 3 floats, nibabel image or numpy.ndarray, \
default="left_hippocampus"
        Where the atrophy lies: a name of :data:`BRAIN_REGIONS` or MNI
        coordinates ``(x, y, z)`` in mm (a ball of ``radius`` around
        them), or a mask on the cohort's grid (the grid of
        ``nilearn.datasets.load_mni152_brain_mask(resolution=resolution)``;
        nonzero voxels are in the region).
    radius : float or None, default=10.0
        Radius of the atrophy in mm. For a mask, the atrophy is the part of
        the mask within ``radius`` of the mask's centre, or the whole mask
        with ``radius=None``. Only the voxels in the brain mask are
        atrophied.
    strength : float, default=0.5
        Fraction of the tissue's contrast to cerebrospinal fluid that is
        lost, in (0, 1]: the intensity falls by ``strength`` of its distance
        to that of cerebrospinal fluid.
    resolution : int, default=4
        Voxel size in millimetres, as in :func:`make_brain_cohort`.
    random_state : int, RandomState instance or None, default=None
        Seed of every random draw.

    Returns
    -------
    images : list of nibabel.Nifti1Image
        ``n_controls + n_patients`` 3-D float32 images, controls first.
    factors : pandas.DataFrame
        One row per subject: the columns of :func:`make_brain_cohort`, then
        ``patient`` (0 for controls, 1 for patients) and ``atrophy_volume``
        (ml of atrophied voxels in the image, 0 for controls).
    atrophy_masks : list of nibabel.Nifti1Image
        One 3-D uint8 image per subject on the grid of ``images``: 1 on the
        voxels the atrophy changed, 0 elsewhere (everywhere for controls).

    Raises
    ------
    ValueError
        If a count, ``radius`` or ``strength`` is out of range, the region is
        not a known name, three coordinates or a mask of the grid's shape,
        or the atrophy has no voxel in the brain.
    ImportError
        If nilearn is not installed.

    See Also
    --------
    make_brain_cohort : The controls alone.
    make_brain_parcellation : Regions to summarise deviation maps in.
    nidl.normative.NormativeModel : Deviation scores and maps of new
        subjects from a model of the controls.

    Examples
    --------
    >>> from nidl.datasets import make_brain_cohort_with_atrophy
    >>> images, factors, masks = make_brain_cohort_with_atrophy(
    ...     2, 1, region="left_hippocampus", radius=10, strength=0.5,
    ...     random_state=0)
    >>> factors.patient.tolist()
    [0, 0, 1]
    >>> [int(mask.get_fdata().sum()) for mask in masks]  # atrophied voxels
    [0, 0, 87]
    """
    nibabel, rng = _check_cohort_args(resolution, random_state)
    check_scalar(n_controls, "n_controls", numbers.Integral, min_val=0)
    check_scalar(n_patients, "n_patients", numbers.Integral, min_val=1)
    if radius is not None:
        check_scalar(radius, "radius", numbers.Real, min_val=0,
                     include_boundaries="neither")
    check_scalar(strength, "strength", numbers.Real, min_val=0, max_val=1,
                 include_boundaries="right")
    import pandas as pd  # a dependency of nilearn

    template = _Template(resolution)
    atrophy = _region_map(region, radius, template)
    controls, control_factors, _ = _draw_subjects(template, n_controls, rng)
    patients, patient_factors, affected = _draw_subjects(
        template, n_patients, rng, atrophy=atrophy, strength=float(strength)
    )
    factors = pd.concat(
        [pd.DataFrame(control_factors), pd.DataFrame(patient_factors)],
        ignore_index=True,
    )
    factors["patient"] = np.repeat([0, 1], [n_controls, n_patients])
    masks = [np.zeros(template.shape, dtype=np.uint8)] * n_controls + [
        mask.astype(np.uint8) for mask in affected
    ]
    factors["atrophy_volume"] = [
        float(mask.sum()) * template.voxel_volume_ml for mask in masks
    ]
    images = [
        nibabel.Nifti1Image(volume, template.affine) for volume in controls + patients
    ]
    atrophy_masks = [nibabel.Nifti1Image(mask, template.affine) for mask in masks]
    return images, factors, atrophy_masks


def make_brain_parcellation(n_regions=48, resolution=4, random_state=0):
    """Divide the MNI152 brain mask into compact regions of similar size.

    A coarse parcellation built from the template nilearn ships (nothing is
    downloaded): k-means clusters of the coordinates of the brain mask's
    voxels, in each hemisphere apart, so that no region crosses the
    midline. Use it to summarise voxel-wise maps region by region, for
    instance the deviation z-scores of :class:`nidl.normative.NormativeModel`.

    Parameters
    ----------
    n_regions : int, default=48
        Number of regions, at least 2: ``n_regions // 2`` in the left
        hemisphere (labels ``1`` to ``n_regions // 2``), the others in the
        right one.
    resolution : int, default=4
        Voxel size in millimetres, as in :func:`make_brain_cohort`.
    random_state : int, RandomState instance or None, default=0
        Seed of the k-means initialisation.

    Returns
    -------
    labels : nibabel.Nifti1Image
        3-D int32 image on the grid of
        ``nilearn.datasets.load_mni152_brain_mask(resolution=resolution)``:
        0 outside the brain mask, the region's label (1 to ``n_regions``)
        inside.

    Raises
    ------
    ValueError
        If ``n_regions`` is below 2 or above the number of voxels of a
        hemisphere.

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.datasets import make_brain_parcellation
    >>> labels = make_brain_parcellation(n_regions=8)
    >>> labels.shape
    (50, 59, 48)
    >>> np.unique(labels.get_fdata()).astype(int).tolist()
    [0, 1, 2, 3, 4, 5, 6, 7, 8]
    """
    nibabel, rng = _check_cohort_args(resolution, random_state)
    check_scalar(n_regions, "n_regions", numbers.Integral, min_val=2)
    from sklearn.cluster import KMeans

    template = _Template(resolution)
    mm = _millimetres(template)
    labels = np.zeros(template.shape, dtype=np.int32)
    first = 1
    for hemisphere, n_clusters in (
        (template.mask & (mm[0] < 0), n_regions // 2),
        (template.mask & (mm[0] >= 0), n_regions - n_regions // 2),
    ):
        points = mm[:, hemisphere].T
        if n_clusters > len(points):
            raise ValueError(
                f"n_regions={n_regions} asks for {n_clusters} regions in a "
                f"hemisphere of {len(points)} voxels at resolution={resolution}; "
                "ask for fewer regions or a finer resolution."
            )
        kmeans = KMeans(n_clusters, n_init=1, random_state=rng).fit(points)
        labels[hemisphere] = kmeans.labels_ + first
        first += n_clusters
    return nibabel.Nifti1Image(labels, template.affine)
