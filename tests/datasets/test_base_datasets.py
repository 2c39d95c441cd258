"""BaseNumpyDataset and BaseImageDataset: the participants and split tables,
the arrays or files of each subject, errors and warnings.

The first tests replace pandas, NumPy, os and glob in ``nidl.datasets.base``
(as tests written for upstream nidl do); the others use real files.
"""

import errno
import hashlib
import os
from unittest import mock

import numpy as np
import pytest
import torch

pd = pytest.importorskip("pandas")

from nidl.datasets import BaseImageDataset, BaseNumpyDataset

PARTICIPANTS = {"participant_id": ["000", "001", "002"], "target1": [3, 4, 2]}
SPLIT = {"participant_id": ["001", "002"]}


def options(**changes):
    return {
        "root": "/mocked",
        "patterns": ["mocked", "mocked"],
        "channels": ["channel_0", "channel_1"],
        "split": "train",
        "targets": ["target1"],
        **changes,
    }


# -- with pandas, NumPy, os and glob replaced ------------------------------------


@mock.patch("nidl.datasets.base.pd.read_csv")
@mock.patch("nidl.datasets.base.os.path.isfile", return_value=True)
@mock.patch("nidl.datasets.base.np.load")
def test_numpy_rows_follow_the_participants_table(load, isfile, read_csv):
    data = torch.rand(10, 128)
    load.return_value = data
    # participants.tsv is read first, the split second.
    read_csv.side_effect = [pd.DataFrame(PARTICIPANTS), pd.DataFrame(SPLIT)]
    dataset = BaseNumpyDataset(**options())
    arrays, target = dataset.get_data(0)
    # Item 0 of the split is subject 001, row 1 of participants.tsv.
    assert len(arrays) == 2 and all(a.shape == (128,) for a in arrays)
    assert torch.equal(arrays[0], data[1])
    assert target == 4
    assert len(dataset) == 2
    assert [c.args[0] for c in read_csv.call_args_list] == [
        os.path.join("/mocked", "participants.tsv"),
        os.path.join("/mocked", "train.tsv"),
    ]
    assert all(c.kwargs["sep"] == "\t" for c in read_csv.call_args_list)
    assert load.call_args.kwargs == {"mmap_mode": "r"}


@mock.patch("nidl.datasets.base.pd.read_csv")
@mock.patch("nidl.datasets.base.os.path.isfile", return_value=True)
@mock.patch("nidl.datasets.base.glob.glob")
def test_image_paths_are_matched_to_subjects(glob, isfile, read_csv):
    glob.side_effect = [
        [f"/mocked/sub-00{i}/mod{channel}" for i in range(3)] for channel in range(2)
    ]
    read_csv.side_effect = [pd.DataFrame(PARTICIPANTS), pd.DataFrame(SPLIT)]
    dataset = BaseImageDataset(subject_in_patterns=-2, **options())
    paths, target = dataset.get_data(0)
    assert paths.tolist() == ["/mocked/sub-001/mod0", "/mocked/sub-001/mod1"]
    assert target == 4


@mock.patch("nidl.datasets.base.os.path.isfile", return_value=False)
def test_missing_tables_raise_file_not_found(isfile):
    with pytest.raises(FileNotFoundError) as info:
        BaseNumpyDataset(**options())
    assert info.value.errno == errno.ENOENT
    assert info.value.filename == os.path.join("/mocked", "participants.tsv")


# -- with real files ---------------------------------------------------------------


def write_tables(root, participants=None, split=None, name="train"):
    participants = PARTICIPANTS if participants is None else participants
    pd.DataFrame(participants).to_csv(root / "participants.tsv", sep="\t",
                                      index=False)
    pd.DataFrame(SPLIT if split is None else split).to_csv(
        root / f"{name}.tsv", sep="\t", index=False)


