"""A small synthetic folder laid out as the OpenBHB dataset, to use it offline."""

import json
import numbers
import os

import numpy as np
from sklearn.utils import check_scalar

from .._optional import import_optional
from .brain_cohort import _SITES, _check_cohort_args, _draw_subjects, _Template
from .openbhb import _FILES

__all__ = ["make_openbhb_folder"]

#: The seven FreeSurfer measures of the ``fs_*_roi`` tables, in the order of
#: their rows, with their typical value, their relative change per year of
#: age and the power of the head size they scale with.
_FS_MEASURES = (
    ("surface_area_mm^2", 1000.0, -0.001, 2),
    ("gray_matter_volume_mm^3", 3000.0, -0.003, 3),
    ("average_thickness_mm", 2.5, -0.004, 0),
    ("thickness_stddev_mm", 0.6, 0.0, 0),
    ("integrated_rectified_mean_curvature_mm^-1", 0.12, 0.0, 0),
    ("integrated_rectified_gaussian_curvature_mm^-2", 0.15, 0.0, 0),
    ("intrinsic_curvature_index", 1.0, 0.0, 0),
)

#: The eight vertex-wise channels of ``fs_xhemi``, with their typical value
#: and relative change per year of age.
_XHEMI_CHANNELS = tuple(
    (f"{hemi}.{name}", value, slope)
    for hemi in ("lh", "rh")
    for name, value, slope in (
        ("thickness", 2.5, -0.004),
        ("curv", 0.1, 0.0),
        ("sulc", 1.0, 0.0),
        ("area", 0.8, -0.001),
    )
)

#: Regions per hemisphere of the three atlases the ROI tables use.
_N_NEUROMORPHOMETRICS = 71
_N_DESIKAN = 34
_N_DESTRIEUX = 74

#: Intensity of cerebrospinal fluid in the cohort's images.
_CSF_INTENSITY = 0.2


def _path(root, folder, modality, participant_id=None):
    """Where :class:`OpenBHB` reads a file of ``modality``: the layout is its
    own, so that the folder written and the reader cannot disagree."""
    relative = _FILES[modality].format(id=participant_id)
    return os.path.join(root, folder, *relative.split("/"))


def _atlas(tpm, affine, rng):
    """Neuromorphometrics stand-in: k-means regions of the grey matter.

    ``_N_NEUROMORPHOMETRICS`` compact regions in each hemisphere (labels 1
    to 71 left, 72 to 142 right), 0 elsewhere.
    """
    from sklearn.cluster import KMeans

    grid = np.indices(tpm.shape).reshape(3, -1)
    mm = (affine[:3, :3] @ grid + affine[:3, 3:]).reshape(3, *tpm.shape)
    grey = tpm > 0.2
    labels = np.zeros(tpm.shape, dtype=np.int16)
    first = 1
    for hemisphere in (grey & (mm[0] < 0), grey & (mm[0] >= 0)):
        points = mm[:, hemisphere].T
        kmeans = KMeans(_N_NEUROMORPHOMETRICS, n_init=1, random_state=rng)
        labels[hemisphere] = kmeans.fit(points).labels_ + first
        first += _N_NEUROMORPHOMETRICS
    return labels


def _fs_table(n_regions, age, head_size, rng):
    """Synthetic FreeSurfer ROI features, shape (n_subjects, 7, n_regions)."""
    n_subjects = len(age)
    pattern = rng.uniform(0.5, 1.5, size=(len(_FS_MEASURES), n_regions))
    values = np.empty((n_subjects, len(_FS_MEASURES), n_regions))
    for m, (_, typical, slope, power) in enumerate(_FS_MEASURES):
        trend = (1 + slope * (age - 50.0)) * head_size**power
        values[:, m] = typical * pattern[m] * trend[:, None]
    return values * rng.normal(1.0, 0.05, size=values.shape)


def _write_roi_csv(pd, path, ids, values, columns):
    table = pd.DataFrame(values.reshape(len(ids), -1), columns=columns)
    table.insert(0, "session", 1)
    table.insert(0, "participant_id", ids)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    table.to_csv(path, index=False)


