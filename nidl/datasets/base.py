"""Base classes of cohort datasets: a participants table, a split table and
data stored as NumPy arrays or as one file per subject and channel.

pandas, NumPy, ``os`` and ``glob`` are called through their modules, so that
tests can replace ``read_csv``, ``load``, ``isfile`` and ``glob`` here.
"""

import errno
import glob
import os
import warnings

import numpy as np
from torch.utils.data import Dataset

from ._readers import file_digest

try:
    import pandas as pd
except ImportError:  # an optional dependency: nidl.datasets imports without it
    pd = None

__all__ = ["BaseImageDataset", "BaseNumpyDataset"]


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


class _BaseDataset(Dataset):
    """The participants and split tables shared by the two bases below.

    Reads ``<root>/participants.tsv`` and ``<root>/<split>.tsv`` (both
    tab-separated, with a ``participant_id`` column) and keeps, in the order
    of the split table, the subjects of the split that the participants
    table knows, with their ``targets``.
    """

    def __init__(
        self,
        root,
        patterns,
        channels,
        split="train",
        targets=None,
        target_mapping=None,
        transforms=None,
        mask=None,
        withdraw_subjects=None,
    ):
        if pd is None:
            raise ImportError(
                f"{type(self).__name__} needs pandas, which is not installed; "
                'install it with pip install "nidl[neuroimaging]".'
            )
        patterns = _as_list(patterns)
        channels = _as_list(channels)
        targets = None if targets is None else _as_list(targets)
        withdraw = [] if withdraw_subjects is None else _as_list(withdraw_subjects)
        participants_file = os.path.join(root, "participants.tsv")
        split_file = os.path.join(root, f"{split}.tsv")
        for path in (participants_file, split_file):
            if not os.path.isfile(path):
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)

        self.root = root
        self.patterns = patterns
        self.channels = channels
        self.n_modalities = len(channels)
        self.split = split
        self.targets = targets
        self.target_mapping = target_mapping or {}
        self.transforms = transforms
        self.withdraw_subjects = withdraw_subjects
        # Loaded for subclasses, which decide how to apply it.
        self.mask = None if mask is None else np.load(mask)

        self.info_df = self._read_table(participants_file, "participants")
        split_df = self._read_table(split_file, "split")[["participant_id"]]
        withdrawn = split_df["participant_id"].isin([str(s) for s in withdraw])
        split_df = split_df[~withdrawn]
        self.split_df = split_df.reset_index(drop=True)
        missing = [key for key in targets or [] if key not in self.info_df]
        if missing:
            raise KeyError(
                f"targets {missing} are not columns of {participants_file}, "
                f"whose columns are {list(self.info_df.columns)}."
            )
        columns = ["participant_id", *(targets or [])]
        # An inner join keeps the order of the split table.
        self._df = self.split_df.merge(
            self.info_df[columns], on="participant_id", how="inner"
        )
        if self._df.isna().any(axis=None):
            warnings.warn(f"Missing data in {split}!", UserWarning, stacklevel=3)
        self._df = self._df.replace(self.target_mapping)
        self._targets = None if targets is None else self._df[targets].to_numpy()

    @staticmethod
    def _read_table(path, name):
        # Identifiers are read as text, so that "01" stays "01".
        table = pd.read_csv(path, sep="\t", dtype={"participant_id": str})
        if "participant_id" not in table:
            raise KeyError(
                f"the {name} table {path} has no 'participant_id' column; its "
                f"columns are {list(table.columns)}."
            )
        return table.astype({"participant_id": "str"})

    def _target_row(self, idx):
        return None if self._targets is None else self._targets[idx]

    def __len__(self):
        return len(self._df)

    def __repr__(self):
        return (
            f"{type(self).__name__}<split='{self.split}',"
            f"modalities={self.n_modalities},targets={self.targets}>"
        )

    def __getitem__(self, idx):
        raise NotImplementedError(
            f"{type(self).__name__} does not define __getitem__: subclass it and "
            "build the item from self.get_data(idx) (and self.transforms)."
        )