@pytest.fixture
def arrays(tmp_path):
    """participants 000-002, split [002, 000], two arrays and a mask."""
    write_tables(tmp_path, split={"participant_id": ["002", "000"]})
    t1 = np.arange(12.0).reshape(3, 4)
    np.save(tmp_path / "t1.npy", t1)
    np.save(tmp_path / "t2.npy", -t1)
    np.save(tmp_path / "mask.npy", np.array([True, False, True, True]))
    return tmp_path, t1


def test_numpy_dataset_from_files(arrays):
    root, t1 = arrays
    dataset = BaseNumpyDataset(str(root), ["t1.npy", "t2.npy"], ["t1", "t2"],
                               targets="target1", mask=str(root / "mask.npy"))
    assert len(dataset) == 2
    (a, b), target = dataset.get_data(0)
    # Identifiers keep their leading zeros; subject 002 is row 2 of the arrays.
    np.testing.assert_array_equal(a, t1[2])
    np.testing.assert_array_equal(b, -t1[2])
    assert target.tolist() == [2]
    assert isinstance(a, np.memmap)
    # The mask is loaded for subclasses and applied to nothing.
    assert dataset.mask.tolist() == [True, False, True, True] and a.shape == (4,)
    assert repr(dataset) == (
        "BaseNumpyDataset<split='train',modalities=2,targets=['target1']>"
    )


def test_scalar_arguments_and_no_targets(arrays):
    root, t1 = arrays
    dataset = BaseNumpyDataset(str(root), "t1.npy", "t1")
    assert dataset.patterns == ["t1.npy"] and dataset.channels == ["t1"]
    (a,), target = dataset.get_data(1)
    np.testing.assert_array_equal(a, t1[0])
    assert target is None
    assert repr(dataset) == "BaseNumpyDataset<split='train',modalities=1,targets=None>"


def test_withdrawn_subjects_leave_the_split(arrays):
    root, t1 = arrays
    dataset = BaseNumpyDataset(str(root), "t1.npy", "t1", withdraw_subjects="002")
    assert len(dataset) == 1
    np.testing.assert_array_equal(dataset.get_data(0)[0][0], t1[0])


def test_subjects_unknown_to_participants_are_left_out(tmp_path):
    write_tables(tmp_path, split={"participant_id": ["001", "009"]})
    np.save(tmp_path / "t1.npy", np.zeros((3, 2)))
    assert len(BaseNumpyDataset(str(tmp_path), "t1.npy", "t1")) == 1


def test_target_mapping_replaces_values(tmp_path):
    participants = {**PARTICIPANTS, "sex": ["F", "M", "F"]}
    write_tables(tmp_path, participants)
    np.save(tmp_path / "t1.npy", np.zeros((3, 2)))
    dataset = BaseNumpyDataset(
        str(tmp_path), "t1.npy", "t1", targets=["sex", "target1"],
        target_mapping={"sex": {"F": 0, "M": 1}},
    )
    assert dataset.get_data(0)[1].tolist() == [1, 4]
    assert dataset.get_data(1)[1].tolist() == [0, 2]


def test_the_split_table_is_named_by_split(tmp_path):
    write_tables(tmp_path, split={"participant_id": ["000"]}, name="val")
    np.save(tmp_path / "t1.npy", np.zeros((3, 2)))
    assert len(BaseNumpyDataset(str(tmp_path), "t1.npy", "t1", split="val")) == 1
    with pytest.raises(FileNotFoundError, match="test.tsv"):
        BaseNumpyDataset(str(tmp_path), "t1.npy", "t1", split="test")


@pytest.mark.parametrize("table", ["participants", "split"])
def test_a_table_without_participant_id_raises_key_error(tmp_path, table):
    broken = {"subject": ["000", "001", "002"]}
    if table == "participants":
        write_tables(tmp_path, participants=broken)
    else:
        write_tables(tmp_path, split=broken)
    with pytest.raises(KeyError, match="participant_id"):
        BaseNumpyDataset(str(tmp_path), "t1.npy", "t1")


