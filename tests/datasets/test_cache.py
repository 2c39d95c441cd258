"""The on-disk cache of ImageDataFrameDataset: what it holds, when it is
recomputed, atomic writes, workers and processes."""

import functools
import multiprocessing
import os
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

nibabel = pytest.importorskip("nibabel")
pd = pytest.importorskip("pandas")

from nidl.datasets import _cache
from nidl.datasets._cache import (
    VolumeCache,
    describe_loader,
    split_cacheable,
)
from nidl.datasets.image_dataframe import (
    ImageDataFrameDataset,
    default_image_loader,
)

SHAPE = (6, 7, 5)



def image_of(item):
    """The image of a dataset item: the item itself, or the first of (image, label)."""
    return item[0] if isinstance(item, tuple) else item

def write_nifti(path, data):
    nibabel.Nifti1Image(np.asarray(data, dtype=np.float32), np.eye(4)).to_filename(
        str(path)
    )


def volume(value):
    return value + 0.001 * np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)


@pytest.fixture
def cohort(tmp_path):
    """Four volumes on disk, a table with an age column, a cache folder."""
    names = [f"sub-{i}.nii.gz" for i in range(4)]
    for i, name in enumerate(names):
        write_nifti(tmp_path / name, volume(i))
    table = pd.DataFrame({"image_path": names, "age": [20.0, 30.0, 40.0, 50.0]})
    return tmp_path, table, tmp_path / "cache"


@pytest.fixture
def nifti_reads(monkeypatch):
    """Counts the NIfTI files whose data are read (header reads not counted)."""
    paths = []
    original = nibabel.Nifti1Image.get_fdata

    def counting_get_fdata(image, *args, **kwargs):
        paths.append(image.get_filename())
        return original(image, *args, **kwargs)

    monkeypatch.setattr(nibabel.Nifti1Image, "get_fdata", counting_get_fdata)
    return paths


class Scale:
    is_random = False

    def __init__(self, factor):
        self.factor = factor

    def __call__(self, x):
        return x * self.factor

    def __repr__(self):
        return f"Scale(factor={self.factor})"


class AddNoise:
    """Random: adds a different number at every call."""

    is_random = True

    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return x + self.calls

    def __repr__(self):
        return "AddNoise()"


class Unknown:
    """Says nothing of its randomness: must be taken as random."""

    def __call__(self, x):
        return x

    def __repr__(self):
        return "Unknown()"


class NoRepr:
    is_random = False

    def __call__(self, x):
        return x


def entries(cache_dir):
    return sorted(name for name in os.listdir(cache_dir) if name.endswith(".npy"))


def items(dataset):
    return [np.array(image_of(dataset[i])) for i in range(len(dataset))]


# -- what is cached ----------------------------------------------------------------


def test_split_cacheable_keeps_the_deterministic_prefix():
    from nidl.transforms import Compose, CropOrPad, RandomFlip, ZNormalization

    crop, norm, flip, scale = CropOrPad(4), ZNormalization(), RandomFlip(), Scale(2)
    assert split_cacheable(None) == ([], [])
    assert split_cacheable(scale) == ([scale], [])
    assert split_cacheable(flip) == ([], [flip])
    nested = Compose([Compose([crop, norm]), flip, scale])
    assert split_cacheable(nested) == ([crop, norm], [flip, scale])
    unknown = Unknown()
    assert split_cacheable(Compose([crop, unknown, norm])) == ([crop], [unknown, norm])
    # A random step applied with a probability is random too.
    assert split_cacheable(Compose([CropOrPad(4, p=0.5), norm]))[0] == []


def test_a_warm_cache_reads_no_nifti_file(cohort, nifti_reads):
    root, table, cache_dir = cohort
    dataset = ImageDataFrameDataset(
        root, table, label_cols="age", transform=Scale(2), cache_dir=cache_dir
    )
    first = items(dataset)
    assert len(nifti_reads) == 4 and len(entries(cache_dir)) == 4
    second = items(dataset)
    assert len(nifti_reads) == 4
    for a, b, i in zip(first, second, range(4)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, 2 * volume(i), rtol=1e-6)
    # Another dataset over the same files and preprocessing shares the entries.
    again = ImageDataFrameDataset(root, table, transform=Scale(2), cache_dir=cache_dir)
    items(again)
    assert len(nifti_reads) == 4


def test_hits_are_memory_mapped_copy_on_write(cohort):
    root, table, cache_dir = cohort
    dataset = ImageDataFrameDataset(root, table, cache_dir=cache_dir)
    dataset[0]
    image = dataset[0]
    assert type(image) is np.ndarray and isinstance(image.base, np.memmap)
    assert image.dtype == np.float32 and image.shape == SHAPE
    image[:] = -1.0  # an in-place transform would do this
    np.testing.assert_allclose(dataset[0], volume(0), rtol=1e-6)
    # The entry is a plain .npy file, uncompressed.
    path = os.path.join(cache_dir, entries(cache_dir)[0])
    assert os.path.getsize(path) < 4 * np.prod(SHAPE) + 256


