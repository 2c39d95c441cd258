"""A dataset over a table of image files, with labels, checksums and a cache."""

import os

import numpy as np
from torch.utils.data import Dataset

from .._optional import import_optional
from ._cache import VolumeCache, describe_loader, split_cacheable
from ._readers import (
    NIFTI_SUFFIXES,
    PIL_SUFFIXES,
    SUPPORTED_SUFFIXES,
    cannot_read,
    file_digest,
    load_nifti,
    load_numpy,
    load_pil,
)

__all__ = ["ImageDataFrameDataset", "default_image_loader"]


def default_image_loader(path, as_image=False):
    """Read an image file by its extension.

    - ``.nii`` and ``.nii.gz``: the voxel array of a NIfTI image
      (``get_fdata``, intensities scaled as the header says), of the shape
      it is stored in (``(X, Y, Z)``, or ``(X, Y, Z, T)``), as float32. A
      convolutional network wants a channel axis first: add it in
      ``transform``.
    - ``.npy``: the array as it is stored.
    - ``.npz``: the array if the archive holds one, else a dict of its
      arrays by name.
    - ``.jpg``, ``.jpeg``, ``.png``, ``.ppm``, ``.bmp``, ``.pgm``, ``.tif``,
      ``.tiff``, ``.webp``: a Pillow image converted to RGB (three 8-bit
      channels), if Pillow is installed (the ``neuroimaging`` extra).

    Extensions are matched in any case (``.NII.GZ`` is NIfTI).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    as_image : bool, default=False
        Return NIfTI files as nibabel images (with their affine and header,
        data read lazily) instead of arrays. Other formats ignore it. In a
        dataset, pass
        ``image_loader=functools.partial(default_image_loader, as_image=True)``.

    Returns
    -------
    image : numpy.ndarray, dict, nibabel image or PIL image

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ImportError
        If the library that reads the format (nibabel, Pillow) is not
        installed; the message says how to install it.
    OSError
        If the file cannot be read (truncated, or not of the format its
        extension says); the error of the reading library is its
        ``__cause__``.
    ValueError
        If the extension is not one of those above, or a NIfTI image has more
        than 4 dimensions.

    Examples
    --------
    >>> import os, tempfile
    >>> import nibabel
    >>> import numpy as np
    >>> from nidl.datasets.image_dataframe import default_image_loader
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "brain.nii.gz")
    >>> nibabel.Nifti1Image(np.ones((6, 7, 5)), np.eye(4)).to_filename(path)
    >>> volume = default_image_loader(path)
    >>> volume.shape, volume.dtype
    ((6, 7, 5), dtype('float32'))
    >>> default_image_loader(path, as_image=True).affine.shape
    (4, 4)
    """
    path = os.fspath(path)
    lower = path.lower()
    if lower.endswith(NIFTI_SUFFIXES):
        return load_nifti(path, as_image)
    if lower.endswith((".npy", ".npz")):
        return load_numpy(path)
    if lower.endswith(PIL_SUFFIXES):
        return load_pil(path)
    raise ValueError(
        f"cannot read {path}: its extension is not one of {SUPPORTED_SUFFIXES}. Pass a "
        "function that reads it as image_loader."
    )


def _format_paths(paths, limit=5):
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


