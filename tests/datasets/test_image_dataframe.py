"""ImageDataFrameDataset and default_image_loader: tables, labels, files, errors."""

import functools
import gzip
import os
import pickle
import subprocess
import sys
from unittest import mock

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


def load_with_channel(path):
    """The default loader with a channel axis first, as 3-D networks take it."""
    return default_image_loader(path)[np.newaxis]


def test_nifti_items_are_float32_volumes_with_their_label(cohort):
    root, table = cohort
    dataset = ImageDataFrameDataset(root, table, label_cols="age")
    assert len(dataset) == 5
    image, age = dataset[1]
    assert isinstance(image, np.ndarray) and image.dtype == np.float32
    assert image.shape == SHAPE
    np.testing.assert_allclose(image, volume(1), rtol=1e-6)
    assert age == 30.0
    assert dataset.imgs == [os.path.join(root, name) for name in table.image_path]
    assert dataset.df.image_path.tolist() == dataset.imgs
    assert dataset.targets[:2] == [20.0, 30.0]


def test_several_labels_come_as_a_list(cohort):
    root, table = cohort
    dataset = ImageDataFrameDataset(root, table, label_cols=["sex", "age"])
    assert dataset[3][1] == [1, 50.0]
    assert dataset.targets[0] == [0, 20.0]
    # A list of one name gives lists too; a name gives values.
    one = ImageDataFrameDataset(root, table, label_cols=["sex"])
    assert one[3][1] == [1] and one.targets[:2] == [[0], [1]]


def test_targets_are_values_lists_or_none(cohort):
    root, table = cohort
    assert ImageDataFrameDataset(root, table, label_cols="sex").targets == [
        0, 1, 0, 1, 1]
    assert ImageDataFrameDataset(root, table).targets == [None] * 5


def test_without_labels_items_are_the_image_or_image_and_none(cohort):
    # Upstream's behaviour (its code and tests; its docstring says the
    # reverse): by default the image alone, (image, None) on request.
    root, table = cohort
    alone = ImageDataFrameDataset(root, table)[0]
    assert isinstance(alone, np.ndarray) and alone.shape == SHAPE
    image, label = ImageDataFrameDataset(root, table, return_none_if_no_label=False)[0]
    assert label is None and image.shape == SHAPE


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
    np.testing.assert_allclose(image, volume(4), rtol=1e-6)


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
    # A callable gets the whole label: a list, even for a list of one name.
    listed = ImageDataFrameDataset(
        root, table, label_cols=["age"], target_transform=lambda y: y[0] / 10
    )
    assert listed[1][1] == 3.0
    per_column = ImageDataFrameDataset(
        root,
        table,
        label_cols=["age", "sex"],
        target_transform={"sex": lambda s: "F" if s else "M"},
    )
    # The columns the dict does not name are left as they are.
    assert per_column[1][1] == [30.0, "F"]
    # The targets attribute holds the labels before the transform.
    assert per_column.targets[1] == [30.0, 1]


def test_transform_runs_before_target_transform(tmp_path):
    calls = []
    (tmp_path / "a.png").write_bytes(b"")
    table = pd.DataFrame({"image_path": ["a.png"], "label": ["cat"]})
    dataset = ImageDataFrameDataset(
        tmp_path, table, label_cols="label", image_loader=lambda path: path,
        transform=lambda x: calls.append("transform") or x,
        target_transform=lambda y: calls.append("target") or y.upper(),
    )
    assert dataset[0] == (str(tmp_path / "a.png"), "CAT")
    assert calls == ["transform", "target"]