def test_random_steps_run_at_every_read(cohort, nifti_reads):
    root, table, cache_dir = cohort
    noise = AddNoise()
    from nidl.transforms import Compose

    dataset = ImageDataFrameDataset(
        root, table, transform=Compose([Scale(2), noise, Scale(3)]),
        cache_dir=cache_dir
    )
    a, b = dataset[1], dataset[1]
    assert len(nifti_reads) == 1 and noise.calls == 2
    np.testing.assert_allclose(a, (2 * volume(1) + 1) * 3, rtol=1e-6)
    np.testing.assert_allclose(b - a, 3.0, rtol=1e-5)
    # What is cached is the loader's output after Scale(2) only.
    cached = np.load(os.path.join(cache_dir, entries(cache_dir)[0]))
    np.testing.assert_allclose(cached, 2 * volume(1), rtol=1e-6)


def test_a_transform_without_is_random_is_not_cached(cohort, nifti_reads):
    root, table, cache_dir = cohort
    dataset = ImageDataFrameDataset(
        root, table, transform=Unknown(), cache_dir=cache_dir
    )
    dataset[0], dataset[0]
    # Only the loader's output is cached: the file is decoded once.
    assert len(nifti_reads) == 1


# -- when it is recomputed ----------------------------------------------------------


def test_touching_or_rewriting_a_file_recomputes_its_entry(cohort, nifti_reads):
    root, table, cache_dir = cohort
    dataset = ImageDataFrameDataset(root, table, cache_dir=cache_dir)
    items(dataset)
    assert len(nifti_reads) == 4

    status = os.stat(root / "sub-1.nii.gz")
    os.utime(root / "sub-1.nii.gz", ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))
    items(dataset)
    assert nifti_reads[4:] == [str(root / "sub-1.nii.gz")]

    write_nifti(root / "sub-2.nii.gz", volume(9))
    images = items(dataset)
    assert nifti_reads[5:] == [str(root / "sub-2.nii.gz")]
    np.testing.assert_allclose(images[2], volume(9), rtol=1e-6)


def test_changing_a_cached_transform_recomputes(cohort, nifti_reads):
    from nidl.transforms import CropOrPad

    root, table, cache_dir = cohort
    for shape in [(4, 4, 4), (4, 4, 4), (5, 5, 5)]:
        dataset = ImageDataFrameDataset(
            root, table, transform=CropOrPad(shape), cache_dir=cache_dir
        )
        assert dataset[0].shape == shape
    assert len(nifti_reads) == 2 and len(entries(cache_dir)) == 2


def test_changing_the_loader_recomputes(cohort, nifti_reads):
    root, table, cache_dir = cohort
    loaders = [
        default_image_loader,
        functools.partial(default_image_loader, as_image=False),
        functools.partial(default_image_loader, as_image=False),
    ]
    for loader in loaders:
        ImageDataFrameDataset(root, table, image_loader=loader, cache_dir=cache_dir)[0]
    assert len(nifti_reads) == 2


def test_describe_loader_names_functions_and_partials():
    assert describe_loader(default_image_loader) == (
        "nidl.datasets.image_dataframe.default_image_loader"
    )
    loader = functools.partial(default_image_loader, as_image=False)
    assert describe_loader(loader).endswith("default_image_loader(as_image=False)")
    with pytest.raises(ValueError, match="memory address"):
        describe_loader(lambda path: path)


def test_a_cached_transform_whose_repr_is_an_address_is_refused(cohort):
    root, table, cache_dir = cohort
    with pytest.raises(ValueError, match="NoRepr object at 0x.*__repr__"):
        ImageDataFrameDataset(root, table, transform=NoRepr(), cache_dir=cache_dir)


def test_the_cache_holds_arrays_only(cohort):
    root, table, cache_dir = cohort
    loader = functools.partial(default_image_loader, as_image=True)
    dataset = ImageDataFrameDataset(
        root, table, image_loader=loader, cache_dir=cache_dir
    )
    with pytest.raises(TypeError, match=r"returned Nifti1Image for .*sub-0\.nii\.gz"):
        dataset[0]


def test_with_checksums_a_changed_file_is_caught_before_caching(cohort):
    import hashlib

    root, table, cache_dir = cohort
    table["sha256"] = [
        hashlib.sha256((root / p).read_bytes()).hexdigest() for p in table.image_path
    ]
    dataset = ImageDataFrameDataset(
        root, table, checksum_col="sha256", cache_dir=cache_dir
    )
    items(dataset)
    write_nifti(root / "sub-3.nii.gz", volume(8))
    with pytest.raises(ValueError, match=r"sub-3\.nii\.gz changed on disk"):
        dataset[3]


# -- writes ---------------------------------------------------------------------


