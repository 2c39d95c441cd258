"""Readers of image files (NIfTI, NumPy, Pillow formats), each naming the
file it could not read, and the checksum of a file's bytes."""

import hashlib

import numpy as np

from .._optional import import_optional

NIFTI_SUFFIXES = (".nii", ".nii.gz")
PIL_SUFFIXES = (
    ".jpg",
    ".jpeg",
    ".png",
    ".ppm",
    ".bmp",
    ".pgm",
    ".tif",
    ".tiff",
    ".webp",
)
SUPPORTED_SUFFIXES = ", ".join((*NIFTI_SUFFIXES, ".npy", ".npz", *PIL_SUFFIXES))


def file_digest(path, algorithm):
    """The hexadecimal ``algorithm`` digest (e.g. "sha256") of a file's bytes,
    read by blocks of 1 MiB so that large images need little memory."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cannot_read(path, kind, error):
    return OSError(
        f"cannot read the {kind} file {path}: {type(error).__name__}: {error}. "
        "The file may be truncated or of another format; write it again or "
        "remove it from the table."
    )


def load_nifti(path, as_image):
    nibabel = import_optional("nibabel", "reading NIfTI images", "neuroimaging")
    try:
        image = nibabel.load(path)
        if as_image:
            return image
        # The data are read here: a truncated file fails now, not at load.
        # float32 is what models take, at half the memory of float64.
        return image.get_fdata(dtype=np.float32)
    except FileNotFoundError:
        raise
    except Exception as error:
        raise cannot_read(path, "NIfTI", error) from error


def load_numpy(path):
    try:
        if path.lower().endswith(".npy"):
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as archive:
            names = archive.files
            if len(names) == 1:
                return archive[names[0]]
            return {name: archive[name] for name in names}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError) as error:
        raise cannot_read(path, "NumPy", error) from error


def load_pil(path):
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(
            f"reading {path} needs Pillow, which is not installed; install it "
            'with pip install "nidl[neuroimaging]", or convert the images to '
            ".npy files."
        ) from error
    try:
        # Pillow closes the file once convert has read a single-frame image.
        return Image.open(path).convert("RGB")
    except FileNotFoundError:
        raise
    except OSError as error:
        raise cannot_read(path, "image", error) from error
