"""ImageDataFrameDataset and default_image_loader: tables, labels, files, errors."""

import functools
import gzip
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

nibabel = pytest.importorskip("nibabel")
pd = pytest.importorskip("pandas")

from nidl.datasets.image_dataframe import (
    ImageDataFrameDataset,
    default_image_loader,
)
from tests.conftest import make_conv_vae

SHAPE = (6, 7, 5)


def write_nifti(path, data, affine=None):
    affine = np.eye(4) if affine is None else affine
    nibabel.Nifti1Image(np.asarray(data, dtype=np.float32), affine).to_filename(
        str(path)
    )
    return path


def volume(value, shape=SHAPE):
    """A volume whose voxels say which subject and where: value + 0.001 * i."""
    return value + 0.001 * np.arange(np.prod(shape), dtype=np.float32).reshape(shape)


@pytest.fixture
def cohort(tmp_path):
    """Five 6x7x5 volumes in tmp_path/images and a table of relative paths."""
    (tmp_path / "images").mkdir()
    names = [f"images/sub-{i}.nii.gz" for i in range(5)]
    for i, name in enumerate(names):
        write_nifti(tmp_path / name, volume(i))
    table = pd.DataFrame(
        {
            "image_path": names,
            "age": [20.0, 30.0, np.nan, 50.0, 60.0],
            "sex": [0, 1, 0, 1, 1],
        }
    )
    return tmp_path, table


class CropLast:
    """Crops the last axis to ``size`` voxels (deterministic)."""

    is_random = False

    def __init__(self, size):
        self.size = size

    def __call__(self, x):
        return x[..., : self.size]

    def __repr__(self):
        return f"CropLast(size={self.size})"


# -- items and labels ----------------------------------------------------------


def test_nifti_items_are_channels_first_float32_with_their_label(cohort):
    root, table = cohort
    dataset = ImageDataFrameDataset(root, table, label_cols="age")
    assert len(dataset) == 5
    image, age = dataset[1]
    assert isinstance(image, np.ndarray) and image.dtype == np.float32
    assert image.shape == (1, *SHAPE)
    np.testing.assert_allclose(image[0], volume(1), rtol=1e-6)
    assert age == 30.0
    assert dataset.imgs == [os.path.join(root, name) for name in table.image_path]
    assert dataset.df.image_path.tolist() == dataset.imgs
    assert dataset.targets[:2] == [20.0, 30.0]


def test_several_labels_come_as_a_tuple(cohort):
    root, table = cohort
    dataset = ImageDataFrameDataset(root, table, label_cols=["sex", "age"])
    assert dataset[3][1] == (1, 50.0)
    assert dataset.targets[0] == (0, 20.0)


def test_without_labels_items_are_the_image_or_image_and_none(cohort):
    # Upstream's behaviour (its code and tests; its docstring says the
    # reverse): by default the image alone, (image, None) on request.
    root, table = cohort
    alone = ImageDataFrameDataset(root, table)[0]
    assert isinstance(alone, np.ndarray) and alone.shape == (1, *SHAPE)
    image, label = ImageDataFrameDataset(root, table, return_none_if_no_label=False)[0]
    assert label is None and image.shape == (1, *SHAPE)


@pytest.mark.parametrize("kind", ["series", "csv", "tsv", "csv_kwargs"])
def test_table_as_series_or_file(cohort, kind):
    root, table = cohort
    if kind == "series":
        df = table.image_path.rename("whatever")
        dataset = ImageDataFrameDataset(root, df, return_none_if_no_label=False)
        assert dataset.df.columns.tolist() == ["image_path"]
    else:
        sep = {"csv": ",", "tsv": "\t", "csv_kwargs": ";"}[kind]
        path = root / ("table.tsv" if kind == "tsv" else "table.csv")
        table.to_csv(path, sep=sep, index=False)
        kwargs = {"sep": ";"} if kind == "csv_kwargs" else None
        dataset = ImageDataFrameDataset(
            root, str(path), label_cols="sex", read_csv_kwargs=kwargs
        )
        assert dataset.targets == [0, 1, 0, 1, 1]
    image = dataset[4][0]  # (image, None) on request, or (image, label)
    np.testing.assert_allclose(image[0], volume(4), rtol=1e-6)