def test_an_interrupted_write_leaves_nothing_and_is_redone(cohort, monkeypatch,
                                                            nifti_reads):
    root, table, cache_dir = cohort
    dataset = ImageDataFrameDataset(root, table, cache_dir=cache_dir)
    original_save = np.save

    def save_half_then_fail(file, array, **kwargs):
        file.write(b"\x93NUMPY" + bytes(100))
        raise OSError("No space left on device")

    monkeypatch.setattr(_cache.np, "save", save_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        dataset[0]
    assert os.listdir(cache_dir) == []

    monkeypatch.setattr(_cache.np, "save", original_save)
    np.testing.assert_allclose(dataset[0], volume(0), rtol=1e-6)
    assert len(nifti_reads) == 2 and len(entries(cache_dir)) == 1


def test_a_damaged_entry_is_recomputed_with_a_warning(cohort, nifti_reads):
    root, table, cache_dir = cohort
    dataset = ImageDataFrameDataset(root, table, cache_dir=cache_dir)
    dataset[0]
    entry = os.path.join(cache_dir, entries(cache_dir)[0])
    with open(entry, "r+b") as file:
        file.truncate(200)
    with pytest.warns(RuntimeWarning, match="cannot be read"):
        image = dataset[0]
    np.testing.assert_allclose(image, volume(0), rtol=1e-6)
    assert len(nifti_reads) == 2
    np.testing.assert_array_equal(dataset[0], image)


def _write_repeatedly(directory, entry, value, n_writes):
    cache = VolumeCache(directory, "loader", [])
    for _ in range(n_writes):
        cache.write(entry, np.full((64, 64, 16), value, dtype=np.float32))


def test_two_processes_writing_one_entry_leave_a_whole_one(tmp_path):
    entry = str(tmp_path / "entry.npy")
    context = multiprocessing.get_context("fork")
    writers = [
        context.Process(target=_write_repeatedly, args=(tmp_path, entry, v, 40))
        for v in (1.0, 2.0)
    ]
    for writer in writers:
        writer.start()
    cache = VolumeCache(tmp_path, "loader", [])
    seen = set()
    while any(writer.is_alive() for writer in writers):
        array = cache.read(entry)
        if array is not None:
            # Whatever is read is one writer's whole array, never a mixture.
            values = np.unique(array)
            assert values.size == 1 and array.shape == (64, 64, 16)
            seen.add(float(values[0]))
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    assert os.listdir(tmp_path) == ["entry.npy"]
    seen.add(float(np.unique(cache.read(entry)).item()))
    assert seen <= {1.0, 2.0}


# -- workers and processes ---------------------------------------------------------


def test_dataloader_workers_fill_and_read_the_cache(cohort):
    root, table, cache_dir = cohort
    # Each file twice: both workers may write the same entry.
    table = pd.concat([table, table], ignore_index=True)
    expected = items(ImageDataFrameDataset(root, table, label_cols="age"))
    dataset = ImageDataFrameDataset(root, table, label_cols="age", cache_dir=cache_dir)
    for _ in range(2):
        loader = DataLoader(dataset, batch_size=3, num_workers=2)
        batches = [x for x, _ in loader]
        np.testing.assert_array_equal(torch.cat(batches).numpy(), np.stack(expected))
    assert len(entries(cache_dir)) == 4
    assert [n for n in os.listdir(cache_dir) if n.endswith(".tmp")] == []


def test_the_dataset_with_its_cache_pickles(cohort):
    root, table, cache_dir = cohort
    dataset = ImageDataFrameDataset(root, table, transform=Scale(2),
                                    cache_dir=cache_dir)
    copy = pickle.loads(pickle.dumps(dataset))
    np.testing.assert_array_equal(copy[2], dataset[2])
    assert len(entries(cache_dir)) == 1


def test_spawned_workers_read_the_cache(cohort):
    root, table, cache_dir = cohort
    dataset = ImageDataFrameDataset(root, table, label_cols="age", cache_dir=cache_dir)
    loader = DataLoader(dataset, batch_size=4, num_workers=1,
                        multiprocessing_context="spawn")
    x, age = next(iter(loader))
    assert x.shape == (4, *SHAPE) and age.tolist() == [20.0, 30.0, 40.0, 50.0]
    assert len(entries(cache_dir)) == 4


def test_with_real_transforms_crop_is_cached_and_flips_are_drawn_per_read(
    cohort, nifti_reads
):
    from nidl.transforms import Compose, CropOrPad, RandomFlip

    root, table, cache_dir = cohort
    transform = Compose([CropOrPad((4, 4, 4)), RandomFlip(axes=(0, 1, 2),
                                                          flip_probability=0.5)])
    dataset = ImageDataFrameDataset(root, table, transform=transform,
                                    cache_dir=cache_dir, label_cols="age")
    torch.manual_seed(0)
    reads = [DataLoader(dataset, batch_size=4) for _ in range(3)]
    epochs = [next(iter(loader))[0] for loader in reads]
    assert len(nifti_reads) == 4
    assert all(x.shape == (4, 4, 4, 4) for x in epochs)
    assert not all(torch.equal(epochs[0], x) for x in epochs[1:])
    cached = np.load(os.path.join(cache_dir, entries(cache_dir)[0]))
    assert cached.shape == (4, 4, 4)
    # Each item is a flip of the cropped volume: same values, same sum.
    crop = CropOrPad((4, 4, 4))(volume(0))
    np.testing.assert_allclose(epochs[2][0].sum().item(), crop.sum(), rtol=1e-5)