def test_a_missing_target_column_raises_key_error(tmp_path):
    write_tables(tmp_path)
    with pytest.raises(KeyError, match="'age'"):
        BaseNumpyDataset(str(tmp_path), "t1.npy", "t1", targets="age")


def test_missing_targets_warn(tmp_path):
    write_tables(tmp_path, {**PARTICIPANTS, "target1": [3, np.nan, 2]})
    np.save(tmp_path / "t1.npy", np.zeros((3, 2)))
    with pytest.warns(UserWarning, match="Missing data in train!"):
        BaseNumpyDataset(str(tmp_path), "t1.npy", "t1", targets="target1")


def test_repeated_participants_are_refused(tmp_path):
    write_tables(tmp_path, {"participant_id": ["000", "001", "001"]})
    np.save(tmp_path / "t1.npy", np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"\['001'\] more than once"):
        BaseNumpyDataset(str(tmp_path), "t1.npy", "t1")


def test_items_are_for_subclasses(arrays):
    root, _ = arrays
    dataset = BaseNumpyDataset(str(root), "t1.npy", "t1")
    with pytest.raises(NotImplementedError, match="get_data"):
        dataset[0]

    class Arrays(BaseNumpyDataset):
        def __getitem__(self, idx):
            (x,), _ = self.get_data(idx)
            return self.transforms(np.asarray(x))

    subclass = Arrays(str(root), "t1.npy", "t1", transforms=lambda x: 2 * x)
    np.testing.assert_array_equal(subclass[1], 2 * np.arange(4.0))


@pytest.fixture
def files(tmp_path):
    """sub-000..002 with a T1 file each, a FLAIR file for 000 and 001 only."""
    write_tables(tmp_path)
    for subject in ("000", "001", "002"):
        folder = tmp_path / f"sub-{subject}"
        folder.mkdir()
        (folder / f"sub-{subject}_ses-1_T1w.nii.gz").write_bytes(b"t1 " + bytes(3))
        if subject != "002":
            (folder / "flair.nii.gz").write_bytes(b"flair")
    return tmp_path


def test_image_dataset_from_files(files):
    root = str(files)
    patterns = ["sub-*/sub-*_T1w.nii.gz", "sub-*/flair.nii.gz"]
    # The subject is read from the file name (-1) for T1, the folder (-2)
    # for FLAIR; 'sub-' and what follows the first '_' are removed.
    with pytest.warns(UserWarning, match="Missing file data in train!"):
        dataset = BaseImageDataset(root, patterns, ["t1", "flair"],
                                   subject_in_patterns=[-1, -2], targets="target1")
    paths, target = dataset.get_data(0)
    assert paths.tolist() == [
        os.path.join(root, "sub-001", "sub-001_ses-1_T1w.nii.gz"),
        os.path.join(root, "sub-001", "flair.nii.gz"),
    ]
    assert target.tolist() == [4]
    # Subject 002 has no FLAIR file: None in its place.
    assert dataset.get_data(1)[0].tolist() == [
        os.path.join(root, "sub-002", "sub-002_ses-1_T1w.nii.gz"), None]
    assert repr(dataset) == (
        "BaseImageDataset<split='train',modalities=2,targets=['target1']>"
    )


def test_one_position_for_each_pattern(files):
    with pytest.raises(ValueError, match="2 positions for 1 patterns"):
        BaseImageDataset(str(files), "sub-*/flair.nii.gz", "flair",
                         subject_in_patterns=[-2, -1])


def test_sanitize_subject_and_checksum(files):
    dataset = BaseImageDataset(str(files), "sub-*/sub-*_T1w.nii.gz", "t1",
                               subject_in_patterns=-1)
    assert dataset.sanitize_subject("sub-01_ses-1_T1w.nii.gz") == "01"
    assert dataset.sanitize_subject("01") == "01"
    path = dataset.get_data(0)[0][0]
    # The bytes are hashed (binary content included).
    assert dataset.get_checksum(path) == hashlib.sha1(b"t1 " + bytes(3)).hexdigest()
