import sys

import numpy as np
import pytest

pytest.importorskip("nilearn")

from nilearn.datasets import load_mni152_brain_mask
from scipy import ndimage

from nidl.datasets import (
    BRAIN_REGIONS,
    make_brain_cohort,
    make_brain_cohort_with_atrophy,
    make_brain_parcellation,
)


@pytest.fixture(scope="module")
def cohort():
    return make_brain_cohort(40, random_state=0)


def test_images_and_factors(cohort):
    images, factors = cohort
    mask = load_mni152_brain_mask(resolution=4)
    assert len(images) == len(factors) == 40
    for image in images:
        assert image.shape == mask.shape
        np.testing.assert_allclose(image.affine, mask.affine)
        assert image.get_data_dtype() == np.float32
    assert list(factors.columns) == [
        "age", "sex", "site", "head_size", "gm_loss", "ventricle_volume"
    ]
    assert factors.age.between(20, 80).all()
    assert set(factors.sex) <= {0, 1} and set(factors.site) <= {0, 1, 2}


def test_age_shows_in_the_images(cohort):
    _, factors = cohort
    # Older brains have larger ventricles and less grey-matter contrast.
    assert np.corrcoef(factors.age, factors.ventricle_volume)[0, 1] > 0.6
    assert np.corrcoef(factors.age, factors.gm_loss)[0, 1] > 0.8
    # Head size follows sex.
    by_sex = factors.groupby("sex").head_size.mean()
    assert by_sex[1] > by_sex[0]


def test_reproducible():
    a_images, a_factors = make_brain_cohort(2, random_state=3)
    b_images, b_factors = make_brain_cohort(2, random_state=3)
    np.testing.assert_array_equal(a_images[1].get_fdata(), b_images[1].get_fdata())
    assert a_factors.equals(b_factors)
    c_images, _ = make_brain_cohort(2, random_state=4)
    assert not np.array_equal(a_images[1].get_fdata(), c_images[1].get_fdata())


def test_without_nilearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "nilearn", None)
    with pytest.raises(ImportError, match=r"nidl\[nilearn\]"):
        make_brain_cohort(2)


def test_bad_n_subjects():
    with pytest.raises(ValueError, match="n_subjects"):
        make_brain_cohort(0)


# ----------------------------------------------------------------------
# Patients with localised atrophy
# ----------------------------------------------------------------------
def mni_millimetres(image):
    """MNI coordinates (mm) of every voxel of ``image``, shape (3, X, Y, Z)."""
    grid = np.indices(image.shape[:3], dtype=float)
    return np.einsum("ij,jxyz->ixyz", image.affine[:3, :3], grid) + image.affine[
        :3, 3, None, None, None
    ]


@pytest.fixture(scope="module")
def atrophy_by_strength():
    """The same 2 controls and 2 patients with atrophy of three strengths."""
    return {
        strength: make_brain_cohort_with_atrophy(
            2, 2, region="left_hippocampus", radius=10, strength=strength,
            random_state=5,
        )
        for strength in (0.2, 0.4, 0.6)
    }


def test_controls_are_those_of_make_brain_cohort(atrophy_by_strength):
    images, factors, masks = atrophy_by_strength[0.4]
    control_images, control_factors = make_brain_cohort(2, random_state=5)
    for image, control in zip(images[:2], control_images):
        np.testing.assert_array_equal(image.get_fdata(), control.get_fdata())
    assert factors.iloc[:2, :6].equals(control_factors)
    assert factors.patient.tolist() == [0, 0, 1, 1]
    assert [int(mask.get_fdata().sum()) for mask in masks[:2]] == [0, 0]
    assert factors.atrophy_volume[:2].tolist() == [0.0, 0.0]


