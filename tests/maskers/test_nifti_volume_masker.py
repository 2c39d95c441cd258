"""NiftiVolumeMasker: NIfTI images to cropped volumes, in pipelines, and back."""

import importlib.util
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline

from nidl.maskers import NiftiVolumeMasker
from tests.conftest import make_conv_vae

nibabel = pytest.importorskip("nibabel")
pytest.importorskip("nilearn")

GRID = (10, 12, 9)
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
AFFINE[:3, 3] = [-10.0, -12.0, -8.0]


@pytest.fixture
def mask():
    """A box-shaped mask with one voxel of its box left out."""
    data = np.zeros(GRID, dtype=np.uint8)
    data[2:7, 3:10, 1:6] = 1
    data[2, 3, 1] = 0  # inside the box, outside the mask
    return data


@pytest.fixture
def mask_path(tmp_path, mask):
    path = tmp_path / "mask.nii.gz"
    nibabel.save(nibabel.Nifti1Image(mask, AFFINE), path)
    return path


@pytest.fixture
def data():
    """Five volumes of positive values, everywhere on the grid."""
    return np.random.default_rng(0).uniform(1, 2, size=(5, *GRID)).astype("float32")


@pytest.fixture
def paths(tmp_path, data):
    files = []
    for index, volume in enumerate(data):
        path = tmp_path / f"subject_{index}.nii.gz"
        nibabel.save(nibabel.Nifti1Image(volume, AFFINE), path)
        files.append(str(path))
    return files


def expected_volumes(data, mask):
    """The crop worked out by hand: the mask's extent along each axis."""
    i, j, k = np.nonzero(mask)
    box = np.s_[i.min() : i.max() + 1, j.min() : j.max() + 1, k.min() : k.max() + 1]
    return (data * mask)[(slice(None), *box)][:, np.newaxis]


def test_crop_equals_the_bounding_box_computed_by_hand(mask_path, paths, data, mask):
    masker = NiftiVolumeMasker(mask_path).fit()
    assert masker.box_shape_ == (5, 7, 5)
    assert masker.bounding_box_ == (slice(2, 7), slice(3, 10), slice(1, 6))
    volumes = masker.transform(paths)
    assert volumes.dtype == np.float32
    assert volumes.shape == (5, 1, 5, 7, 5)
    np.testing.assert_array_equal(volumes, expected_volumes(data, mask))
    assert volumes[:, 0, 0, 0, 0].tolist() == [0.0] * 5  # left out of the mask


@pytest.mark.parametrize("kind", ["paths", "images", "4d", "4d_path", "3d", "3d_path"])
def test_input_kinds(kind, mask_path, paths, data, mask, tmp_path):
    images = [nibabel.load(path) for path in paths]
    series = nibabel.Nifti1Image(np.moveaxis(data, 0, -1), AFFINE)
    series_path = tmp_path / "series.nii"
    nibabel.save(series, series_path)
    imgs = {
        "paths": paths,
        "images": images,
        "4d": series,
        "4d_path": series_path,
        "3d": images[0],
        "3d_path": paths[0],
    }[kind]
    n = 1 if kind.startswith("3d") else 5
    masker = NiftiVolumeMasker(mask_path)
    volumes = masker.fit(imgs).transform(imgs)
    np.testing.assert_array_equal(volumes, expected_volumes(data[:n], mask))


def test_round_trip_is_the_input_inside_the_mask_and_zero_outside(
    mask_path, paths, data, mask
):
    masker = NiftiVolumeMasker(nibabel.load(mask_path)).fit(paths)
    img = masker.inverse_transform(masker.transform(paths))
    assert isinstance(img, nibabel.Nifti1Image)
    assert img.shape == (*GRID, 5)
    np.testing.assert_array_equal(img.affine, AFFINE)
    np.testing.assert_array_equal(img.get_fdata(), np.moveaxis(data * mask, 0, -1))


def test_inverse_transform_takes_tensors_without_channel_axis(mask_path, mask):
    masker = NiftiVolumeMasker(mask_path).fit()
    img = masker.inverse_transform(torch.ones(2, 5, 7, 5))
    assert img.shape == (*GRID, 2)
    np.testing.assert_array_equal(img.get_fdata()[..., 1], mask)


def test_inverse_transform_wrong_shape_names_the_expected_shape(mask_path):
    masker = NiftiVolumeMasker(mask_path).fit()
    with pytest.raises(ValueError, match=r"\(n, 1, 5, 7, 5\) or \(n, 5, 7, 5\)"):
        masker.inverse_transform(np.zeros((2, 1, 5, 7, 6)))


