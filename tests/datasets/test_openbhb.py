"""OpenBHB: arguments, items of every modality and target, resources, downloads.

Items are read from a folder written by ``make_openbhb_folder``. Downloads
go through a stand-in of the ``huggingface_hub`` API put in ``sys.modules``,
which copies files from that folder the way the hub writes them into
``local_dir``, and records its calls.
"""

import fnmatch
import os
import shutil
import sys
import types

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

pytest.importorskip("nilearn")
pd = pytest.importorskip("pandas")
nibabel = pytest.importorskip("nibabel")

from nidl.datasets import OpenBHB, make_brain_cohort, make_openbhb_folder

N_SUBJECTS = 12
SEED = 0
ROI_SHAPES = {"vbm_roi": (1, 284), "fs_desikan_roi": (7, 68),
              "fs_destrieux_roi": (7, 148), "fs_xhemi": (8, 642)}
SPLIT_ROWS = {"train": ["train"], "val": ["internal_test", "external_test"],
              "internal_val": ["internal_test"],
              "external_val": ["external_test"]}
VBM_PATTERN = "train/derivatives/sub-*/ses-*/sub-*cat12vbm_desc-gm_T1w.npy"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("openbhb")
    participants = make_openbhb_folder(root, n_subjects=N_SUBJECTS,
                                       random_state=SEED)
    return str(root), participants