def test_absolute_paths_are_kept(cohort, tmp_path_factory):
    root, table = cohort
    table = table.assign(image_path=[str(root / p) for p in table.image_path])
    dataset = ImageDataFrameDataset(tmp_path_factory.mktemp("elsewhere"), table)
    assert dataset.imgs == table.image_path.tolist()


def test_target_transform_callable_and_per_column(cohort):
    root, table = cohort
    one = ImageDataFrameDataset(
        root, table, label_cols="age", target_transform=lambda age: age / 10
    )
    assert one[1][1] == 3.0
    whole = ImageDataFrameDataset(
        root, table, label_cols=["age", "sex"], target_transform=torch.tensor
    )
    assert torch.equal(whole[0][1], torch.tensor([20.0, 0.0]))
    per_column = ImageDataFrameDataset(
        root,
        table,
        label_cols=["age", "sex"],
        target_transform={"sex": lambda s: "F" if s else "M"},
    )
    assert per_column[1][1] == (30.0, "F")
    # The targets attribute holds the labels before the transform.
    assert per_column.targets[1] == (30.0, 1)


def test_is_valid_label_filters_rows(cohort):
    root, table = cohort
    dataset = ImageDataFrameDataset(
        root, table, label_cols="age", is_valid_label=lambda age: not np.isnan(age)
    )
    assert len(dataset) == 4
    assert dataset.targets == [20.0, 30.0, 50.0, 60.0]
    assert dataset.df.index.tolist() == [0, 1, 3, 4]
    # Item 2 is the fourth row of the table, sub-3.
    image, age = dataset[2]
    assert age == 50.0
    np.testing.assert_allclose(image[0], volume(3), rtol=1e-6)

    by_column = ImageDataFrameDataset(
        root,
        table,
        label_cols=["age", "sex"],
        is_valid_label={"age": pd.notna, "sex": lambda s: s == 1},
    )
    assert by_column.targets == [(30.0, 1), (50.0, 1), (60.0, 1)]
    on_tuples = ImageDataFrameDataset(
        root, table, label_cols=["age", "sex"],
        is_valid_label=lambda labels: labels[0] > 40,
    )
    assert on_tuples.targets == [(50.0, 1), (60.0, 1)]


# -- bad tables ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"image_col": "path"}, ValueError, "image_col='path'.*image_path"),
        ({"label_cols": ["age", "weight"]}, ValueError, "label_cols.*'weight'"),
        ({"label_cols": 3}, TypeError, "label_cols"),
        ({"checksum_col": "sha"}, ValueError, "checksum_col.*'sha'"),
        ({"label_cols": "age", "target_transform": {"weight": abs}}, ValueError,
         "target_transform.*'weight'"),
        ({"label_cols": "age", "target_transform": 3}, TypeError,
         "target_transform"),
        ({"is_valid_label": bool}, ValueError, "is_valid_label.*label_cols"),
        ({"label_cols": "age", "is_valid_label": lambda age: age > 100},
         ValueError, "rejects all 5 rows"),
    ],
)
def test_bad_parameters_say_which(cohort, kwargs, error, match):
    root, table = cohort
    with pytest.raises(error, match=match):
        ImageDataFrameDataset(root, table, **kwargs)


def test_df_of_another_type_is_refused(cohort):
    root, table = cohort
    with pytest.raises(TypeError, match="df must be.*list"):
        ImageDataFrameDataset(root, table.image_path.tolist())


def test_a_missing_path_in_the_table_is_named(cohort):
    root, table = cohort
    table.loc[2, "image_path"] = None
    with pytest.raises(TypeError, match="row 2 of column 'image_path' holds nan"):
        ImageDataFrameDataset(root, table)


# -- bad files -----------------------------------------------------------------


def test_missing_file_is_named_at_construction(cohort):
    root, table = cohort
    os.remove(root / "images/sub-3.nii.gz")
    with pytest.raises(FileNotFoundError, match=r"1 of the 5 .*sub-3\.nii\.gz"):
        ImageDataFrameDataset(root, table)


def test_truncated_nifti_is_named_at_the_first_read(tmp_path):
    # Large enough that half of the compressed file still holds the header.
    data = np.random.default_rng(0).normal(size=(20, 20, 20))
    path = write_nifti(tmp_path / "cut.nii.gz", data)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    # Construction reads the header only, which is whole.
    dataset = ImageDataFrameDataset(tmp_path, pd.Series(["cut.nii.gz"]))
    with pytest.raises(OSError, match=r"cannot read the NIfTI file .*cut\.nii\.gz"
                       ) as info:
        dataset[0]
    assert info.value.__cause__ is not None