def make_openbhb_folder(root, n_subjects=20, resolution=4, n_vertices=642,
                        random_state=None):
    """Write a small synthetic cohort in the folder layout of OpenBHB.

    The subjects are those of :func:`make_brain_cohort` (age thins the grey
    matter and enlarges the ventricles, with site effects and noise); every
    file :class:`OpenBHB` reads is written from them, so that the dataset
    class, and code written for the real OpenBHB, can be tried offline:

    - ``participants.tsv``: ``participant_id`` (integers), ``split``
      (``train``, ``internal_test`` or ``external_test``), ``age``, ``sex``
      (``"male"`` or ``"female"``) and ``siteXacq`` (0, 1 or 2). The
      subjects of site 2 form ``external_test`` (a scanner unseen in
      training, as in OpenBHB); a quarter of the others, at least one when
      there are two or more, form ``internal_test``; the rest ``train``.
      With few subjects no one may be drawn at site 2, and
      ``external_test`` is then empty;
    - per subject, under ``train/`` or ``val/`` (``<s>``),
      ``<s>/derivatives/sub-<id>/ses-1/sub-<id>_preproc-`` then
      ``quasiraw_T1w.npy`` (the cohort's T1-weighted image),
      ``cat12vbm_desc-gm_T1w.npy`` (grey-matter density, zero outside the
      grey-matter template) and ``freesurfer_desc-xhemi_T1w.npy`` (8
      vertex-wise channels). Each file holds one sample with a leading axis
      of length 1, as in OpenBHB;
    - per folder, the ROI tables ``derivatives/cat12vbm_roi/
      cat12vbm_roi_features.csv`` (142 grey-matter then 142 CSF volumes,
      in ml, measured on the volumes and the atlas below) and
      ``derivatives/freesurfer_roi/desikan_roi_features.csv`` and
      ``destrieux_roi_features.csv`` (7 measures of 68 and 148 regions);
    - ``resource/``: ``resources.json`` (feature and channel names),
      ``neuromorphometrics.nii`` with ``neuromorphometrics.csv`` (an atlas
      of 142 k-means regions of the grey matter, on the grid of the
      grey-matter volumes), the grey-matter template
      ``cat12vbm_space-MNI152_desc-gm_TPM.nii.gz`` and the brain template
      ``quasiraw_space-MNI152_desc-brain_T1w.nii.gz``.

    The shapes are small so that the folder is written in a few seconds:
    quasi-raw volumes on the grid of :func:`make_brain_cohort` at
    ``resolution`` (50 x 59 x 48 at 4 mm), grey-matter volumes on a grid
    1.5 times coarser (33 x 39 x 32 at 4 mm), where OpenBHB's are
    182 x 218 x 182 at 1 mm and 121 x 145 x 121 at 1.5 mm, and
    ``n_vertices`` vertices where OpenBHB has 163,842. The ROI tables have
    OpenBHB's shapes. Region and channel names are placeholders, and the
    values are synthetic: only their trends with age, head size and site
    are meant to be realistic.

    Parameters
    ----------
    root : str or os.PathLike
        Folder to write into, created if missing. It must not hold a
        ``participants.tsv`` already.
    n_subjects : int, default=20
        Number of subjects, in all splits.
    resolution : int, default=4
        Voxel size of the quasi-raw volumes in millimetres, as in
        :func:`make_brain_cohort`; the grey-matter volumes have voxels 1.5
        times larger.
    n_vertices : int, default=642
        Number of vertices of the ``fs_xhemi`` arrays.
    random_state : int, RandomState instance or None, default=None
        Seed of every random draw.

    Returns
    -------
    participants : pandas.DataFrame
        The table written to ``participants.tsv``, one row per subject.

    Raises
    ------
    FileExistsError
        If ``root`` already holds a ``participants.tsv``.
    ValueError
        If a count or the resolution is out of range.
    ImportError
        If nilearn or nibabel is not installed.

    See Also
    --------
    OpenBHB : Reads the folder, as it reads the real dataset.
    make_brain_cohort : The subjects' T1-weighted images.

    Examples
    --------
    >>> import tempfile
    >>> from nidl.datasets import OpenBHB, make_openbhb_folder
    >>> tmp = tempfile.TemporaryDirectory()
    >>> participants = make_openbhb_folder(tmp.name, n_subjects=6, random_state=0)
    >>> participants.split.value_counts().to_dict()
    {'external_test': 3, 'train': 2, 'internal_test': 1}
    >>> image, age = OpenBHB(tmp.name, modality="vbm", split="train")[0]
    >>> image.shape, image.dtype
    ((1, 33, 39, 32), dtype('float32'))
    >>> tmp.cleanup()
    """
    nibabel, rng = _check_cohort_args(resolution, random_state)
    pd = import_optional("pandas", "make_openbhb_folder", "neuroimaging")
    from scipy import ndimage

    check_scalar(n_subjects, "n_subjects", numbers.Integral, min_val=1)
    check_scalar(n_vertices, "n_vertices", numbers.Integral, min_val=1)
    root = os.path.expanduser(os.fspath(root))
    table_path = os.path.join(root, "participants.tsv")
    if os.path.exists(table_path):
        raise FileExistsError(
            f"{table_path} already exists; make_openbhb_folder writes a new "
            "cohort, so pass an empty folder or delete the old one first."
        )
    # The subjects of make_brain_cohort(n_subjects, resolution, random_state),
    # drawn from the template maps this function needs too.
    template = _Template(resolution)
    volumes, factors, _ = _draw_subjects(template, n_subjects, rng)

    # Quasi-raw grid: the cohort's. Grey-matter grid: 1.5 times coarser, as
    # OpenBHB's 1.5 mm VBM against its 1 mm quasi-raw images. Zooming maps
    # the first and last voxels of each axis onto each other.
    shape = np.array(template.shape)
    vbm_shape = np.maximum(np.round(shape / 1.5).astype(int), 2)
    step = (shape - 1) / (vbm_shape - 1)
    vbm_affine = template.affine @ np.diag([*step, 1.0])

    def to_vbm_grid(volume):
        return ndimage.zoom(volume, vbm_shape / shape, order=1, grid_mode=False)

    t1_data = template.t1
    brain_t1 = t1_data * template.mask
    # The grey-matter template, recovered from the map the cohort is drawn
    # with (grey matter times its contrast to CSF) rather than loaded and
    # resampled again; voxels as dark as CSF count as no grey matter.
    contrast = t1_data - _CSF_INTENSITY
    gm = np.where(contrast > 0.05,
                  template.gm_contrast / np.maximum(contrast, 0.05), 0)
    gm = np.clip(gm, 0, 1) * template.mask
    tpm = np.clip(to_vbm_grid(gm), 0, 1)
    tpm[tpm < 1e-3] = 0  # no faint template halo outside the brain
    template_vbm = np.maximum(to_vbm_grid(t1_data), 0.1)
    atlas = _atlas(tpm, vbm_affine, rng)
    n_rois = 2 * _N_NEUROMORPHOMETRICS
    voxel_ml = float(abs(np.linalg.det(vbm_affine[:3, :3]))) / 1000.0

    age = factors["age"]
    head_size = factors["head_size"]
    site = factors["site"].astype(int)
    ids = 100_000 + rng.choice(900_000, n_subjects, replace=False)
    split = np.where(site == 2, "external_test", "train").astype(object)
    seen = np.flatnonzero(site != 2)
    n_internal = max(len(seen) // 4, 1) if len(seen) >= 2 else 0
    split[rng.permutation(seen)[:n_internal]] = "internal_test"
    participants = pd.DataFrame({
        "participant_id": ids,
        "split": split,
        "age": np.round(age, 2),
        "sex": np.where(factors["sex"] == 1, "male", "female"),
        "siteXacq": site,
    })

    # Grey-matter density: the template's, scaled by how much of its
    # intensity the subject's tissue keeps once the scanner's gain and offset
    # are undone (as segmentation does); the tissue it loses counts as CSF.
    vbm_rois = np.empty((n_subjects, 2, n_rois))
    folders = np.where(split == "train", "train", "val")
    for i, quasiraw in enumerate(volumes):
        gain, offset, _ = _SITES[site[i]]
        kept = to_vbm_grid((quasiraw - offset) / gain) / template_vbm
        kept = np.clip(kept, 0, 1.5)
        density = np.where(tpm > 0, tpm * kept, 0).astype(np.float32)
        lost = np.clip(1 - kept, 0, 1) * (tpm > 0)
        for row, weights in enumerate((density, lost)):
            in_regions = np.bincount(atlas.ravel(), weights.ravel(),
                                     minlength=n_rois + 1)
            vbm_rois[i, row] = in_regions[1:] * voxel_ml
        quasiraw_path = _path(root, folders[i], "quasiraw", ids[i])
        os.makedirs(os.path.dirname(quasiraw_path), exist_ok=True)
        np.save(quasiraw_path, quasiraw[None, None])
        np.save(_path(root, folders[i], "vbm", ids[i]), density[None, None])

    # fs_xhemi: a per-vertex pattern shared by all subjects, scaled with age.
    pattern = rng.uniform(0.5, 1.5, size=(len(_XHEMI_CHANNELS), n_vertices))
    for i in range(n_subjects):
        trend = np.array([value * (1 + slope * (age[i] - 50.0))
                          for _, value, slope in _XHEMI_CHANNELS])
        xhemi = trend[:, None] * pattern * rng.normal(1.0, 0.05, pattern.shape)
        np.save(_path(root, folders[i], "fs_xhemi", ids[i]),
                xhemi[None].astype(np.float32))

    roi_names = [f"lROI{k:02d}" for k in range(1, _N_NEUROMORPHOMETRICS + 1)] + [
        f"rROI{k:02d}" for k in range(1, _N_NEUROMORPHOMETRICS + 1)]
    vbm_features = [f"{name}_GM_Vol" for name in roi_names] + [
        f"{name}_CSF_Vol" for name in roi_names]
    measures = [name for name, *_ in _FS_MEASURES]
    fs_regions = {}
    fs_values = {}
    for atlas_name, n_regions in (("desikan", _N_DESIKAN),
                                  ("destrieux", _N_DESTRIEUX)):
        fs_regions[atlas_name] = [
            f"{hemi}-{atlas_name}{k:02d}"
            for hemi in ("lh", "rh") for k in range(1, n_regions + 1)]
        fs_values[atlas_name] = _fs_table(2 * n_regions, age, head_size, rng)
    for folder in ("train", "val"):
        rows = folders == folder
        _write_roi_csv(pd, _path(root, folder, "vbm_roi"),
                       ids[rows], vbm_rois[rows], vbm_features)
        for atlas_name, regions in fs_regions.items():
            _write_roi_csv(
                pd, _path(root, folder, f"fs_{atlas_name}_roi"),
                ids[rows], fs_values[atlas_name][rows],
                [f"{region}_{measure}" for measure in measures
                 for region in regions])

    resource = os.path.join(root, "resource")
    os.makedirs(resource, exist_ok=True)
    with open(os.path.join(resource, "resources.json"), "w") as file:
        json.dump({
            "vbm_roi": {"features": vbm_features},
            "desikan_roi": {"features": fs_regions["desikan"],
                            "channels": measures},
            "destrieux_roi": {"features": fs_regions["destrieux"],
                              "channels": measures},
            "xhemi": {"channels": [name for name, *_ in _XHEMI_CHANNELS]},
        }, file, indent=1)
    nibabel.save(nibabel.Nifti1Image(atlas, vbm_affine),
                 os.path.join(resource, "neuromorphometrics.nii"))
    pd.DataFrame({
        "ROIid": np.arange(n_rois + 1),
        "ROIabbr": ["background", *roi_names],
        "ROIname": ["background"] + [
            f"{'left' if name[0] == 'l' else 'right'} region {name[4:]}"
            for name in roi_names],
    }).to_csv(os.path.join(resource, "neuromorphometrics.csv"), sep=";",
              index=False)
    nibabel.save(nibabel.Nifti1Image(tpm, vbm_affine), os.path.join(
        resource, "cat12vbm_space-MNI152_desc-gm_TPM.nii.gz"))
    nibabel.save(nibabel.Nifti1Image(brain_t1, template.affine), os.path.join(
        resource, "quasiraw_space-MNI152_desc-brain_T1w.nii.gz"))
    participants.to_csv(table_path, sep="\t", index=False)
    return participants
