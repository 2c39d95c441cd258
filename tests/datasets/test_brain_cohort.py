import sys

import numpy as np
import pytest

pytest.importorskip("nilearn")

from nilearn.datasets import load_mni152_brain_mask

from nidl.datasets import make_brain_cohort


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