@pytest.mark.parametrize("content", [b"", b"not an image at all" * 30])
def test_a_file_that_is_not_nifti_is_named_at_construction(tmp_path, content):
    (tmp_path / "bad.nii").write_bytes(content)
    with pytest.raises(OSError, match=r"cannot read the NIfTI file .*bad\.nii") as info:
        ImageDataFrameDataset(tmp_path, pd.Series(["bad.nii"]))
    assert info.value.__cause__ is not None


def test_a_truncated_gzip_header_is_named(tmp_path):
    path = write_nifti(tmp_path / "short.nii.gz", np.ones(SHAPE))
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:100]))
    with pytest.raises(OSError, match=r"short\.nii\.gz"):
        ImageDataFrameDataset(tmp_path, pd.Series(["short.nii.gz"]))


def test_unknown_extension_is_named_at_construction(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"notes\.txt: its extension"):
        ImageDataFrameDataset(tmp_path, pd.Series(["notes.txt"]))


def test_different_shapes_without_transform_name_both_files(cohort):
    root, table = cohort
    write_nifti(root / "images/sub-3.nii.gz", np.ones((6, 7, 4)))
    with pytest.raises(
        ValueError,
        match=r"sub-0\.nii\.gz and .*sub-3\.nii\.gz have different shapes, "
        r"\(1, 6, 7, 5\) and \(1, 6, 7, 4\)",
    ):
        ImageDataFrameDataset(root, table)


def test_different_affines_without_transform_name_both_files(cohort):
    root, table = cohort
    write_nifti(root / "images/sub-4.nii.gz", volume(4), np.diag([2.0, 2, 2, 1]))
    with pytest.raises(
        ValueError, match=r"sub-0\.nii\.gz and .*sub-4\.nii\.gz have different affines"
    ):
        ImageDataFrameDataset(root, table)


def test_with_a_transform_shapes_are_compared_as_items_are_read(cohort):
    root, table = cohort
    write_nifti(root / "images/sub-3.nii.gz", np.ones((6, 7, 4)))
    # A crop to 5 voxels leaves the 4-voxel image as it is.
    dataset = ImageDataFrameDataset(root, table, transform=CropLast(5))
    dataset[0]
    with pytest.raises(
        ValueError,
        match=r"sub-0\.nii\.gz and .*sub-3\.nii\.gz have different shapes",
    ):
        dataset[3]
    # A transform that brings both to one shape is what the message asks for.
    fixed = ImageDataFrameDataset(root, table, transform=CropLast(4))
    assert {fixed[i].shape for i in range(5)} == {(1, 6, 7, 4)}


def test_a_checksum_that_no_longer_matches_names_the_file(cohort):
    import hashlib

    root, table = cohort
    table["sha256"] = [
        hashlib.sha256((root / p).read_bytes()).hexdigest() for p in table.image_path
    ]
    dataset = ImageDataFrameDataset(root, table, checksum_col="sha256")
    for i in range(5):
        dataset[i]
    write_nifti(root / "images/sub-2.nii.gz", volume(7))
    dataset[1]
    with pytest.raises(ValueError, match=r"sub-2\.nii\.gz changed on disk"):
        dataset[2]


def test_a_custom_loader_error_gets_the_file_name(cohort):
    root, table = cohort

    def fragile_loader(path):
        raise RuntimeError("decoder failed")

    dataset = ImageDataFrameDataset(root, table, image_loader=fragile_loader)
    with pytest.raises(RuntimeError, match="decoder failed") as info:
        dataset[0]
    assert any("sub-0.nii.gz" in note for note in info.value.__notes__)


# -- the default loader ----------------------------------------------------------


def test_a_4d_nifti_gives_channels_first(tmp_path):
    data = np.random.default_rng(0).normal(size=(*SHAPE, 3)).astype(np.float32)
    path = write_nifti(tmp_path / "multi.nii", data)
    loaded = default_image_loader(path)
    assert loaded.shape == (3, *SHAPE) and loaded.dtype == np.float32
    for channel in range(3):
        np.testing.assert_array_equal(loaded[channel], data[..., channel])