def test_is_valid_label_filters_rows(cohort):
    root, table = cohort
    dataset = ImageDataFrameDataset(
        root, table, label_cols="age", is_valid_label=lambda age: not np.isnan(age)
    )
    assert len(dataset) == 4
    assert dataset.targets == [20.0, 30.0, 50.0, 60.0]
    # The index is reset, the paths follow the rows kept.
    assert dataset.df.index.tolist() == [0, 1, 2, 3]
    assert dataset.imgs[2].endswith("sub-3.nii.gz")
    # Item 2 is the fourth row of the table, sub-3.
    image, age = dataset[2]
    assert age == 50.0
    np.testing.assert_allclose(image, volume(3), rtol=1e-6)

    by_column = ImageDataFrameDataset(
        root,
        table,
        label_cols=["age", "sex"],
        is_valid_label={"age": pd.notna, "sex": lambda s: s == 1},
    )
    assert by_column.targets == [[30.0, 1], [50.0, 1], [60.0, 1]]
    # With a list of columns, a callable gets each row as a pandas Series.
    rows = []
    on_rows = ImageDataFrameDataset(
        root, table, label_cols=["age", "sex"],
        is_valid_label=lambda row: rows.append(row) or row["age"] > 40,
    )
    assert on_rows.targets == [[50.0, 1], [60.0, 1]]
    assert isinstance(rows[0], pd.Series) and rows[0].index.tolist() == ["age", "sex"]


def test_is_valid_label_drops_missing_values(tmp_path):
    for name in ("img1.png", "img2.png", "img3.png"):
        (tmp_path / name).write_bytes(b"")
    paths = ["img1.png", "img2.png", "img3.png"]
    single = ImageDataFrameDataset(
        tmp_path, pd.DataFrame({"image_path": paths, "label": [0, 1, np.nan]}),
        label_cols="label", image_loader=lambda p: p,
        is_valid_label=lambda label: not pd.isna(label),
    )
    assert single.targets == [0, 1]
    assert single.imgs == [str(tmp_path / p) for p in paths[:2]]
    several = ImageDataFrameDataset(
        tmp_path,
        pd.DataFrame({"image_path": paths, "a": [1, np.nan, 3], "b": [4, 5, np.nan]}),
        label_cols=["a", "b"], image_loader=lambda p: p,
        is_valid_label=lambda row: not row.isna().any(),
    )
    assert several.targets == [[1, 4]] and several.imgs == [str(tmp_path / "img1.png")]


def test_the_callers_table_is_left_unchanged(cohort):
    root, table = cohort
    before = table.copy()
    ImageDataFrameDataset(root, table, label_cols="age")
    ImageDataFrameDataset(root, table, label_cols="age", is_valid_label=pd.notna)
    pd.testing.assert_frame_equal(table, before)


def test_no_file_is_opened_at_construction_by_a_loader_of_ones_own(cohort):
    root, table = cohort
    read = []
    dataset = ImageDataFrameDataset(root, table, image_loader=read.append)
    assert read == []
    dataset[2]
    assert read == [os.path.join(root, "images/sub-2.nii.gz")]


# -- bad tables ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"image_col": "path"}, ValueError, "image_col='path'.*image_path"),
        ({"label_cols": ["age", "weight"]}, ValueError, "label_cols.*'weight'"),
        ({"label_cols": 3}, TypeError, "label_cols"),
        ({"label_cols": ("age", "sex")}, TypeError, "label_cols"),
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


def test_unknown_extension_is_named_at_the_first_read(tmp_path):
    # Construction accepts it (a table may list files of any kind, checked
    # by checksum for instance); reading it with the default loader fails.
    (tmp_path / "notes.txt").write_text("hello")
    dataset = ImageDataFrameDataset(tmp_path, pd.Series(["notes.txt"]))
    with pytest.raises(ValueError, match=r"notes\.txt: its extension"):
        dataset[0]


