"""The OpenBHB brain-age cohort, read from a local folder or fetched on demand."""

import numbers
import os
import posixpath

import numpy as np
from sklearn.utils import check_scalar
from torch.utils.data import Dataset

from .._optional import import_optional

__all__ = ["OpenBHB"]

_MODALITIES = (
    "vbm", "quasiraw", "fs_xhemi", "vbm_roi", "fs_desikan_roi", "fs_destrieux_roi",
)
_TARGETS = ("age", "sex", "site")
_SPLITS = ("train", "val", "internal_val", "external_val")
#: ``split=`` -> values of the ``split`` column of ``participants.tsv``.
_SPLIT_ROWS = {
    "train": ("train",),
    "val": ("internal_test", "external_test"),
    "internal_val": ("internal_test",),
    "external_val": ("external_test",),
}
#: Repository path of each modality's file under ``train/`` or ``val/``:
#: ``{id}`` is the participant's integer id. The ROI modalities share one
#: table per folder.
_FILES = {
    "vbm": "derivatives/sub-{id}/ses-1/sub-{id}_preproc-cat12vbm_desc-gm_T1w.npy",
    "quasiraw": "derivatives/sub-{id}/ses-1/sub-{id}_preproc-quasiraw_T1w.npy",
    "fs_xhemi": (
        "derivatives/sub-{id}/ses-1/sub-{id}_preproc-freesurfer_desc-xhemi_T1w.npy"
    ),
    "vbm_roi": "derivatives/cat12vbm_roi/cat12vbm_roi_features.csv",
    "fs_desikan_roi": "derivatives/freesurfer_roi/desikan_roi_features.csv",
    "fs_destrieux_roi": "derivatives/freesurfer_roi/destrieux_roi_features.csv",
}
#: Patterns that select a modality's files of a whole folder in the repository.
_PATTERNS = {
    "vbm": "derivatives/sub-*/ses-*/sub-*cat12vbm_desc-gm_T1w.npy",
    "quasiraw": "derivatives/sub-*/ses-*/sub-*quasiraw_T1w.npy",
    "fs_xhemi": "derivatives/sub-*/ses-*/sub-*xhemi_T1w.npy",
    "vbm_roi": _FILES["vbm_roi"],
    "fs_desikan_roi": _FILES["fs_desikan_roi"],
    "fs_destrieux_roi": _FILES["fs_destrieux_roi"],
}
#: Rows of an item read from an ROI table: one for the CAT12 volumes, one per
#: FreeSurfer measure; the table's columns are in row-major order.
_ROI_ROWS = {"vbm_roi": 1, "fs_desikan_roi": 7, "fs_destrieux_roi": 7}
_MMAP_MODES = (None, "r", "r+", "c")
_INSTALL = 'pip install "nidl[openbhb]"'