class ImageDataFrameDataset(Dataset):
    """A torch dataset of image files listed in a table, with their labels.

    Each row of the table names an image file (relative to ``rootdir``) and
    may hold labels. Images are read when an item is requested, so a cohort
    larger than memory can be used for training; NIfTI volumes come out as
    float32 arrays of shape ``(X, Y, Z)`` and 2-D images (PNG, JPEG, ...) as
    RGB Pillow images (see :func:`default_image_loader`). An item is the
    image alone when there is no label column, ``(image, label)`` otherwise.

    With ``cache_dir``, the loaded image after the leading deterministic
    transforms is written once to a folder and memory-mapped at every later
    read: from the second epoch on, no image file is decoded.

    Parameters
    ----------
    rootdir : str or os.PathLike
        Folder the paths of the table are relative to (absolute paths in the
        table are used as they are).
    df : pandas.DataFrame, pandas.Series or str
        The table: a DataFrame with a column of paths, a Series of paths, or
        the path of a CSV file (of a TSV file if the name ends with ``.tsv``)
        read with ``pandas.read_csv``.
    image_col : str, default="image_path"
        The column of image paths (the name given to a Series).
    label_cols : str, list of str or None, default=None
        The label column, or a list of them. Items are ``(image, label)``
        for a column name, ``(image, [label_1, label_2, ...])`` for a list
        (even a list of one name).
    checksum_col : str, default=None
        A column of SHA-256 checksums (hexadecimal) of the files. Every file
        is checked at construction, and again each time it is decoded (with
        a cache: when it is cached); one whose checksum differs raises a
        ValueError that names it.
    transform : callable, default=None
        Applied to each loaded image.
    target_transform : callable or dict, default=None
        A callable is applied to the whole label: the value for a column
        name, the list for a list of columns. A dict maps label columns to
        the callable applied to that column's value (the other columns are
        left as they are); with a list of columns the result is a list.
    return_none_if_no_label : bool, default=True
        Without ``label_cols``, items are the image alone; set it to False
        to get ``(image, None)`` (nidl's estimators batch both forms; torch's
        default collation cannot batch None).
    image_loader : callable, default=default_image_loader
        ``image_loader(path)`` reads a file.
    is_valid_label : callable or dict, default=None
        Keeps only the rows whose labels it accepts: a callable receives the
        value (for a column name) or the row of the label columns as a
        pandas Series (for a list); a dict maps column names to a callable
        that receives that column's value, and a row is kept if all accept
        it. For instance ``{"age": pandas.notna}`` drops the rows whose age
        is missing.
    read_csv_kwargs : dict, default=None
        Keyword arguments of ``pandas.read_csv`` when ``df`` is a path.
    cache_dir : str or os.PathLike, default=None
        Folder of the on-disk cache; None (the default) caches nothing. See
        Notes.

    Attributes
    ----------
    df : pandas.DataFrame
        A copy of the table (the caller's is left unchanged) after filtering
        by ``is_valid_label``, one row per item in item order (index reset
        to ``0, 1, ...``), with the paths joined to ``rootdir``.
    imgs : list of str
        The image paths, joined to ``rootdir``.
    targets : list
        The labels before ``target_transform``: one value per item for a
        column name, a list per item for a list of columns, None per item
        without labels.

    Raises
    ------
    FileNotFoundError
        At construction, if files of the table do not exist (they are named).
    OSError
        At construction, if a NIfTI header cannot be read; when an item is
        read, if its file cannot be decoded (the file is named, the reading
        library's error is the ``__cause__``).
    TypeError
        At construction, if ``df`` is not a table, ``label_cols`` not a name
        or a list of names, ``target_transform`` not a callable or a dict,
        or a cell of the path column not a path (a missing value, for
        instance).
    ValueError
        At construction, if a column is missing, a file's checksum differs,
        or, with the default loader and no transform, two images have
        different shapes or affines (both files are named). When items are
        read, if the default loader does not know a file's extension, an
        item's shape differs from that of the first item read by this
        process (both files are named), or a file's checksum differs.

    Notes
    -----
    **What is cached.** The cache holds the output of ``image_loader``
    followed by the leading steps of ``transform`` whose ``is_random``
    attribute is false: a ``Compose`` is split into its steps, and a step
    without an ``is_random`` attribute counts as random (nothing says its
    output is the same every time). The steps from the first random one on
    run at every read, every epoch. The cached output must be a NumPy
    array, so the cache works with the default loader's arrays, not with
    ``as_image=True``.

    **When it is recomputed.** An entry is keyed by the absolute path of the
    file, its size and modification time (and its checksum when
    ``checksum_col`` is given), the loader (its qualified name, or its repr)
    and the repr of each cached transform. Editing a file or changing a
    transform's parameters gives a new key: the entry is computed again.
    Old entries are left in the folder; empty it to free the space. A
    transform or loader whose repr shows a memory address instead of its
    parameters is refused, since its changes could not be seen.

    **Layout.** One ``<key>.npy`` file per item, float32 for NIfTI images,
    uncompressed, read with ``numpy.load(..., mmap_mode="c")``: the data are
    shared with the operating system's file cache, and writes to an item
    change only the copy of the process that makes them. An entry is
    written to a temporary file (``.<key>.npy...tmp``) of the same folder
    and renamed, so an interrupted write leaves no partial entry and
    several DataLoader workers or processes can fill the cache at once.

    **Checks at construction.** Every image file must exist when the
    dataset is built: the missing ones are named at once, instead of one
    of them failing a training run hours in. This is a deliberate
    difference with upstream nidl, whose dataset opens nothing before an
    item is read (so a table of paths that do not exist yet, read by a
    loader of one's own, needs the files in place here). With the default
    loader, the NIfTI headers (and the shapes of ``.npy`` files) are read
    too, not their data: a NIfTI file that is not an image fails before
    training, and, without a transform, images of different shapes or
    affines are refused, naming two of them. A file whose data are damaged,
    or whose extension the default loader does not read, fails at its
    first read. With a transform, each process compares the shape of the
    items it produces with the first one it produced.

    **Differences with upstream nidl** besides the existence check: NIfTI
    volumes are float32 (upstream: float64), ``.npz`` archives are read
    into arrays (upstream: the open archive), checksums are computed on
    the paths joined to ``rootdir``, and ``target_transform`` of a wrong
    type fails at construction rather than at the first item.

    Examples
    --------
    >>> import os, tempfile
    >>> import nibabel
    >>> import numpy as np
    >>> import pandas as pd
    >>> from nidl.datasets.image_dataframe import ImageDataFrameDataset
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("sub-01.nii.gz", "sub-02.nii.gz", "sub-03.nii.gz"):
    ...     volume = np.random.default_rng(0).normal(size=(6, 7, 5))
    ...     nibabel.Nifti1Image(volume, np.eye(4)).to_filename(
    ...         os.path.join(folder, name))
    >>> table = pd.DataFrame({
    ...     "image_path": ["sub-01.nii.gz", "sub-02.nii.gz", "sub-03.nii.gz"],
    ...     "age": [31.0, 57.0, float("nan")],
    ...     "sex": [0, 1, 1],
    ... })
    >>> dataset = ImageDataFrameDataset(folder, table, label_cols="age")
    >>> image, age = dataset[0]
    >>> image.shape, image.dtype, age
    ((6, 7, 5), dtype('float32'), 31.0)

    Several labels, rows with a missing age left out, and a cache:

    >>> dataset = ImageDataFrameDataset(
    ...     folder, table, label_cols=["age", "sex"],
    ...     is_valid_label={"age": pd.notna},
    ...     cache_dir=os.path.join(folder, "cache"))
    >>> len(dataset), dataset.targets
    (2, [[31.0, 0], [57.0, 1]])
    >>> image, (age, sex) = dataset[1]
    >>> len(os.listdir(os.path.join(folder, "cache")))
    1
    """

    def __init__(
        self,
        rootdir,
        df,
        image_col="image_path",
        label_cols=None,
        checksum_col=None,
        transform=None,
        target_transform=None,
        return_none_if_no_label=True,
        image_loader=default_image_loader,
        is_valid_label=None,
        read_csv_kwargs=None,
        *,
        cache_dir=None,
    ):
        self.rootdir = rootdir
        self.image_col = image_col
        self.checksum_col = checksum_col
        self.transform = transform
        self.target_transform = target_transform
        self.return_none_if_no_label = return_none_if_no_label
        self.image_loader = image_loader
        self.is_valid_label = is_valid_label
        self.read_csv_kwargs = read_csv_kwargs
        self.cache_dir = cache_dir

        table = self._read_table(df)
        self.label_cols = label_cols
        # The label columns as a list; label_cols itself says whether labels
        # are values (a name) or lists (a list of names).
        self._label_names = self._check_columns(table, label_cols)
        self._check_target_transform()
        table = self._keep_valid_rows(table)
        table[image_col] = self._join_paths(table)
        self.df = table
        self.imgs = table[image_col].tolist()
        self.targets = self._labels(table)
        self._checksums = (
            None if checksum_col is None else table[checksum_col].astype(str).tolist()
        )
        self._check_files_exist()
        self._check_checksums()
        if image_loader is default_image_loader:
            self._check_headers()
        # The first item this process produced, against which the shape of
        # the others is checked.
        self._first_item = None

        self._cache = None
        self._uncached_steps = []
        if cache_dir is not None:
            cached_steps, self._uncached_steps = split_cacheable(transform)
            self._cache = VolumeCache(
                cache_dir, describe_loader(image_loader), cached_steps
            )
            # Keys use absolute paths, so that the cache can be shared by
            # datasets built from other working directories.
            self._absolute_paths = [os.path.abspath(path) for path in self.imgs]

    # -- construction ------------------------------------------------------

    def _read_table(self, df):
        pandas = import_optional("pandas", "ImageDataFrameDataset", "neuroimaging")
        if isinstance(df, (str, os.PathLike)):
            options = dict(self.read_csv_kwargs or {})
            if os.fspath(df).lower().endswith(".tsv"):
                options.setdefault("sep", "\t")
            df = pandas.read_csv(df, **options)
        elif isinstance(df, pandas.Series):
            df = df.to_frame(name=self.image_col)
        if not isinstance(df, pandas.DataFrame):
            raise TypeError(
                "df must be a pandas DataFrame, a Series of paths or the path of "
                f"a CSV or TSV file; got {type(df).__name__}."
            )
        if self.image_col not in df.columns:
            raise ValueError(
                f"image_col={self.image_col!r} is not a column of the table, whose "
                f"columns are {list(df.columns)}; set image_col to the column of "
                "image paths."
            )
        return df.copy()

    def _check_columns(self, table, label_cols):
        if label_cols is None:
            names = None
        elif isinstance(label_cols, str):
            names = [label_cols]
        elif isinstance(label_cols, list) and all(
            isinstance(name, str) for name in label_cols
        ):
            names = list(label_cols)
        else:
            raise TypeError(
                "label_cols must be None, a column name or a list of column "
                f"names; got {label_cols!r}."
            )
        wanted = {"label_cols": names or [], "checksum_col": [self.checksum_col]}
        for parameter, columns in wanted.items():
            missing = [c for c in columns if c is not None and c not in table]
            if missing:
                raise ValueError(
                    f"{parameter} names columns {missing} that the table does not "
                    f"have; its columns are {list(table.columns)}."
                )
        return names

    def _check_column_dict(self, mapping, parameter):
        unknown = sorted(set(mapping) - set(self._label_names or []))
        if unknown:
            raise ValueError(
                f"{parameter} has keys {unknown} that are not in "
                f"label_cols={self.label_cols!r}; its keys must be label columns."
            )

    def _check_target_transform(self):
        if isinstance(self.target_transform, dict):
            self._check_column_dict(self.target_transform, "target_transform")
        elif self.target_transform is not None and not callable(
            self.target_transform
        ):
            raise TypeError(
                "target_transform must be None, a callable or a dict of "
                f"callables by column; got {self.target_transform!r}."
            )

    def _keep_valid_rows(self, table):
        check = self.is_valid_label
        if check is None:
            return table
        if self.label_cols is None:
            raise ValueError(
                "is_valid_label filters rows by their labels, but label_cols is "
                "None; give label_cols."
            )
        keep = np.ones(len(table), dtype=bool)
        if isinstance(check, dict):
            self._check_column_dict(check, "is_valid_label")
            for column, accepts in check.items():
                keep &= np.array([bool(accepts(v)) for v in table[column]], bool)
        elif isinstance(self.label_cols, str):
            keep &= np.array([bool(check(v)) for v in table[self.label_cols]], bool)
        else:
            rows = table[self._label_names].iterrows()
            keep &= np.array([bool(check(row)) for _, row in rows], bool)
        if len(table) and not keep.any():
            raise ValueError(
                f"is_valid_label rejects all {len(table)} rows of the table, which "
                "leaves an empty dataset; check the function and the label "
                "columns."
            )
        return table[keep].reset_index(drop=True)

    def _join_paths(self, table):
        paths = []
        for index, path in table[self.image_col].items():
            if not isinstance(path, (str, os.PathLike)):
                raise TypeError(
                    f"row {index!r} of column {self.image_col!r} holds {path!r}, "
                    "not a path; fill in or drop that row."
                )
            paths.append(os.path.join(os.fspath(self.rootdir), os.fspath(path)))
        return paths

    def _labels(self, table):
        if self.label_cols is None:
            return [None] * len(table)
        if isinstance(self.label_cols, str):
            return table[self.label_cols].tolist()
        columns = [table[name].tolist() for name in self._label_names]
        return [list(row) for row in zip(*columns)]

    def _check_files_exist(self):
        missing = [path for path in self.imgs if not os.path.isfile(path)]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} of the {len(self.imgs)} image files do not "
                f"exist: {_format_paths(missing)}. The paths of the table are "
                f"joined to rootdir={os.fspath(self.rootdir)!r}; check both."
            )

    @classmethod
    def _checksum(cls, filename):
        """Return the SHA-256 checksum of a file's bytes, in hexadecimal."""
        return file_digest(filename, "sha256")

    @classmethod
    def _verify_checksum(cls, filename, expect_checksum):
        """Return whether ``filename`` has the SHA-256 checksum ``expect_checksum``."""
        return cls._checksum(filename) == expect_checksum

    def _check_checksum(self, index):
        path, expected = self.imgs[index], self._checksums[index]
        found = self._checksum(path)
        if found != expected:
            raise ValueError(
                f"the file {path} changed on disk: its SHA-256 checksum is "
                f"{found}, the table says {expected}. Restore the file or "
                f"update column {self.checksum_col!r}."
            )

    def _check_checksums(self):
        if self._checksums is not None:
            for index in range(len(self.imgs)):
                self._check_checksum(index)

    def _check_headers(self):
        """Read NIfTI headers (cheap: no data) and .npy shapes.

        A NIfTI or .npy file that is not an image fails here, naming it; a
        file whose extension the default loader does not know fails when it
        is read. Without a transform, all items must have one shape and
        NIfTI images one affine, since nothing will bring them to a common
        grid.
        """
        first_shape = first_affine = None
        for path in self.imgs:
            lower = path.lower()
            affine = None
            if lower.endswith(NIFTI_SUFFIXES):
                nibabel = import_optional(
                    "nibabel", "reading NIfTI images", "neuroimaging"
                )
                try:
                    image = nibabel.load(path)
                except Exception as error:
                    raise cannot_read(path, "NIfTI", error) from error
                shape = tuple(image.shape)
                affine = image.affine
            elif lower.endswith(".npy"):
                try:
                    shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
                except (OSError, ValueError, EOFError) as error:
                    raise cannot_read(path, "NumPy", error) from error
            else:
                continue
            if self.transform is not None:
                continue
            if first_shape is None:
                first_shape = (path, shape)
            elif shape != first_shape[1]:
                raise ValueError(
                    f"the images {first_shape[0]} and {path} have different "
                    f"shapes, {first_shape[1]} and {shape}, so they cannot be "
                    "batched; give a transform that brings every image to one "
                    "shape (for instance CropOrPad, Resize or Resample from "
                    "nidl.transforms)."
                )
            if affine is not None:
                if first_affine is None:
                    first_affine = (path, affine)
                elif not np.allclose(affine, first_affine[1]):
                    raise ValueError(
                        f"the images {first_affine[0]} and {path} have different "
                        f"affines,\n{first_affine[1]}\nand\n{affine},\nso their "
                        "voxels are not in the same place; resample them to one "
                        "grid (for instance with Resample from nidl.transforms, or "
                        "beforehand)."
                    )

    # -- items -------------------------------------------------------------

    def __len__(self):
        return len(self.imgs)

    def _read_file(self, index):
        path = self.imgs[index]
        if self._checksums is not None:
            self._check_checksum(index)
        try:
            return self.image_loader(path)
        except Exception as error:
            # A loader of the user's may not say which file it failed on.
            if path not in str(error):
                error.add_note(f"raised by image_loader while reading {path}")
            raise

    def _load_image(self, index):
        if self._cache is None:
            image = self._read_file(index)
            return image if self.transform is None else self.transform(image)
        checksum = None if self._checksums is None else self._checksums[index]
        image = self._cache.get(
            self._absolute_paths[index], lambda: self._read_file(index), checksum
        )
        for step in self._uncached_steps:
            image = step(image)
        return image

    def _check_item_shape(self, index, image):
        shape = getattr(image, "shape", None)
        if not isinstance(shape, tuple):
            return
        shape = tuple(shape)
        if self._first_item is None:
            self._first_item = (self.imgs[index], shape)
        elif shape != self._first_item[1]:
            first_path, first_shape = self._first_item
            raise ValueError(
                f"the items of {first_path} and {self.imgs[index]} have different "
                f"shapes, {first_shape} and {shape}, so they cannot be batched; "
                "give a transform that brings every image to one shape (for "
                "instance CropOrPad or Resize from nidl.transforms)."
            )

    def __getitem__(self, index):
        image = self._load_image(index)
        self._check_item_shape(index, image)
        if self.label_cols is None:
            return image if self.return_none_if_no_label else (image, None)
        return image, self._transform_label(self.targets[index])

    def _transform_label(self, label):
        transform = self.target_transform
        if transform is None:
            return label
        if not isinstance(transform, dict):
            return transform(label)
        if isinstance(self.label_cols, str):
            column = self.label_cols
            return transform[column](label) if column in transform else label
        return [
            transform[column](value) if column in transform else value
            for column, value in zip(self._label_names, label)
        ]