def test_different_shapes_without_transform_name_both_files(cohort):
    root, table = cohort
    write_nifti(root / "images/sub-3.nii.gz", np.ones((6, 7, 4)))
    with pytest.raises(
        ValueError,
        match=r"sub-0\.nii\.gz and .*sub-3\.nii\.gz have different shapes, "
        r"\(6, 7, 5\) and \(6, 7, 4\)",
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
    assert {fixed[i].shape for i in range(5)} == {(6, 7, 4)}


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
    # A new dataset over the changed file fails at construction.
    with pytest.raises(ValueError, match=r"sub-2\.nii\.gz changed on disk"):
        ImageDataFrameDataset(root, table, checksum_col="sha256")


def test_checksum_classmethods(tmp_path):
    import hashlib

    path = tmp_path / "notes.txt"
    path.write_bytes(b"some bytes\n")
    expected = hashlib.sha256(b"some bytes\n").hexdigest()
    assert ImageDataFrameDataset._checksum(path) == expected
    assert ImageDataFrameDataset._verify_checksum(path, expected) is True
    assert ImageDataFrameDataset._verify_checksum(path, "0" * 64) is False
    # Files of any kind, with the default loader and absolute paths.
    table = pd.DataFrame({"image_path": [str(path)] * 2, "sha": [expected] * 2})
    assert len(ImageDataFrameDataset("", table, checksum_col="sha")) == 2
    table.loc[1, "sha"] = "0" * 64
    with pytest.raises(ValueError, match=r"notes\.txt changed on disk.*'sha'"):
        ImageDataFrameDataset("", table, checksum_col="sha")


def test_a_custom_loader_error_gets_the_file_name(cohort):
    root, table = cohort

    def fragile_loader(path):
        raise RuntimeError("decoder failed")

    dataset = ImageDataFrameDataset(root, table, image_loader=fragile_loader)
    with pytest.raises(RuntimeError, match="decoder failed") as info:
        dataset[0]
    assert any("sub-0.nii.gz" in note for note in info.value.__notes__)


# -- the default loader ----------------------------------------------------------


def test_a_4d_nifti_keeps_its_axes(tmp_path):
    data = np.random.default_rng(0).normal(size=(*SHAPE, 3)).astype(np.float32)
    path = write_nifti(tmp_path / "multi.nii", data)
    loaded = default_image_loader(path)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, data)


def test_nifti_scaling_and_integer_data_become_float32(tmp_path):
    image = nibabel.Nifti1Image(np.arange(210, dtype=np.int16).reshape(SHAPE),
                                np.eye(4))
    image.header.set_slope_inter(0.5, 10.0)
    image.to_filename(str(tmp_path / "scaled.nii"))
    loaded = default_image_loader(tmp_path / "scaled.nii")
    assert loaded.dtype == np.float32
    np.testing.assert_allclose(loaded, np.arange(210).reshape(SHAPE) * 0.5 + 10)


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
    pixels = np.arange(20, dtype=np.uint8).reshape(4, 5)
    # A grey image, with an extension in capitals, comes back as RGB.
    image_module.fromarray(pixels).save(tmp_path / "A.PNG")
    image = default_image_loader(tmp_path / "A.PNG")
    assert image.mode == "RGB" and image.size == (5, 4)
    np.testing.assert_array_equal(np.asarray(image)[..., 1], pixels)
    table = pd.DataFrame({"image_path": ["A.PNG"], "label": ["cat"]})
    item, label = ImageDataFrameDataset(tmp_path, table, label_cols="label")[0]
    assert item.mode == "RGB" and label == "cat"


def test_the_loader_calls_the_readers_and_returns_what_they_give():
    # What users of the readers replace in their own tests must be what is
    # called, and its result returned as it is.
    image = mock.MagicMock()
    image.get_fdata.return_value = "voxels"
    with mock.patch("nibabel.load", return_value=image) as load:
        assert default_image_loader("brain.nii.gz") == "voxels"
    load.assert_called_once_with("brain.nii.gz")
    with mock.patch("numpy.load", return_value="array") as load:
        assert default_image_loader("a.npy") == "array"
    pytest.importorskip("PIL.Image")
    picture = mock.MagicMock()
    picture.convert.return_value = "rgb"
    with mock.patch("PIL.Image.open", return_value=picture) as open_:
        assert default_image_loader("photo.JpEg") == "rgb"
    open_.assert_called_once_with("photo.JpEg")
    picture.convert.assert_called_once_with("RGB")