class BaseNumpyDataset(_BaseDataset):
    """A cohort stored as NumPy arrays, one per channel, one row per subject.

    Each pattern names a ``.npy`` file under ``root`` whose first axis runs
    over the subjects of ``participants.tsv``, in its order. The arrays are
    memory-mapped, so only the rows that are asked for are read. The subjects
    of the split are those of ``<split>.tsv``, in its order, that
    ``participants.tsv`` knows. A subclass builds its items in
    ``__getitem__`` from :meth:`get_data`.

    Parameters
    ----------
    root : str
        Folder holding ``participants.tsv``, ``<split>.tsv`` (tab-separated,
        each with a ``participant_id`` column) and the arrays.
    patterns : str or list of str
        The ``.npy`` files, relative to ``root``, one per channel.
    channels : str or list of str
        The names of the channels.
    split : str, default="train"
        The split: its subjects are listed in ``<root>/<split>.tsv``.
    targets : str or list of str, default=None
        Columns of ``participants.tsv`` returned with the data.
    target_mapping : dict, default=None
        Replacements applied to the targets, as
        :meth:`pandas.DataFrame.replace` takes them (for instance
        ``{"sex": {"F": 0, "M": 1}}``).
    transforms : callable, default=None
        Stored for subclasses, which apply it to the data.
    mask : str, default=None
        A ``.npy`` file loaded into the ``mask`` attribute; subclasses decide
        how to use it.
    withdraw_subjects : str or list of str, default=None
        Subjects left out of the split.

    Attributes
    ----------
    info_df : pandas.DataFrame
        The participants table.
    mask : numpy.ndarray or None
        The loaded mask.

    Raises
    ------
    FileNotFoundError
        If ``participants.tsv`` or ``<split>.tsv`` is not in ``root``.
    KeyError
        If a table has no ``participant_id`` column, or a target is not a
        column of ``participants.tsv``.
    ValueError
        If ``participants.tsv`` lists a subject twice.

    Warns
    -----
    UserWarning
        If targets are missing for subjects of the split.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import pandas as pd
    >>> from nidl.datasets import BaseNumpyDataset
    >>> root = tempfile.mkdtemp()
    >>> pd.DataFrame({"participant_id": ["01", "02", "03"], "age": [20, 30, 40]}
    ...              ).to_csv(os.path.join(root, "participants.tsv"), sep="\\t",
    ...                       index=False)
    >>> pd.DataFrame({"participant_id": ["03", "01"]}).to_csv(
    ...     os.path.join(root, "train.tsv"), sep="\\t", index=False)
    >>> np.save(os.path.join(root, "t1.npy"), np.arange(12.0).reshape(3, 4))
    >>> dataset = BaseNumpyDataset(root, "t1.npy", "t1", targets="age")
    >>> dataset
    BaseNumpyDataset<split='train',modalities=1,targets=['age']>
    >>> (t1,), age = dataset.get_data(0)
    >>> t1, age
    (memmap([ 8.,  9., 10., 11.]), array([40]))
    """

    def __init__(
        self,
        root,
        patterns,
        channels,
        split="train",
        targets=None,
        target_mapping=None,
        transforms=None,
        mask=None,
        withdraw_subjects=None,
    ):
        super().__init__(
            root,
            patterns,
            channels,
            split=split,
            targets=targets,
            target_mapping=target_mapping,
            transforms=transforms,
            mask=mask,
            withdraw_subjects=withdraw_subjects,
        )
        ids = self.info_df["participant_id"]
        repeated = sorted(set(ids[ids.duplicated()]))
        if repeated:
            raise ValueError(
                f"participants.tsv lists the subjects {repeated} more than once, "
                "so their rows of the arrays are ambiguous; remove the "
                "duplicates."
            )
        # The arrays follow participants.tsv, not the split: the row of each
        # subject of the split is looked up once here, not for every item.
        rows = {subject: row for row, subject in enumerate(ids)}
        self._rows = [rows[subject] for subject in self._df["participant_id"]]
        self._data = [
            np.load(os.path.join(root, name), mmap_mode="r") for name in self.patterns
        ]

    def get_data(self, idx):
        """Return the data and the targets of the ``idx``-th subject of the split.

        Parameters
        ----------
        idx : int
            Position in the split.

        Returns
        -------
        data : list
            The subject's row of each array, one per channel.
        targets : numpy.ndarray or None
            The subject's targets, in the order of ``targets``.
        """
        row = self._rows[idx]
        return [array[row] for array in self._data], self._target_row(idx)


