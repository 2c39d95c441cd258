"""An on-disk cache of loaded and preprocessed volumes, read by memory mapping.

The cache holds, for each image file, the output of the image loader followed
by the leading deterministic transforms (the idea of a persistent dataset:
decode and preprocess once, then read the result at the cost of a memory
copy). Each entry is one ``.npy`` file named after a hash of what produced
it, so that a change of the file or of its preprocessing gives a new name and
the old entry is never read again.
"""

import hashlib
import inspect
import json
import os
import sys
import tempfile
import warnings
from functools import partial

import numpy as np

__all__ = ["VolumeCache", "describe_loader", "split_cacheable"]

#: Part of every key: raise it when the layout or meaning of entries changes,
#: or when what nidl's default image loader returns changes.
CACHE_FORMAT_VERSION = 1

#: Classes whose instances apply their ``transforms`` list in order, found
#: by (module, class name) so that nothing is imported to recognise them.
_SEQUENTIAL_COMPOSES = (
    ("nidl.transforms", "Compose"),
    ("torchvision.transforms", "Compose"),
)


def _is_sequential_compose(transform):
    for module_name, class_name in _SEQUENTIAL_COMPOSES:
        # A Compose of a library can only exist if that library is imported.
        module = sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module is not None else None
        if cls is not None and isinstance(transform, cls):
            return True
    return False


def _flatten(transform):
    if _is_sequential_compose(transform):
        steps = []
        for child in transform.transforms:
            steps.extend(_flatten(child))
        return steps
    return [transform]


def split_cacheable(transform):
    """Split a transform into the steps the cache may hold and the rest.

    A sequential ``Compose`` (``nidl.transforms.Compose`` or
    ``torchvision.transforms.Compose``) is unrolled into its steps, nested
    ones included. The cacheable steps are the leading steps whose
    ``is_random`` attribute is false; a step without ``is_random`` is taken as
    random, since nothing says its output is the same at every call.

    Parameters
    ----------
    transform : callable or None
        The transform of a dataset.

    Returns
    -------
    cached : list of callable
        Leading deterministic steps, to apply before writing to the cache.
    remaining : list of callable
        The steps from the first random one on, to apply at every read.
    """
    if transform is None:
        return [], []
    steps = _flatten(transform)
    n_cached = 0
    for step in steps:
        if getattr(step, "is_random", True):
            break
        n_cached += 1
    return steps[:n_cached], steps[n_cached:]


def _stable_repr(obj, role):
    text = repr(obj)
    # The default repr holds a memory address, which differs between
    # processes and runs: every read would miss and write a new entry.
    if " at 0x" in text:
        raise ValueError(
            f"the cache cannot key the {role} {text}: its repr holds a memory "
            "address instead of its parameters, so a change of its parameters "
            "would go unnoticed and every process would compute its own "
            "entries. Give it a __repr__ that lists its parameters, or do not "
            "use cache_dir."
        )
    return text


def describe_loader(loader):
    """Text that identifies an image loader in cache keys.

    A function is named by its module and qualified name, a
    ``functools.partial`` by its function and arguments, anything else by its
    repr (which must list its parameters rather than a memory address).
    Changes to the body of a function are not seen: rename it or empty the
    cache folder after editing it.

    Parameters
    ----------
    loader : callable
        The image loader.

    Returns
    -------
    description : str
    """
    if isinstance(loader, partial):
        arguments = [repr(value) for value in loader.args]
        arguments += [f"{k}={v!r}" for k, v in sorted(loader.keywords.items())]
        return f"{describe_loader(loader.func)}({', '.join(arguments)})"
    if inspect.ismethod(loader):
        owner = _stable_repr(loader.__self__, "image loader")
        return f"{owner}.{loader.__name__}"
    qualname = getattr(loader, "__qualname__", None)
    # Lambdas and local functions share names: only their repr tells them
    # apart, and it holds an address, which _stable_repr refuses.
    if qualname is not None and "<" not in qualname:
        return f"{loader.__module__}.{qualname}"
    return _stable_repr(loader, "image loader")