def test_grid_mismatch_names_the_file_and_both_grids(mask_path, paths, tmp_path):
    shifted = tmp_path / "shifted.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.ones(GRID, "float32"), np.eye(4)), shifted)
    masker = NiftiVolumeMasker(mask_path).fit(paths)
    with pytest.raises(ValueError, match="shifted.nii.gz") as error:
        masker.transform([*paths, shifted])
    message = str(error.value)
    assert "mask.nii.gz" in message and "resample" in message
    assert "shape (10, 12, 9) and affine [[1.0, 0.0" in message
    assert "[[2.0, 0.0" in message
    with pytest.raises(ValueError, match="shifted.nii.gz"):
        NiftiVolumeMasker(mask_path).fit([*paths, shifted])
    other_shape = tmp_path / "other_shape.nii"
    nibabel.save(
        nibabel.Nifti1Image(np.ones((10, 12, 8), "float32"), AFFINE), other_shape
    )
    with pytest.raises(ValueError, match=r"other_shape.nii.*shape \(10, 12, 8\)"):
        masker.transform(other_shape)


def test_images_on_different_grids_without_mask_name_both(paths, tmp_path):
    other = tmp_path / "other.nii"
    nibabel.save(nibabel.Nifti1Image(np.ones((8, 8, 8), "float32"), AFFINE), other)
    with pytest.raises(ValueError, match="other.nii.*subject_0.nii.gz"):
        NiftiVolumeMasker().fit([*paths, other])


def test_resample_puts_images_on_the_mask_grid(mask_path, data, mask):
    # The same image on a grid one voxel larger on each side: resampled to
    # the mask's grid, it is the original.
    larger_affine = AFFINE.copy()
    larger_affine[:3, 3] -= 2.0  # one voxel of 2 mm
    larger = nibabel.Nifti1Image(np.pad(data[0], 1), larger_affine)
    volumes = NiftiVolumeMasker(mask_path, resample=True).fit().transform(larger)
    np.testing.assert_allclose(volumes, expected_volumes(data[:1], mask), atol=1e-5)
    with pytest.raises(ValueError, match="resample=True"):
        NiftiVolumeMasker(mask_path).fit().transform(larger)


@pytest.fixture
def stripped(tmp_path, mask):
    """A skull-stripped-like cohort: values inside the mask, 0 around it."""
    rng = np.random.default_rng(1)
    data = (mask * rng.uniform(1, 2, size=(3, *GRID))).astype("float32")
    files = []
    for index, volume in enumerate(data):
        path = tmp_path / f"stripped_{index}.nii"
        nibabel.save(nibabel.Nifti1Image(volume, AFFINE), path)
        files.append(path)
    return files, data


def test_mask_computed_from_the_images(stripped, mask):
    masker = NiftiVolumeMasker().fit(stripped[0])
    np.testing.assert_array_equal(masker.mask_img_.get_fdata(), mask)
    np.testing.assert_array_equal(masker.affine_, AFFINE)
    assert masker.grid_shape_ == GRID
    assert masker.box_shape_ == (5, 7, 5)


def test_unfitted_and_bad_parameters(mask_path, paths):
    masker = NiftiVolumeMasker(mask_path)
    with pytest.raises(NotFittedError):
        masker.transform(paths)
    with pytest.raises(NotFittedError):
        masker.inverse_transform(np.zeros((1, 1, 5, 7, 5)))
    with pytest.raises(ValueError, match="imgs is None"):
        NiftiVolumeMasker().fit()
    with pytest.raises(ValueError, match="mask_strategy='brain'"):
        NiftiVolumeMasker(mask_strategy="brain").fit(paths)
    with pytest.raises(ValueError, match="empty list"):
        masker.fit([])
    with pytest.raises(TypeError, match="imgs is a ndarray"):
        masker.fit(np.zeros((2, *GRID)))
    three_values = np.zeros(GRID)
    three_values[1, 1, 1], three_values[2, 2, 2] = 1, 2
    with pytest.raises(ValueError, match="not made of 2 values"):
        NiftiVolumeMasker(nibabel.Nifti1Image(three_values, AFFINE)).fit()
    with pytest.raises(ValueError, match="File not found"):
        masker.fit().transform([paths[0], "missing.nii.gz"])