def test_atrophy_lies_in_the_region_and_only_there(atrophy_by_strength):
    weak, strong = atrophy_by_strength[0.2], atrophy_by_strength[0.6]
    centre = np.array(BRAIN_REGIONS["left_hippocampus"])
    for subject in (2, 3):
        mask = strong[2][subject].get_fdata() > 0
        # Tens of voxels of 64 ul, near the hippocampus: the ball of 10 mm,
        # moved and stretched by the patient's deformation by a few mm.
        assert 40 <= mask.sum() <= 130
        assert strong[1].atrophy_volume[subject] == pytest.approx(mask.sum() * 0.064)
        distance = np.sqrt(
            ((mni_millimetres(strong[2][subject]) - centre[:, None, None, None]) ** 2)
            .sum(axis=0)
        )
        assert distance[mask].max() < 10 + 8
        # The stronger atrophy changes the image in the mask (tissue darkens
        # towards CSF) and nowhere else but the one voxel of interpolation
        # around it.
        change = strong[0][subject].get_fdata() - weak[0][subject].get_fdata()
        assert change[mask].mean() < -0.05
        border = ndimage.binary_dilation(mask, structure=np.ones((3, 3, 3)))
        assert np.all(change[~border] == 0)
        np.testing.assert_array_equal(mask, weak[2][subject].get_fdata() > 0)


def test_atrophy_strength_scales_linearly(atrophy_by_strength):
    images = {s: cohort[0] for s, cohort in atrophy_by_strength.items()}
    mask = atrophy_by_strength[0.2][2][3].get_fdata() > 0
    first = images[0.4][3].get_fdata()[mask] - images[0.2][3].get_fdata()[mask]
    second = images[0.6][3].get_fdata()[mask] - images[0.4][3].get_fdata()[mask]
    np.testing.assert_allclose(second, first, atol=1e-5)
    assert first.mean() < -0.05


def test_atrophy_in_a_mask_on_the_grid():
    region = np.zeros((50, 59, 48), dtype=bool)
    region[30:34, 20:26, 15:20] = True  # a box in the right temporal lobe
    _, factors, masks = make_brain_cohort_with_atrophy(
        0, 2, region=region, radius=None, random_state=0
    )
    allowed = ndimage.binary_dilation(region, iterations=2)
    for mask in masks:
        mask = mask.get_fdata() > 0
        assert mask.sum() > 0.5 * region.sum()
        assert not np.any(mask & ~allowed)
    # A radius keeps the part of the mask around its centre.
    _, small, _ = make_brain_cohort_with_atrophy(
        0, 2, region=region, radius=5, random_state=0
    )
    assert np.all(small.atrophy_volume < 0.5 * factors.atrophy_volume)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_patients": 0}, "n_patients"),
        ({"n_controls": -1}, "n_controls"),
        ({"strength": 0.0}, "strength"),
        ({"strength": 1.5}, "strength"),
        ({"radius": 0.0}, "radius"),
        ({"region": "hippocampus"}, "left_hippocampus"),
        ({"region": (0.0, 0.0, 300.0)}, "no voxel in the brain"),
        ({"region": (0.0, 0.0)}, "three numbers"),
        ({"region": "left_hippocampus", "radius": None}, "radius"),
        ({"region": np.ones((10, 10, 10))}, "grid shape"),
        ({"region": np.zeros((50, 59, 48))}, "no voxel in the brain mask"),
    ],
)
def test_bad_atrophy_arguments(kwargs, match):
    arguments = {"n_controls": 1, "n_patients": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_brain_cohort_with_atrophy(**arguments)


def test_region_image_on_another_grid_names_the_fix():
    import nibabel

    image = nibabel.Nifti1Image(np.ones((50, 59, 48), dtype=np.uint8), np.eye(4))
    with pytest.raises(ValueError, match="resample_to_img"):
        make_brain_cohort_with_atrophy(1, 1, region=image, radius=None)


def test_parcellation_covers_the_brain_by_hemisphere():
    labels = make_brain_parcellation(n_regions=9)
    data = labels.get_fdata()
    mask = load_mni152_brain_mask(resolution=4).get_fdata() > 0
    assert np.all((data > 0) == mask)
    counts = np.bincount(data[mask].astype(int))[1:]
    assert len(counts) == 9 and counts.min() > 0.3 * counts.mean()
    x = mni_millimetres(labels)[0]
    assert np.all(x[(data >= 1) & (data <= 4)] < 0)  # 9 // 2 regions on the left
    assert np.all(x[data >= 5] >= 0)
    with pytest.raises(ValueError, match="n_regions"):
        make_brain_parcellation(n_regions=1)