class _ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type: a TypeError that is also a ValueError,
    so that code catching ValueError for every invalid argument catches it."""


def _folder(split):
    return "train" if split == "train" else "val"


def _parse_names(value, name, valid, none_ok):
    """A str or a non-empty list/tuple of distinct valid names -> str or tuple."""
    accepted = "a str, a list or tuple of str" + (", or None" if none_ok else "")
    if value is None and none_ok:
        return None
    if isinstance(value, str):
        names = (value,)
    elif isinstance(value, (list, tuple)):
        names = tuple(value)
        if not names:
            raise ValueError(
                f"{name}={value!r} is empty; pass one or more of {list(valid)}."
            )
    else:
        raise _ArgumentTypeError(
            f"{name}={value!r} is a {type(value).__name__}; pass {accepted}, "
            f"with names from {list(valid)}."
        )
    for item in names:
        if not isinstance(item, str) or item not in valid:
            raise ValueError(
                f"{name}={value!r}: {item!r} is not one of {list(valid)}."
            )
    if len(set(names)) < len(names):
        raise ValueError(f"{name}={value!r} names an entry twice; name each once.")
    return value if isinstance(value, str) else names


def _parse_split(split):
    if not isinstance(split, str) or split not in _SPLITS:
        raise ValueError(f"split={split!r} is not one of {list(_SPLITS)}.")
    return split


class OpenBHB(Dataset):
    """The OpenBHB cohort of healthy brains, for brain-age prediction [1]_.

    OpenBHB gathers 3,984 T1-weighted MRI scans of healthy people aged 6 to
    88, from 10 public studies and many scanners, all preprocessed the
    same way: grey-matter density from CAT12 voxel-based morphometry
    (``vbm``), minimally preprocessed images in MNI space (``quasiraw``),
    region-wise volumes and FreeSurfer measures, and FreeSurfer
    vertex-wise maps. 3,227 scans form the training set; the validation set
    holds 362 scans from the training scanners (``internal_val``) and 395
    from scanners never seen in training (``external_val``), to measure
    site effects.

    Files are read from ``root``. One that is missing is fetched from the
    dataset's hub repository (:attr:`REPO_ID` at :attr:`REVISION`) when
    first needed, which needs the optional package ``huggingface_hub``
    (``pip install "nidl[openbhb]"``). The whole dataset takes about
    350 GB; with ``streaming=True`` only the files read are fetched.
    :func:`make_openbhb_folder` writes a small synthetic folder in the same
    layout, to work offline.

    Parameters
    ----------
    root : str or os.PathLike
        Folder of the dataset, created if missing; ``~`` is expanded and a
        trailing separator is allowed.
    modality : str or list or tuple of str, default="vbm"
        What each item holds; several give a dict ``{modality: array}`` in
        the order given. Items are float32 arrays, of these shapes in
        OpenBHB (the files decide, none is assumed):

        - ``"vbm"``: grey-matter density, (1, 121, 145, 121);
        - ``"quasiraw"``: T1-weighted image, (1, 182, 218, 182);
        - ``"fs_xhemi"``: 8 FreeSurfer maps on the fsaverage7 vertices,
          (8, 163842);
        - ``"vbm_roi"``: 142 grey-matter then 142 CSF volumes in the
          regions of the Neuromorphometrics atlas, (1, 284);
        - ``"fs_desikan_roi"``: 7 FreeSurfer measures of the 68 Desikan
          regions, (7, 68);
        - ``"fs_destrieux_roi"``: the same of the 148 Destrieux regions,
          (7, 148).
    target : {"age", "sex", "site"}, list or tuple of them, or None, \