def test_unknown_extension_from_the_loader(tmp_path):
    with pytest.raises(
        ValueError, match=r"cannot read .*a\.mgz: its extension is not one of "
        r"\.nii, \.nii\.gz, \.npy, \.npz, \.jpg"
    ):
        default_image_loader(tmp_path / "a.mgz")


def test_without_pillow_a_2d_image_says_how_to_install_it():
    # Pillow is imported when a 2-D image is read, not with the module.
    with (
        mock.patch.dict(sys.modules, {"PIL": None, "PIL.Image": None}),
        pytest.raises(ImportError, match=r"a\.png needs Pillow.*nidl\[neuroimaging\]"),
    ):
        default_image_loader("a.png")


def test_upstream_module_path_gives_the_same_objects():
    from nidl.datasets import pandas_dataset

    assert pandas_dataset.ImageDataFrameDataset is ImageDataFrameDataset
    assert pandas_dataset.default_image_loader is default_image_loader


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
    assert x.shape == (4, *SHAPE) and x.dtype == torch.float32
    assert age.tolist()[:2] == [20.0, 30.0] and sex.tolist() == [0, 1, 0, 1]


def test_vae_trains_from_the_files_through_the_cache(cohort):
    root, table = cohort
    dataset = ImageDataFrameDataset(
        root, table, label_cols="age", image_loader=load_with_channel,
        cache_dir=root / "cache",
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


# -- estimators take items that are the image alone -----------------------------


@pytest.fixture
def unlabelled_npy(tmp_path):
    """Six tiny (1, 6, 7, 5) volumes as .npy files, in a table without labels."""
    rng = np.random.default_rng(0)
    names = [f"sub-{i}.npy" for i in range(6)]
    for name in names:
        np.save(tmp_path / name, rng.normal(size=(1, *SHAPE)).astype(np.float32))
    return tmp_path, pd.DataFrame({"image_path": names})


def test_vae_fits_and_transforms_an_unlabelled_table(unlabelled_npy):
    root, table = unlabelled_npy
    dataset = ImageDataFrameDataset(root, table)
    assert isinstance(dataset[0], np.ndarray)  # the image alone, no label
    vae = make_conv_vae(SHAPE, max_epochs=1, stochastic_transform=False).fit(dataset)
    latents = vae.transform(dataset)
    assert latents.shape == (6, 2) and torch.isfinite(latents).all()
    # The same latents as from the volumes stacked in memory.
    volumes = np.stack([dataset[i] for i in range(6)])
    np.testing.assert_allclose(latents.numpy(), vae.transform(volumes), rtol=1e-5,
                               atol=1e-6)


def test_ssl_fits_on_unlabelled_multi_view_items(unlabelled_npy):
    from torch import nn

    from nidl.estimators.ssl import SimCLR
    from nidl.transforms import MultiViewsTransform, RandomGaussianNoise

    root, table = unlabelled_npy
    views = MultiViewsTransform(RandomGaussianNoise(std=(0.1, 0.2)), n_views=2)
    dataset = ImageDataFrameDataset(root, table, transform=views)
    item = dataset[0]
    assert isinstance(item, list) and len(item) == 2  # the views alone
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(SHAPE)), 4))
    model = SimCLR(
        encoder, proj_input_dim=4, proj_hidden_dim=3, proj_output_dim=3,
        batch_size=3, max_epochs=1, lr_scheduler="none", enable_progress_bar=False,
        logger=False, enable_checkpointing=False, enable_model_summary=False,
    ).fit(dataset)
    plain = ImageDataFrameDataset(root, table)
    assert model.transform(plain).shape == (6, 4)