class BaseImageDataset(_BaseDataset):
    """A cohort stored as files, one per subject and channel.

    Each pattern is a glob pattern under ``root`` matching one file per
    subject for one channel; the subject of a file is read from the part of
    its path at position ``subject_in_patterns`` (in ``path.split(os.sep)``),
    with a leading ``sub-`` and anything from the first ``_`` removed
    (see :meth:`sanitize_subject`). The subjects of the split are those of
    ``<split>.tsv``, in its order, that ``participants.tsv`` knows. A
    subclass builds its items in ``__getitem__`` from :meth:`get_data`.

    Parameters
    ----------
    root : str
        Folder holding ``participants.tsv``, ``<split>.tsv`` (tab-separated,
        each with a ``participant_id`` column) and the files.
    patterns : str or list of str
        Glob patterns relative to ``root``, one per channel.
    channels : str or list of str
        The names of the channels.
    subject_in_patterns : int or list of int
        Position of the subject in the paths, one for all patterns or one
        per pattern (``-2`` for ``.../sub-01/t1.nii.gz``).
    split : str, default="train"
        The split: its subjects are listed in ``<root>/<split>.tsv``.
    targets : str or list of str, default=None
        Columns of ``participants.tsv`` returned with the data.
    target_mapping : dict, default=None
        Replacements applied to the targets, as
        :meth:`pandas.DataFrame.replace` takes them.
    transforms : callable, default=None
        Stored for subclasses, which apply it to the data.
    mask : str, default=None
        A ``.npy`` file loaded into the ``mask`` attribute; subclasses decide
        how to use it.
    withdraw_subjects : str or list of str, default=None
        Subjects left out of the split.

    Attributes
    ----------
    info_df : pandas.DataFrame
        The participants table.
    mask : numpy.ndarray or None
        The loaded mask.

    Raises
    ------
    FileNotFoundError
        If ``participants.tsv`` or ``<split>.tsv`` is not in ``root``.
    KeyError
        If a table has no ``participant_id`` column, or a target is not a
        column of ``participants.tsv``.
    ValueError
        If ``subject_in_patterns`` does not give one position per pattern.

    Warns
    -----
    UserWarning
        If targets are missing for subjects of the split, or files (their
        paths are then None).

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from nidl.datasets import BaseImageDataset
    >>> root = tempfile.mkdtemp()
    >>> pd.DataFrame({"participant_id": ["01", "02"], "age": [20, 30]}).to_csv(
    ...     os.path.join(root, "participants.tsv"), sep="\\t", index=False)
    >>> pd.DataFrame({"participant_id": ["02"]}).to_csv(
    ...     os.path.join(root, "train.tsv"), sep="\\t", index=False)
    >>> for subject in ("01", "02"):
    ...     os.makedirs(os.path.join(root, f"sub-{subject}"))
    ...     open(os.path.join(root, f"sub-{subject}", "t1.npy"), "wb").close()
    >>> dataset = BaseImageDataset(root, "sub-*/t1.npy", "t1",
    ...                            subject_in_patterns=-2, targets="age")
    >>> (path,), age = dataset.get_data(0)
    >>> os.path.relpath(path, root), age
    ('sub-02/t1.npy', array([30]))
    """

    def __init__(
        self,
        root,
        patterns,
        channels,
        subject_in_patterns,
        split="train",
        targets=None,
        target_mapping=None,
        transforms=None,
        mask=None,
        withdraw_subjects=None,
    ):
        super().__init__(
            root,
            patterns,
            channels,
            split=split,
            targets=targets,
            target_mapping=target_mapping,
            transforms=transforms,
            mask=mask,
            withdraw_subjects=withdraw_subjects,
        )
        positions = _as_list(subject_in_patterns)
        if len(positions) == 1:
            positions = positions * len(self.patterns)
        if len(positions) != len(self.patterns):
            raise ValueError(
                f"subject_in_patterns gives {len(positions)} positions for "
                f"{len(self.patterns)} patterns; give one position, or one per "
                "pattern."
            )
        self.subject_in_patterns = subject_in_patterns
        subjects = self._df["participant_id"].tolist()
        self._data = np.empty((len(subjects), len(self.patterns)), dtype=object)
        for channel, (pattern, position) in enumerate(zip(self.patterns, positions)):
            files = {
                self.sanitize_subject(path.split(os.sep)[position]): path
                for path in glob.glob(os.path.join(root, pattern))
            }
            self._data[:, channel] = [files.get(subject) for subject in subjects]
        if any(path is None for path in self._data.flat):
            warnings.warn(f"Missing file data in {split}!", UserWarning, stacklevel=2)

    def sanitize_subject(self, subject):
        """Return the subject identifier of a path part.

        Parameters
        ----------
        subject : str
            The part of a path that names the subject, such as
            ``"sub-01_ses-1"``.

        Returns
        -------
        subject : str
            The part without ``sub-`` and from the first ``_`` on (``"01"``).
        """
        return subject.replace("sub-", "").split("_")[0]

    def get_checksum(self, path):
        """Return the SHA-1 checksum of a file's bytes, in hexadecimal.

        Compare it with a stored value to check that a file has not changed.

        Parameters
        ----------
        path : str
            The file.

        Returns
        -------
        checksum : str
        """
        return file_digest(path, "sha1")

    def get_data(self, idx):
        """Return the file paths and the targets of the ``idx``-th subject.

        Parameters
        ----------
        idx : int
            Position in the split.

        Returns
        -------
        paths : numpy.ndarray
            The subject's file of each channel (None where missing).
        targets : numpy.ndarray or None
            The subject's targets, in the order of ``targets``.
        """
        return self._data[idx], self._target_row(idx)
