"""Dictionary batches of MONAI and TorchIO datasets, read at the estimator's
input_key."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from tests.conftest import make_conv_vae

nib = pytest.importorskip("nibabel")

SHAPE = (8, 10, 6)
N_SUBJECTS = 6


@pytest.fixture
def paths(tmp_path):
    rng = np.random.default_rng(0)
    written = []
    for index in range(N_SUBJECTS):
        path = tmp_path / f"sub-{index}.nii.gz"
        volume = rng.normal(size=SHAPE).astype(np.float32)
        nib.Nifti1Image(volume, np.eye(4)).to_filename(path)
        written.append(str(path))
    return written


def volumes(paths):
    images = [nib.load(p).get_fdata(dtype=np.float32) for p in paths]
    return torch.stack([torch.from_numpy(image) for image in images])[:, None]


def make_vae(**options):
    return make_conv_vae(SHAPE, stochastic_transform=False, lr=1e-2, **options)


def check_latents(vae, data, paths):
    """Latents of the dictionary data equal those of the same volumes as a tensor."""
    Z = vae.transform(data)
    assert Z.shape == (N_SUBJECTS, 2)
    torch.testing.assert_close(Z, vae.transform(volumes(paths)))


@pytest.mark.parametrize("cached", [False, True], ids=["Dataset", "CacheDataset"])
def test_monai_dictionary_batches(paths, cached):
    monai_data = pytest.importorskip("monai.data")
    transforms = pytest.importorskip("monai.transforms")
    load = transforms.Compose(
        [transforms.LoadImaged(keys=["image"]),
         transforms.EnsureChannelFirstd(keys=["image"])]
    )
    items = [{"image": path, "label": index} for index, path in enumerate(paths)]
    if cached:
        dataset = monai_data.CacheDataset(items, transform=load, progress=False)
    else:
        dataset = monai_data.Dataset(items, transform=load)
    loader = DataLoader(dataset, batch_size=4)
    vae = make_vae(input_key="image").fit(loader)
    assert vae.sample_shape_ == (1, *SHAPE) and vae.n_steps_ == 4
    check_latents(vae, loader, paths)
    check_latents(vae, dataset, paths)


def test_torchio_subjects(paths):
    tio = pytest.importorskip("torchio")
    subjects = tio.SubjectsDataset(
        [tio.Subject(t1=tio.ScalarImage(path), age=index)
         for index, path in enumerate(paths)]
    )
    loader = DataLoader(subjects, batch_size=4)
    # The image at "t1" gives its data; ("t1", "data") names it in full.
    vae = make_vae(input_key="t1").fit(loader)
    assert vae.sample_shape_ == (1, *SHAPE)
    check_latents(vae, loader, paths)
    check_latents(vae.set_params(input_key=("t1", "data")), subjects, paths)


def test_a_missing_key_names_the_keys_present(paths):
    batches = [{"image": volumes(paths)[:3], "label": torch.arange(3)}]
    with pytest.raises(ValueError, match=r"without the key 'img'.*'image', 'label'"):
        make_vae(input_key="img").fit(DataLoader(batches, batch_size=None))
    with pytest.raises(ValueError,
                       match=r"keys 'image', 'label'; name the key.*input_key"):
        make_vae().fit(DataLoader(batches, batch_size=None))
    with pytest.raises(TypeError, match="input_key must be"):
        make_vae(input_key=3).fit(DataLoader(batches, batch_size=None))