def test_truncated_file_and_nan_name_the_file(mask_path, paths, tmp_path, mask):
    truncated = tmp_path / "truncated.nii.gz"
    content = Path(paths[0]).read_bytes()
    truncated.write_bytes(content[: len(content) // 2])
    masker = NiftiVolumeMasker(mask_path).fit()
    with pytest.raises(ValueError, match="could not read.*truncated.nii.gz"):
        masker.transform([paths[1], truncated])
    values = np.ones(GRID, "float32")
    values[0, 0, 0] = np.nan  # outside the mask: set to 0
    assert np.isfinite(masker.transform(nibabel.Nifti1Image(values, AFFINE))).all()
    values[4, 5, 3] = np.nan  # inside
    with pytest.raises(ValueError, match="NaN"):
        masker.transform(nibabel.Nifti1Image(values, AFFINE))


def test_sklearn_citizenship(mask_path, paths):
    masker = NiftiVolumeMasker(mask_path, mask_strategy="epi", resample=True)
    assert masker.get_params() == {
        "mask_img": mask_path,
        "mask_strategy": "epi",
        "resample": True,
    }
    copy = clone(masker)
    assert copy.get_params() == masker.get_params()
    fitted = pickle.loads(pickle.dumps(masker.fit(paths)))
    assert fitted.transform(paths).shape == (5, 1, 5, 7, 5)


def test_module_imports_without_nilearn_and_says_which_extra(monkeypatch, mask_path):
    # A fresh copy of the module, executed with nibabel and nilearn hidden;
    # named inside nidl.maskers so that its relative imports resolve.
    for name in [n for n in sys.modules if n.split(".")[0] in ("nibabel", "nilearn")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "nibabel", None)
    monkeypatch.setitem(sys.modules, "nilearn", None)
    path = sys.modules[NiftiVolumeMasker.__module__].__file__
    spec = importlib.util.spec_from_file_location(
        "nidl.maskers._masker_without_nilearn", path
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(ImportError, match=r"pip install \"nidl\[neuroimaging\]\""):
        module.NiftiVolumeMasker(mask_path).fit()


def test_brain_cohort_on_the_mni_mask():
    from nilearn.datasets import load_mni152_brain_mask

    from nidl.datasets import make_brain_cohort

    images, _ = make_brain_cohort(4, resolution=4, random_state=0)
    mask_img = load_mni152_brain_mask(resolution=4)
    mask = mask_img.get_fdata() > 0
    masker = NiftiVolumeMasker(mask_img).fit(images)
    volumes = masker.transform(images)
    data = np.stack([img.get_fdata(dtype=np.float32) for img in images])
    np.testing.assert_array_equal(volumes, expected_volumes(data, mask))
    back = masker.inverse_transform(volumes)
    np.testing.assert_array_equal(back.affine, mask_img.affine)
    np.testing.assert_array_equal(back.get_fdata(), np.moveaxis(data * mask, 0, -1))


def test_pipeline_from_paths_to_latents_and_back_to_images(mask_path, paths):
    from nidl.plotting import latent_traversals

    masker = NiftiVolumeMasker(mask_path).fit()  # the box shape, from the mask
    vae = make_conv_vae(masker.box_shape_)
    pipe = make_pipeline(masker, vae).fit(paths)
    latents = pipe.transform(paths)
    assert latents.shape == (5, 2)
    img = pipe.inverse_transform(latents)
    assert img.shape == (*GRID, 5)
    np.testing.assert_array_equal(img.affine, AFFINE)
    outside = nibabel.load(mask_path).get_fdata() == 0
    assert np.all(img.get_fdata()[outside] == 0)
    assert np.any(img.get_fdata()[~outside] != 0)
    # Samples of the prior go back to images through the masker.
    samples = pipe[-1].sample(3)
    assert pipe[0].inverse_transform(samples).shape == (*GRID, 3)
    # So do latent traversals, (dims, steps, 1, X, Y, Z).
    traversals = latent_traversals(pipe[-1], dims=[0, 1], n_steps=3)
    img = pipe[0].inverse_transform(traversals.reshape(-1, *traversals.shape[2:]))
    assert img.shape == (*GRID, 6)
    assert np.all(img.get_fdata()[outside] == 0)


@pytest.mark.parametrize(
    "strategy, compute",
    [
        ("background", "compute_background_mask"),
        ("epi", "compute_epi_mask"),
        ("whole-brain-template", "compute_brain_mask"),
    ],
)
def test_mask_strategy_is_nilearn_on_the_mean_image(strategy, compute, stripped):
    from nilearn import masking

    paths, data = stripped
    masker = NiftiVolumeMasker(mask_strategy=strategy).fit(paths)
    expected = getattr(masking, compute)(nibabel.Nifti1Image(data.mean(0), AFFINE))
    np.testing.assert_array_equal(
        masker.mask_img_.get_fdata(), expected.get_fdata() > 0
    )