def test_nifti_scaling_and_integer_data_become_float32(tmp_path):
    image = nibabel.Nifti1Image(np.arange(210, dtype=np.int16).reshape(SHAPE),
                                np.eye(4))
    image.header.set_slope_inter(0.5, 10.0)
    image.to_filename(str(tmp_path / "scaled.nii"))
    loaded = default_image_loader(tmp_path / "scaled.nii")
    assert loaded.dtype == np.float32
    np.testing.assert_allclose(loaded[0], np.arange(210).reshape(SHAPE) * 0.5 + 10)


def test_as_image_returns_the_nibabel_image(tmp_path):
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    path = write_nifti(tmp_path / "a.nii.gz", volume(0), affine)
    image = default_image_loader(path, as_image=True)
    assert isinstance(image, nibabel.Nifti1Image)
    np.testing.assert_array_equal(image.affine, affine)
    loader = functools.partial(default_image_loader, as_image=True)
    item = ImageDataFrameDataset(tmp_path, pd.Series(["a.nii.gz"]),
                                 image_loader=loader)[0]
    assert isinstance(item, nibabel.Nifti1Image) and item.shape == SHAPE


def test_numpy_files(tmp_path):
    array = np.arange(24.0).reshape(2, 3, 4)
    np.save(tmp_path / "a.npy", array)
    np.savez(tmp_path / "one.npz", array)
    np.savez(tmp_path / "two.npz", x=array, y=array + 1)
    np.testing.assert_array_equal(default_image_loader(tmp_path / "a.npy"), array)
    np.testing.assert_array_equal(default_image_loader(tmp_path / "one.npz"), array)
    two = default_image_loader(tmp_path / "two.npz")
    assert sorted(two) == ["x", "y"]
    np.testing.assert_array_equal(two["y"], array + 1)
    dataset = ImageDataFrameDataset(tmp_path, pd.Series(["a.npy", "one.npz"]))
    np.testing.assert_array_equal(dataset[1], array)


def test_a_corrupt_npy_file_is_named(tmp_path):
    (tmp_path / "bad.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(OSError, match=r"cannot read the NumPy file .*bad\.npy"):
        default_image_loader(tmp_path / "bad.npy")


def test_2d_images_through_pil(tmp_path):
    image_module = pytest.importorskip("PIL.Image")
    pixels = np.zeros((4, 5), dtype=np.uint8)
    image_module.fromarray(pixels).save(tmp_path / "a.png")
    image = default_image_loader(tmp_path / "a.png")
    assert image.mode == "RGB" and image.size == (5, 4)


def test_unknown_extension_from_the_loader(tmp_path):
    with pytest.raises(ValueError, match=r"cannot read .*a\.mgz: its extension"):
        default_image_loader(tmp_path / "a.mgz")


# -- in training -----------------------------------------------------------------


def test_dataset_pickles(cohort):
    root, table = cohort
    dataset = ImageDataFrameDataset(root, table, label_cols="sex",
                                    cache_dir=root / "cache")
    copy = pickle.loads(pickle.dumps(dataset))
    np.testing.assert_array_equal(copy[1][0], dataset[1][0])
    assert copy.targets == dataset.targets


def test_a_dataloader_batches_volumes_and_labels(cohort):
    root, table = cohort
    dataset = ImageDataFrameDataset(root, table, label_cols=["age", "sex"])
    x, (age, sex) = next(iter(DataLoader(dataset, batch_size=4)))
    assert x.shape == (4, 1, *SHAPE) and x.dtype == torch.float32
    assert age.tolist()[:2] == [20.0, 30.0] and sex.tolist() == [0, 1, 0, 1]


def test_vae_trains_from_the_files_through_the_cache(cohort):
    root, table = cohort
    dataset = ImageDataFrameDataset(
        root, table, label_cols="age", cache_dir=root / "cache"
    )
    vae = make_conv_vae(SHAPE)
    loader = DataLoader(dataset, batch_size=4)
    latents = vae.fit(loader).transform(loader)
    assert latents.shape == (5, 2) and torch.isfinite(latents).all()
    assert len(list((root / "cache").glob("*.npy"))) == 5


def test_the_module_imports_without_nibabel_and_pandas():
    code = (
        "import sys\n"
        "sys.modules['nibabel'] = None\n"
        "sys.modules['pandas'] = None\n"
        "from nidl.datasets.image_dataframe import ImageDataFrameDataset\n"
        "try:\n"
        "    ImageDataFrameDataset('.', None)\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "needs pandas" in result.stdout