default="age"
        What comes with each item: the age (float, years), the sex (str,
        ``"male"`` or ``"female"``) or the site (int, the ``siteXacq``
        column); several give a dict ``{name: value}``; None gives the
        sample alone.
    split : {"train", "val", "internal_val", "external_val"}, default="train"
        Which subjects: ``"val"`` is ``"internal_val"`` (training scanners)
        and ``"external_val"`` (unseen scanners) together.
    streaming : bool, default=True
        If True, missing files are fetched one by one as items are read. If
        False, the files of ``split`` and ``modality`` that are missing are
        fetched at construction, in one snapshot of the repository.
    max_workers : int, default=1
        Files fetched at once by the snapshot (``streaming=False``). The hub
        may refuse many concurrent requests; keep it small.
    mmap_mode : {"r", "c", "r+"} or None, default="r"
        How ``.npy`` files are opened (see :func:`numpy.load`): memory-mapped
        by default, so that only the item is read; items are copies either
        way.
    transforms : callable or None, default=None
        Applied to each sample (the array, or the dict of arrays).
    target_transforms : callable or None, default=None
        Applied to each target (the value, or the dict of values).

    Attributes
    ----------
    samples : list of tuple
        One ``({participant_id: path}, target)`` per item, in the order of
        ``participants.tsv``; ``path`` is a tuple of paths for several
        modalities (an ROI modality's path is its table's).
    REPO_ID : str
        The dataset's repository on the hub.
    REVISION : str
        The commit of the repository that is fetched, so that every
        download gives the same files.

    Raises
    ------
    TypeError
        If ``modality`` or ``target`` is not a str, a list or tuple of str
        (or None for ``target``). The error is also a ValueError.
    ValueError
        If ``modality`` or ``target`` is empty, names an unknown or repeated
        entry, ``split`` is unknown, or another argument is out of range.
    ModuleNotFoundError
        If a file is missing and ``huggingface_hub`` is not installed.

    See Also
    --------
    make_openbhb_folder : A synthetic folder in OpenBHB's layout.
    ImageDataFrameDataset : Images listed in a table, for other cohorts.

    Notes
    -----
    Differences from other implementations of this reader: a trailing
    separator in ``root`` is allowed (the repository path of a file is
    taken relative to ``root``, not by removing ``root + "/"`` from it),
    and the files already present are excluded from a snapshot by their
    repository paths, so that they are really not downloaded again.
    Wrong argument types raise an error that is both a TypeError and a
    ValueError. Arguments are checked before ``root`` is created.

    References
    ----------
    .. [1] Dufumier, B., Grigis, A., Victor, J., Ambroise, C., Frouin, V. and
       Duchesnay, E. (2022). OpenBHB: a Large-Scale Multi-Site Brain MRI
       Data-set for Age Prediction and Debiasing. NeuroImage, 263, 119637.

    Examples
    --------
    A synthetic folder in OpenBHB's layout, read as OpenBHB is:

    >>> import tempfile
    >>> from nidl.datasets import OpenBHB, make_openbhb_folder
    >>> tmp = tempfile.TemporaryDirectory()
    >>> _ = make_openbhb_folder(tmp.name, n_subjects=6, random_state=0)
    >>> dataset = OpenBHB(tmp.name, modality="vbm_roi", target="age")
    >>> str(dataset), len(dataset)
    ('openBHB_vbm_roi_train_age', 2)
    >>> features, age = dataset[0]
    >>> features.shape, type(age).__name__
    ((1, 284), 'float')
    >>> both = OpenBHB(tmp.name, modality=["vbm", "fs_desikan_roi"],
    ...                target=["age", "sex"], split="val")
    >>> sample, targets = both[0]
    >>> {name: array.shape for name, array in sample.items()}
    {'vbm': (1, 33, 39, 32), 'fs_desikan_roi': (7, 68)}
    >>> sorted(targets)
    ['age', 'sex']

    The names of the features and the atlas of the ``vbm_roi`` features:

    >>> dataset.get_vbm_roi_labels()[:2]
    ['lROI01_GM_Vol', 'lROI02_GM_Vol']
    >>> len(dataset.get_fs_labels("desikan", symmetric=True))
    34
    >>> atlas = dataset.get_neuromorphometrics_atlas()
    >>> atlas["data"].shape == dataset.get_cat12_template().shape
    True
    >>> tmp.cleanup()
    """

    REPO_ID = "benoit-dufumier/openBHB"
    REVISION = "8508cda68fea74f217926acbf46ee5863f8879d1"

    def __init__(self, root, modality="vbm", target="age", split="train",
                 streaming=True, max_workers=1, mmap_mode="r", transforms=None,
                 target_transforms=None):
        self.modality = _parse_names(modality, "modality", _MODALITIES, False)
        if isinstance(self.modality, str):
            self.modality = (self.modality,)
        self.target = _parse_names(target, "target", _TARGETS, True)
        self.split = _parse_split(split)
        check_scalar(max_workers, "max_workers", numbers.Integral, min_val=1)
        if mmap_mode not in _MMAP_MODES:
            raise ValueError(
                f"mmap_mode={mmap_mode!r} is not one of {list(_MMAP_MODES)}; "
                "items are only read, so 'r' (the default) or None suit."
            )
        for name, value in (("transforms", transforms),
                            ("target_transforms", target_transforms)):
            if value is not None and not callable(value):
                raise TypeError(
                    f"{name}={value!r} is not callable; pass a function or None."
                )
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(
                f"root={root!r} is not a path; pass the folder of the dataset "
                "as a str or a pathlib.Path."
            )
        self.root = os.path.expanduser(os.fspath(root))
        os.makedirs(self.root, exist_ok=True)
        self.streaming = streaming
        self.max_workers = max_workers
        self.mmap_mode = mmap_mode
        self.transforms = transforms
        self.target_transforms = target_transforms
        self._cache = {}
        self.samples = self.make_dataset(self.split)
        if not self.streaming:
            self.download_dataset_split(
                split=self.split, modality=self.modality, samples=self.samples,
                incremental=True, max_workers=max_workers,
            )

    # -- paths and downloads ------------------------------------------------

    def _local_path(self, repo_path):
        """Where a file of the repository lies under ``root``."""
        return os.path.join(self.root, *repo_path.split("/"))

    def _repo_path(self, local_path):
        """The repository path (``/``-separated) of a file under ``root``."""
        relative = os.path.relpath(os.fspath(local_path), self.root)
        return posixpath.join(*relative.split(os.sep))

    def _hub(self, what):
        try:
            import huggingface_hub
        except ImportError as error:
            raise ModuleNotFoundError(
                f"{what} is not in {self.root} and fetching it needs the "
                f"huggingface_hub package, which is not installed; install it "
                f"with {_INSTALL}, or pass as root a folder that holds the "
                "OpenBHB files.",
                name="huggingface_hub",
            ) from error
        return huggingface_hub

    def download_file(self, filename):
        """Fetch one file of the repository into ``root``.

        Parameters
        ----------
        filename : str
            Path of the file in the repository, relative to its top and
            ``/``-separated, e.g. ``"participants.tsv"``.

        Returns
        -------
        path : str
            Where the file was written, under ``root``.

        Raises
        ------
        ModuleNotFoundError
            If ``huggingface_hub`` is not installed.
        """
        hub = self._hub(filename)
        return hub.hf_hub_download(
            repo_id=self.REPO_ID,
            revision=self.REVISION,
            filename=filename,
            repo_type="dataset",
            local_dir=self.root,
        )

    def download_dataset_split(self, split, modality, samples, incremental=True,
                               max_workers=8):
        """Fetch the files of a split and modalities in one snapshot.

        Parameters
        ----------
        split : {"train", "val", "internal_val", "external_val"}
            The split; its folder (``train/`` or ``val/``) is fetched.
        modality : str or tuple of str
            The modalities whose files are fetched.
        samples : list of tuple
            The split's samples, as :meth:`make_dataset` returns them: their
            files that are present are not fetched again.
        incremental : bool, default=True
            If True, fetch only when a file of ``samples`` is missing, and
            leave out the files present. If False, fetch the whole folder of
            the modalities, replacing local files.
        max_workers : int, default=8
            Files fetched at once.

        Raises
        ------
        ModuleNotFoundError
            If files must be fetched and ``huggingface_hub`` is not installed.
        """
        split = _parse_split(split)
        modality = _parse_names(modality, "modality", _MODALITIES, False)
        if isinstance(modality, str):
            modality = (modality,)
        folder = _folder(split)
        allow_patterns = [f"{folder}/{_PATTERNS[name]}" for name in modality]
        files = {}
        for paths, _ in samples:
            if isinstance(paths, dict):  # {participant_id: path(s)}
                paths = next(iter(paths.values()))
            for path in (paths,) if isinstance(paths, (str, os.PathLike)) else paths:
                files[os.fspath(path)] = None
        # Patterns are matched against repository paths: a file present is
        # left out by its path relative to root.
        ignore_patterns = []
        if incremental:
            ignore_patterns = [self._repo_path(path) for path in files
                               if os.path.isfile(path)]
            if len(ignore_patterns) == len(files):
                return
        hub = self._hub(f"the {folder}/ folder of {list(modality)}")
        hub.snapshot_download(
            repo_id=self.REPO_ID,
            revision=self.REVISION,
            repo_type="dataset",
            local_dir=self.root,
            allow_patterns=allow_patterns,
            ignore_patterns=ignore_patterns,
            max_workers=max_workers,
        )

    def _fetch(self, path):
        """``path`` under root, fetched from the repository if missing."""
        if not os.path.isfile(path):
            self.download_file(self._repo_path(path))
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"{path} is missing and fetching "
                    f"{self._repo_path(path)!r} did not write it; check that "
                    "root is the top of the OpenBHB folder."
                )
        return path

    # -- tables and resources -----------------------------------------------

    def get_participants(self):
        """The participants table, ``participants.tsv``.

        Returns
        -------
        participants : pandas.DataFrame
            One row per subject; the columns used are ``participant_id``,
            ``split``, ``age``, ``sex`` and ``siteXacq``.
        """
        pd = import_optional("pandas", "OpenBHB", "neuroimaging")
        return pd.read_csv(self._fetch(self._local_path("participants.tsv")),
                           sep="\t")

    def get_resource(self):
        """The feature and channel names, ``resource/resources.json``.

        Returns
        -------
        resource : pandas.DataFrame
            Columns ``vbm_roi``, ``desikan_roi``, ``destrieux_roi`` and
            ``xhemi``; rows ``features`` and ``channels`` hold lists of
            names.
        """
        pd = import_optional("pandas", "OpenBHB", "neuroimaging")
        path = self._fetch(self._local_path("resource/resources.json"))
        return pd.read_json(path)

    def _resource_names(self, column, row):
        resource = self.get_resource()
        try:
            names = resource[column][row]
        except KeyError:
            names = None
        if not isinstance(names, list):
            raise ValueError(  # noqa: TRY004 (a file's content, not an argument)
                f"{self._local_path('resource/resources.json')} has no "
                f"{column}.{row} list of names; fetch the file again (delete "
                "it and it is fetched when needed)."
            )
        return names

    def make_dataset(self, split):
        """List the samples of a split: their files and targets.

        Parameters
        ----------
        split : {"train", "val", "internal_val", "external_val"}
            Which subjects, from the ``split`` column of ``participants.tsv``
            (fetched if missing).

        Returns
        -------
        samples : list of tuple
            One ``({participant_id: path}, target)`` per subject, in the
            order of the table: ``path`` is a str for one modality and a
            tuple for several, ``target`` a value, a dict of values, or None.

        Raises
        ------
        ValueError
            If ``split`` is unknown or the table lacks a needed column.
        """
        split = _parse_split(split)
        participants = self.get_participants()
        targets = ((self.target,) if isinstance(self.target, str)
                   else self.target or ())
        columns = {"site": "siteXacq"}
        needed = ["participant_id", "split", *(columns.get(t, t) for t in targets)]
        missing = [column for column in needed if column not in participants]
        if missing:
            raise ValueError(
                f"{self._local_path('participants.tsv')} has no column "
                f"{missing}; it needs {needed}. Delete it to fetch it again."
            )
        rows = participants[participants["split"].isin(_SPLIT_ROWS[split])]
        cast = {"age": float, "sex": str, "site": int}
        folder = _folder(split)
        samples = []
        for record in rows.to_dict(orient="records"):
            participant_id = int(record["participant_id"])
            paths = tuple(
                self._local_path(f"{folder}/" + _FILES[name].format(id=participant_id))
                for name in self.modality
            )
            values = {name: cast[name](record[columns.get(name, name)])
                      for name in targets}
            if self.target is None:
                target = None
            elif isinstance(self.target, str):
                target = values[self.target]
            else:
                target = values
            path = paths[0] if len(paths) == 1 else paths
            samples.append(({participant_id: path}, target))
        return samples

    # -- atlases, templates and names -----------------------------------------

    def get_neuromorphometrics_atlas(self):
        """The Neuromorphometrics atlas of the ``vbm_roi`` features.

        Returns
        -------
        atlas : dict
            ``"data"``: the atlas, a nibabel.Nifti1Image of integer labels on
            the grid of the ``vbm`` volumes; ``"labels"``: the region names
            (``ROIabbr`` of ``resource/neuromorphometrics.csv``), indexed by
            label.
        """
        nibabel = import_optional("nibabel", "OpenBHB", "neuroimaging")
        pd = import_optional("pandas", "OpenBHB", "neuroimaging")
        image = self._fetch(self._local_path("resource/neuromorphometrics.nii"))
        table = self._fetch(self._local_path("resource/neuromorphometrics.csv"))
        labels = pd.read_csv(table, sep=";")
        if "ROIabbr" not in labels:
            raise ValueError(
                f"{table} has no ROIabbr column (columns: {list(labels.columns)});"
                " it must be ';'-separated. Delete it to fetch it again."
            )
        return {"data": nibabel.load(image), "labels": list(labels["ROIabbr"])}

    def _template(self, name):
        nibabel = import_optional("nibabel", "OpenBHB", "neuroimaging")
        return nibabel.load(self._fetch(self._local_path(f"resource/{name}")))

    def get_cat12_template(self):
        """The CAT12 grey-matter probability map in MNI space.

        Returns
        -------
        template : nibabel.Nifti1Image
            On the grid of the ``vbm`` volumes, (121, 145, 121) in OpenBHB;
            the ``vbm`` volumes are zero where it is.
        """
        return self._template("cat12vbm_space-MNI152_desc-gm_TPM.nii.gz")

    def get_quasiraw_template(self):
        """The brain template of the ``quasiraw`` images, in MNI space.

        Returns
        -------
        template : nibabel.Nifti1Image
            On the grid of the ``quasiraw`` images, (182, 218, 182) in
            OpenBHB.
        """
        return self._template("quasiraw_space-MNI152_desc-brain_T1w.nii.gz")

    def get_fs_labels(self, atlas="destrieux", symmetric=False):
        """Region names of the FreeSurfer ROI features.

        Parameters
        ----------
        atlas : {"destrieux", "desikan"}, default="destrieux"
            The atlas of ``fs_destrieux_roi`` (148 regions) or
            ``fs_desikan_roi`` (68 regions): the left hemisphere's first,
            then the right one's.
        symmetric : bool, default=False
            If True, the names of one hemisphere without their hemisphere
            prefix (``"lh-"``): 74 or 34 names.

        Returns
        -------
        labels : list of str
            The names, in the order of the columns of the features.

        Raises
        ------
        ValueError
            If ``atlas`` is unknown.
        """
        if atlas not in ("destrieux", "desikan"):
            raise ValueError(
                f"atlas={atlas!r} is not one of ['destrieux', 'desikan']."
            )
        labels = self._resource_names(f"{atlas}_roi", "features")
        if symmetric:
            # Left hemisphere first; its names start with "lh-".
            labels = [label[3:] for label in labels[: len(labels) // 2]]
        return labels

    def get_vbm_roi_labels(self):
        """Names of the 284 ``vbm_roi`` features.

        Returns
        -------
        labels : list of str
            142 grey-matter volumes (``<region>_GM_Vol``), then 142 CSF
            volumes (``<region>_CSF_Vol``).
        """
        return self._resource_names("vbm_roi", "features")

    def get_fs_roi_feature_names(self):
        """Names of the 7 FreeSurfer measures, the rows of ``fs_*_roi`` items.

        Returns
        -------
        names : list of str
            E.g. ``"average_thickness_mm"``.
        """
        return self._resource_names("destrieux_roi", "channels")

    def get_fs_xhemi_feature_names(self):
        """Names of the 8 channels of ``fs_xhemi`` items.

        Returns
        -------
        names : list of str
            E.g. ``"lh.thickness"``.
        """
        return self._resource_names("xhemi", "channels")

    # -- items ----------------------------------------------------------------

    def _roi_table(self, path):
        """An ROI table as (participant ids -> row index, float32 values)."""
        if path not in self._cache:
            pd = import_optional("pandas", "OpenBHB", "neuroimaging")
            table = pd.read_csv(path)
            if "participant_id" not in table:
                raise ValueError(
                    f"{path} has no participant_id column; delete it to fetch "
                    "it again."
                )
            ids = table["participant_id"].astype(int).to_numpy()
            values = table.drop(columns=["participant_id", "session"],
                                errors="ignore")
            self._cache[path] = (
                {participant: row for row, participant in
                 reversed(list(enumerate(ids)))},
                values.to_numpy(dtype=np.float32),
            )
        return self._cache[path]

    def _read(self, name, participant_id, path):
        path = self._fetch(path)
        if name in _ROI_ROWS:
            rows, values = self._roi_table(path)
            if participant_id not in rows:
                raise ValueError(
                    f"{path} has no row for participant_id={participant_id}; "
                    "delete it to fetch it again."
                )
            row = values[rows[participant_id]]
            if row.size % _ROI_ROWS[name]:
                raise ValueError(
                    f"{path} has {row.size} features per subject, which cannot "
                    f"form the {_ROI_ROWS[name]} rows of {name}."
                )
            return row.reshape(_ROI_ROWS[name], -1).copy()
        try:
            array = np.load(path, mmap_mode=self.mmap_mode)
        except (ValueError, OSError, EOFError) as error:
            raise ValueError(
                f"could not read {path} ({error}); it may be truncated: "
                "delete it to fetch it again."
            ) from error
        return np.array(array[0], dtype=np.float32)

    def __getitem__(self, index):
        """One item: the sample, and its target unless ``target`` is None.

        Parameters
        ----------
        index : int
            Position of the subject in :attr:`samples`.

        Returns
        -------
        sample : numpy.ndarray or dict of numpy.ndarray
            The float32 array of the modality, or ``{modality: array}``.
        target : float, str, int or dict
            The target(s), after ``target_transforms``; not returned when
            ``target`` is None.
        """
        paths, target = self.samples[index]
        participant_id, paths = next(iter(paths.items()))
        if len(self.modality) == 1:
            sample = self._read(self.modality[0], participant_id, paths)
        else:
            sample = {name: self._read(name, participant_id, path)
                      for name, path in zip(self.modality, paths)}
        if self.transforms is not None:
            sample = self.transforms(sample)
        if self.target is None:
            return sample
        if self.target_transforms is not None:
            target = self.target_transforms(target)
        return sample, target

    def __len__(self):
        return len(self.samples)

    def __str__(self):
        return f"openBHB_{'-'.join(self.modality)}_{self.split}_{self.target}"