def files_under(root):
    """Repository paths (``/``-separated) of the files under ``root``."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            relative = os.path.relpath(os.path.join(directory, name), root)
            found.append(relative.replace(os.sep, "/"))
    return sorted(found)


def vbm_paths(ids):
    return [f"train/derivatives/sub-{i}/ses-1/sub-{i}_preproc-cat12vbm_desc-gm_T1w.npy"
            for i in ids]


class FakeHub:
    """The two functions of ``huggingface_hub`` that OpenBHB calls, serving
    the files of a local folder; ``write=False`` serves nothing."""

    def __init__(self, source, write=True):
        self.source = source
        self.write = write
        self.file_calls = []
        self.snapshot_calls = []
        self.copied = []

    def _copy(self, filename, local_dir):
        target = os.path.join(local_dir, *filename.split("/"))
        if self.write:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(os.path.join(self.source, *filename.split("/")), target)
            self.copied.append(filename)
        return target

    def hf_hub_download(self, *, repo_id, revision, filename, repo_type, local_dir):
        self.file_calls.append({"repo_id": repo_id, "revision": revision,
                                "filename": filename, "repo_type": repo_type,
                                "local_dir": local_dir})
        return self._copy(filename, local_dir)

    def snapshot_download(self, *, repo_id, revision, repo_type, local_dir,
                          allow_patterns, ignore_patterns, max_workers):
        self.snapshot_calls.append({
            "repo_id": repo_id, "revision": revision, "repo_type": repo_type,
            "local_dir": local_dir, "allow_patterns": list(allow_patterns),
            "ignore_patterns": list(ignore_patterns), "max_workers": max_workers})
        # The hub matches the patterns against the repository paths.
        for path in files_under(self.source):
            if any(fnmatch.fnmatch(path, p) for p in allow_patterns) and not any(
                fnmatch.fnmatch(path, p) for p in ignore_patterns
            ):
                self._copy(path, local_dir)
        return local_dir


@pytest.fixture
def hub(folder, monkeypatch):
    fake = FakeHub(folder[0])
    module = types.ModuleType("huggingface_hub")
    module.hf_hub_download = fake.hf_hub_download
    module.snapshot_download = fake.snapshot_download
    monkeypatch.setitem(sys.modules, "huggingface_hub", module)
    return fake


# -- arguments, checked before anything is read ----------------------------


@pytest.mark.parametrize("modality", [123, None, 1.5])
def test_modality_of_wrong_type(tmp_path, modality):
    root = tmp_path / "never_created"
    with pytest.raises(TypeError, match="modality") as info:
        OpenBHB(root, modality=modality, target="sex")
    assert isinstance(info.value, ValueError)  # caught as either type
    assert not root.exists()


@pytest.mark.parametrize("modality", ["badmod", [], ("vbm", "vbm"), ["vbm", 3]])
def test_modality_empty_unknown_or_repeated(tmp_path, modality):
    with pytest.raises(ValueError, match="modality"):
        OpenBHB(tmp_path, modality=modality)


def test_target_of_wrong_type(tmp_path):
    with pytest.raises(TypeError, match="target") as info:
        OpenBHB(tmp_path, target=123)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("target", ["invalid", [], ["age", "bmi"], ("sex", "sex")])
def test_target_empty_unknown_or_repeated(tmp_path, target):
    with pytest.raises(ValueError, match="target"):
        OpenBHB(tmp_path, modality="vbm", target=target)


@pytest.mark.parametrize("split", ["testing", "", 123, None])
def test_unknown_split(tmp_path, split):
    with pytest.raises(ValueError, match="split"):
        OpenBHB(tmp_path, modality="quasiraw", target=None, split=split)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"root": None}, TypeError, "root"),
    ({"max_workers": 0}, ValueError, "max_workers"),
    ({"mmap_mode": "w+"}, ValueError, "mmap_mode"),
    ({"transforms": 3}, TypeError, "transforms"),
    ({"target_transforms": "age"}, TypeError, "target_transforms"),
])
def test_other_arguments(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        OpenBHB(**{"root": tmp_path, **kwargs})


# -- items -------------------------------------------------------------------


def split_table(participants, split):
    return participants[participants.split.isin(SPLIT_ROWS[split])]


@pytest.mark.parametrize("split", list(SPLIT_ROWS))
def test_splits_follow_the_participants_table(folder, split):
    root, participants = folder
    rows = split_table(participants, split)
    dataset = OpenBHB(root, split=split)
    assert len(dataset) == len(rows) > 0
    ids = [next(iter(paths)) for paths, _ in dataset.samples]
    assert ids == rows.participant_id.tolist()
    assert [age for _, age in dataset.samples] == rows.age.tolist()


@pytest.mark.parametrize("target", ["age", "sex", "site", None])
@pytest.mark.parametrize("modality", ["vbm", "quasiraw", "fs_xhemi", "vbm_roi",
                                      "fs_desikan_roi", "fs_destrieux_roi"])
def test_every_modality_and_target(folder, modality, target):
    root, participants = folder
    dataset = OpenBHB(root, modality=modality, target=target, split="val")
    rows = split_table(participants, "val")
    item = dataset[1]
    if target is None:
        sample = item
    else:
        sample, value = item
        column = {"site": "siteXacq"}.get(target, target)
        expected = rows[column].iloc[1]
        assert type(value) is {"age": float, "sex": str, "site": int}[target]
        assert value == expected
    assert isinstance(sample, np.ndarray) and sample.dtype == np.float32
    if modality == "vbm":
        shape = (1, *dataset.get_cat12_template().shape)
    elif modality == "quasiraw":
        shape = (1, *dataset.get_quasiraw_template().shape)
    else:
        shape = ROI_SHAPES[modality]
    assert sample.shape == shape


def test_volume_items_are_the_files(folder):
    root, participants = folder
    dataset = OpenBHB(root, modality="quasiraw", target=None)
    participant_id = participants.participant_id[participants.split == "train"].iloc[0]
    path = os.path.join(root, "train", "derivatives", f"sub-{participant_id}", "ses-1",
                        f"sub-{participant_id}_preproc-quasiraw_T1w.npy")
    np.testing.assert_array_equal(dataset[0], np.load(path)[0])


def test_roi_items_are_the_rows_of_their_tables(folder):
    root, participants = folder
    dataset = OpenBHB(root, modality=["fs_desikan_roi", "vbm_roi"], target=None,
                      split="external_val")
    participant_id = split_table(participants, "external_val").participant_id.iloc[2]
    table = pd.read_csv(os.path.join(root, "val", "derivatives", "freesurfer_roi",
                                     "desikan_roi_features.csv"))
    row = table[table.participant_id == participant_id].iloc[0, 2:].to_numpy(float)
    item = dataset[2]["fs_desikan_roi"]
    # Row-major: the first 68 columns are the first measure's.
    np.testing.assert_allclose(item[0], row[:68], rtol=1e-6)
    np.testing.assert_allclose(item[6], row[-68:], rtol=1e-6)


def test_several_modalities_and_targets_give_dicts_in_order(folder):
    root, participants = folder
    modalities = ["vbm_roi", "vbm", "fs_xhemi"]
    dataset = OpenBHB(root, modality=modalities, target=("sex", "age", "site"))
    sample, target = dataset[0]
    assert list(sample) == modalities
    assert [array.shape for array in sample.values()] == [
        (1, 284), (1, 33, 39, 32), (8, 642)]
    first = participants[participants.split == "train"].iloc[0]
    assert target == {"sex": first.sex, "age": first.age, "site": first.siteXacq}
    assert dataset.modality == tuple(modalities)
    assert dataset.target == ("sex", "age", "site")


def test_transforms_and_target_transforms(folder):
    root, _ = folder
    plain = OpenBHB(root, modality="vbm_roi")
    doubled = OpenBHB(root, modality="vbm_roi", transforms=lambda x: 2 * x,
                      target_transforms=lambda age: age + 1)
    (x, age), (x2, age2) = plain[3], doubled[3]
    np.testing.assert_array_equal(x2, 2 * x)
    assert age2 == age + 1
    # In-place changes to an item do not reach the next one.
    x[:] = 0
    assert plain[3][0].any()
    seen = []
    both = OpenBHB(root, modality=["vbm", "vbm_roi"], target=None,
                   transforms=lambda sample: seen.append(sorted(sample)) or sample,
                   target_transforms=lambda y: pytest.fail("no target to transform"))
    assert isinstance(both[0], dict)
    assert seen == [["vbm", "vbm_roi"]]


def test_string_form(folder):
    root, _ = folder
    assert str(OpenBHB(root)) == "openBHB_vbm_train_age"
    two = OpenBHB(root, modality=["vbm", "quasiraw"], target=["age", "sex"],
                  split="internal_val")
    assert str(two) == "openBHB_vbm-quasiraw_internal_val_('age', 'sex')"


@pytest.mark.parametrize("mmap_mode", ["r", None])
def test_batches_from_a_data_loader(folder, mmap_mode):
    root, participants = folder
    dataset = OpenBHB(root, modality="vbm", mmap_mode=mmap_mode)
    images, ages = next(iter(DataLoader(dataset, batch_size=4)))
    assert images.shape == (4, 1, 33, 39, 32) and images.dtype == torch.float32
    expected = participants.age[participants.split == "train"].to_numpy()[:4]
    np.testing.assert_allclose(ages.numpy(), expected)


def test_vbm_is_zero_outside_the_template(folder):
    root, _ = folder
    dataset = OpenBHB(root, modality="vbm", target=None)
    template = dataset.get_cat12_template().get_fdata()
    for image in dataset:
        assert image.shape == (1, *template.shape)
        assert (image[0] > 0).sum() > 1000
        assert not image[0][template <= 1e-7].any()


def test_atlas_templates_and_names(folder):
    root, _ = folder
    dataset = OpenBHB(root)
    atlas = dataset.get_neuromorphometrics_atlas()
    labels = atlas["data"].get_fdata().astype(int)
    assert labels.shape == dataset.get_cat12_template().shape
    assert set(np.unique(labels)) <= set(range(len(atlas["labels"])))
    assert len(np.unique(labels)) == 143  # background and 142 regions
    assert OpenBHB(root, modality="quasiraw")[0][0].shape[1:] == (
        dataset.get_quasiraw_template().shape)
    for atlas_name, n in (("destrieux", 148), ("desikan", 68)):
        names = dataset.get_fs_labels(atlas_name)
        half = dataset.get_fs_labels(atlas_name, symmetric=True)
        assert len(names) == len(set(names)) == n
        assert len(half) == len(set(half)) == n // 2
        assert all(name.startswith("lh-") for name in names[: n // 2])
        assert [f"lh-{name}" for name in half] == names[: n // 2]
    assert dataset.get_fs_labels() == dataset.get_fs_labels("destrieux")
    with pytest.raises(ValueError, match="atlas"):
        dataset.get_fs_labels("aal")
    vbm_labels = dataset.get_vbm_roi_labels()
    assert len(vbm_labels) == 284
    assert all(name.endswith("_GM_Vol") for name in vbm_labels[:142])
    assert all(name.endswith("_CSF_Vol") for name in vbm_labels[142:])
    assert len(dataset.get_fs_roi_feature_names()) == 7
    assert {"lh.thickness", "lh.sulc", "lh.curv"} <= set(
        dataset.get_fs_xhemi_feature_names())
    assert len(dataset.get_fs_xhemi_feature_names()) == 8


def test_vbm_roi_volumes_are_measured_on_the_vbm_images(folder):
    root, _ = folder
    dataset = OpenBHB(root, modality=["vbm", "vbm_roi"], target=None)
    atlas = dataset.get_neuromorphometrics_atlas()["data"]
    labels = atlas.get_fdata().astype(int)
    voxel_ml = abs(np.linalg.det(atlas.affine[:3, :3])) / 1000
    sample = dataset[1]
    grey = np.bincount(labels.ravel(), sample["vbm"][0].ravel().astype(float),
                       minlength=143)[1:] * voxel_ml
    np.testing.assert_allclose(sample["vbm_roi"][0, :142], grey, rtol=1e-4)


# -- the generator -------------------------------------------------------------


def test_generated_subjects_are_the_brain_cohort(folder):
    root, participants = folder
    images, factors = make_brain_cohort(N_SUBJECTS, random_state=SEED)
    np.testing.assert_allclose(participants.age, factors.age.round(2))
    assert (participants.siteXacq == factors.site).all()
    assert participants.sex.tolist() == [
        "male" if sex else "female" for sex in factors.sex]
    dataset = OpenBHB(root, modality="quasiraw", target=None, split="val")
    first_val = np.flatnonzero(participants.split != "train")[0]
    np.testing.assert_array_equal(dataset[0][0], images[first_val].get_fdata())


def test_generated_splits_and_trends(folder):
    root, participants = folder
    assert list(participants.columns) == ["participant_id", "split", "age", "sex",
                                          "siteXacq"]
    assert participants.participant_id.is_unique
    external = participants[participants.split == "external_test"]
    train = participants[participants.split == "train"]
    # External subjects come from a scanner unseen in training.
    assert not set(external.siteXacq) & set(train.siteXacq)
    table = pd.read_csv(os.path.join(root, "participants.tsv"), sep="\t")
    pd.testing.assert_frame_equal(table, participants)


def test_generated_grey_matter_thins_with_age(folder):
    root, participants = folder
    _, factors = make_brain_cohort(N_SUBJECTS, random_state=SEED)
    grey = {}
    for split in ("train", "val"):
        dataset = OpenBHB(root, modality="vbm_roi", target=None, split=split)
        for (paths, _), x in zip(dataset.samples, dataset):
            grey[next(iter(paths))] = x[0, :142].sum()
    grey = np.array([grey[i] for i in participants.participant_id])
    # Total grey matter grows with head size; what head size leaves, age takes.
    design = np.c_[np.ones(N_SUBJECTS), factors.head_size]
    residual = grey - design @ np.linalg.lstsq(design, grey, rcond=None)[0]
    assert np.corrcoef(residual, participants.age)[0, 1] < -0.4


def test_generator_refuses_an_existing_cohort(folder):
    root, _ = folder
    with pytest.raises(FileExistsError, match="participants.tsv"):
        make_openbhb_folder(root, n_subjects=2)


# -- errors that name the file ---------------------------------------------------


def copy_folder(folder, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(folder[0], root)
    return str(root)


def test_a_truncated_file_is_named(folder, tmp_path):
    root = copy_folder(folder, tmp_path)
    dataset = OpenBHB(root, modality="vbm", target=None)
    path = next(iter(dataset.samples[0][0].values()))
    with open(path, "r+b") as file:
        file.truncate(100)
    with pytest.raises(ValueError, match=r"sub-\d+_preproc-cat12vbm"):
        dataset[0]


def test_a_missing_roi_row_and_column_are_named(folder, tmp_path):
    root = copy_folder(folder, tmp_path)
    path = os.path.join(root, "train", "derivatives", "cat12vbm_roi",
                        "cat12vbm_roi_features.csv")
    table = pd.read_csv(path)
    table.iloc[1:].to_csv(path, index=False)
    with pytest.raises(ValueError, match="cat12vbm_roi_features.csv"):
        OpenBHB(root, modality="vbm_roi")[0]
    participants = pd.read_csv(os.path.join(root, "participants.tsv"), sep="\t")
    participants.drop(columns="siteXacq").to_csv(
        os.path.join(root, "participants.tsv"), sep="\t", index=False)
    OpenBHB(root, target="age")  # the site is not needed
    with pytest.raises(ValueError, match="participants.tsv.*siteXacq"):
        OpenBHB(root, target=["age", "site"])


# -- downloads -----------------------------------------------------------------


def test_streaming_fetches_each_missing_file_once(folder, hub, tmp_path):
    root = str(tmp_path / "stream") + os.sep  # a trailing separator works
    dataset = OpenBHB(root, modality=["vbm", "fs_desikan_roi"], split="val")
    assert [call["filename"] for call in hub.file_calls] == ["participants.tsv"]
    for call in hub.file_calls:
        assert call == dict(call, repo_id=OpenBHB.REPO_ID,
                            revision=OpenBHB.REVISION, repo_type="dataset",
                            local_dir=root)
    first, second = (next(iter(paths)) for paths, _ in dataset.samples[:2])
    sample, _ = dataset[0]
    dataset[0], dataset[1]
    vbm = "val/derivatives/sub-{0}/ses-1/sub-{0}_preproc-cat12vbm_desc-gm_T1w.npy"
    assert [call["filename"] for call in hub.file_calls[1:]] == [
        vbm.format(first),
        "val/derivatives/freesurfer_roi/desikan_roi_features.csv",
        vbm.format(second),
    ]
    reference = OpenBHB(folder[0], modality=["vbm", "fs_desikan_roi"], split="val")
    np.testing.assert_array_equal(sample["vbm"], reference[0][0]["vbm"])
    assert dataset.get_cat12_template().shape == sample["vbm"].shape[1:]
    assert hub.file_calls[-1]["filename"] == (
        "resource/cat12vbm_space-MNI152_desc-gm_TPM.nii.gz")
    assert not hub.snapshot_calls


def test_snapshot_of_a_split(folder, hub, tmp_path):
    root = str(tmp_path / "snapshot")
    dataset = OpenBHB(root, split="train", modality="vbm", streaming=False,
                      max_workers=3)
    assert hub.snapshot_calls == [{
        "repo_id": OpenBHB.REPO_ID, "revision": OpenBHB.REVISION,
        "repo_type": "dataset", "local_dir": root,
        "allow_patterns": [VBM_PATTERN], "ignore_patterns": [], "max_workers": 3}]
    participants = folder[1]
    ids = participants.participant_id[participants.split == "train"]
    assert files_under(root) == sorted(["participants.tsv",
                                        *vbm_paths(ids)])
    n_calls = len(hub.file_calls)
    assert len(list(dataset)) == len(ids)
    assert len(hub.file_calls) == n_calls  # nothing left to fetch


def test_snapshot_ignores_the_files_present(folder, hub, tmp_path):
    participants = folder[1]
    ids = participants.participant_id[participants.split == "train"].tolist()
    present = vbm_paths(ids[::2])
    root = tmp_path / "partial"
    for path in ["participants.tsv", *present]:
        os.makedirs((root / path).parent, exist_ok=True)
        shutil.copyfile(os.path.join(folder[0], path), root / path)
    OpenBHB(root, modality="vbm", streaming=False)
    (call,) = hub.snapshot_calls
    assert sorted(call["ignore_patterns"]) == sorted(present)
    # The patterns match the repository paths: only the missing files came.
    assert sorted(hub.copied) == sorted(vbm_paths(ids[1::2]))
    # Nothing is missing any more: no snapshot.
    OpenBHB(root, modality="vbm", streaming=False)
    assert len(hub.snapshot_calls) == 1


def test_snapshot_of_roi_tables_and_a_full_refresh(folder, hub, tmp_path):
    root = copy_folder(folder, tmp_path)
    dataset = OpenBHB(root, modality=["vbm_roi", "fs_destrieux_roi"],
                      split="external_val", streaming=False)
    assert not hub.snapshot_calls  # both tables are present
    dataset.download_dataset_split("val", dataset.modality, dataset.samples,
                                   incremental=False)
    (call,) = hub.snapshot_calls
    assert call["allow_patterns"] == [
        "val/derivatives/cat12vbm_roi/cat12vbm_roi_features.csv",
        "val/derivatives/freesurfer_roi/destrieux_roi_features.csv"]
    assert call["ignore_patterns"] == [] and call["max_workers"] == 8
    assert sorted(hub.copied) == call["allow_patterns"]


def test_a_fetch_that_writes_nothing_is_named(folder, hub, tmp_path):
    hub.write = False
    with pytest.raises(FileNotFoundError, match="participants.tsv"):
        OpenBHB(tmp_path / "empty")


def test_missing_package_says_how_to_install_it(folder, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(ModuleNotFoundError,
                       match=r"participants.tsv.*nidl\[openbhb\]") as info:
        OpenBHB(tmp_path / "empty")
    assert isinstance(info.value.__cause__, ImportError)
    root = copy_folder(folder, tmp_path)
    dataset = OpenBHB(root, modality="quasiraw", streaming=False)  # all present
    with pytest.raises(ModuleNotFoundError, match="nidl"):
        dataset.download_file("some_file.npy")
    with pytest.raises(ModuleNotFoundError, match="nidl"):
        dataset.download_dataset_split("train", ("vbm",), [], incremental=False)
    path = next(iter(dataset.samples[0][0].values()))
    os.remove(path)
    with pytest.raises(ModuleNotFoundError, match=os.path.basename(path)):
        dataset[0]