class VolumeCache:
    """A folder of ``.npy`` files, one per cached item, read by memory mapping.

    Parameters
    ----------
    directory : str or os.PathLike
        The folder, created if needed. Several datasets, processes and
        DataLoader workers may share it.
    loader_description : str
        Identifies the image loader (see :func:`describe_loader`).
    cached_steps : list of callable
        The transforms applied after the loader, before writing.

    Notes
    -----
    An entry's name is the SHA-256 of: the format version, the absolute path
    of the image file, its size and modification time in nanoseconds, its
    expected checksum when the dataset has one, the loader's description and
    the repr of each cached step. Entries that no longer match (the file or
    the preprocessing changed) stay in the folder, unused, until it is
    emptied.

    An entry is written to a temporary file of the same folder (a name that
    starts with a dot and ends with ``.tmp``), then renamed over its final
    name: an interrupted write never leaves a partial entry, and two
    processes that write the same entry both leave a complete one.
    """

    def __init__(self, directory, loader_description, cached_steps):
        self.directory = os.path.abspath(os.fspath(directory))
        self.loader_description = loader_description
        self.cached_steps = list(cached_steps)
        self._steps_description = [
            _stable_repr(step, "transform") for step in self.cached_steps
        ]
        os.makedirs(self.directory, exist_ok=True)

    def entry_path(self, path, checksum=None):
        """The path of the entry for an image file as it is now on disk.

        Parameters
        ----------
        path : str
            Absolute path of the image file.
        checksum : str, optional
            Its expected checksum.

        Returns
        -------
        entry : str
        """
        status = os.stat(path)
        key = {
            "version": CACHE_FORMAT_VERSION,
            "file": path,
            "size": status.st_size,
            "mtime_ns": status.st_mtime_ns,
            "checksum": checksum,
            "loader": self.loader_description,
            "transforms": self._steps_description,
        }
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
        return os.path.join(self.directory, digest[:40] + ".npy")

    def read(self, entry):
        """Map an entry in memory, or return None if it is not there.

        The array is mapped copy-on-write: it is writable, and writes change
        only this process's copy, never the file.
        """
        try:
            mapped = np.load(entry, mmap_mode="c", allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError) as error:
            # A damaged entry (a disk that filled up, a crash of the machine
            # before the data reached the disk) is computed again.
            warnings.warn(
                f"the cache entry {entry} cannot be read ({error}); it is "
                "computed again.",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        return mapped.view(np.ndarray)

    def compute(self, path, load):
        """Load an image and apply the cached steps.

        Parameters
        ----------
        path : str
            The image file (named in errors).
        load : callable
            ``load()`` returns the loaded image.

        Returns
        -------
        array : numpy.ndarray
        """
        value = load()
        for step in self.cached_steps:
            value = step(value)
        if not isinstance(value, np.ndarray):
            produced_by = (
                f"the transform {self.cached_steps[-1]!r}"
                if self.cached_steps
                else f"the image loader {self.loader_description}"
            )
            raise TypeError(
                f"the cache holds NumPy arrays, but {produced_by} returned "
                f"{type(value).__name__} for {path}. Make the cached steps "
                "return NumPy arrays (the conversion to other types can come "
                "after the first random transform), or do not use cache_dir."
            )
        return value

    def write(self, entry, array):
        """Write an array to an entry, atomically."""
        descriptor, temporary = tempfile.mkstemp(
            dir=self.directory, prefix="." + os.path.basename(entry), suffix=".tmp"
        )
        try:
            with os.fdopen(descriptor, "wb") as file:
                # Plain float32 (or the array's own dtype), no compression:
                # writing costs about a copy, reading is a memory map.
                np.save(file, np.ascontiguousarray(array), allow_pickle=False)
            os.replace(temporary, entry)
        except BaseException:
            try:
                os.remove(temporary)
            except FileNotFoundError:
                pass
            raise

    def get(self, path, load, checksum=None):
        """The cached array for an image file, computed and written if needed.

        Parameters
        ----------
        path : str
            Absolute path of the image file.
        load : callable
            ``load()`` reads the image file (called on a miss only).
        checksum : str, optional
            Its expected checksum (part of the key).

        Returns
        -------
        array : numpy.ndarray
            Memory-mapped on a hit; the computed array on a miss.
        """
        entry = self.entry_path(path, checksum)
        array = self.read(entry)
        if array is None:
            array = self.compute(path, load)
            self.write(entry, array)
        return array

    def __repr__(self):
        return f"{type(self).__name__}({self.directory!r})"
