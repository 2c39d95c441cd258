"""Readers of image files (NIfTI, NumPy, Pillow formats), each naming the
file it could not read."""

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


def cannot_read(path, kind, error):
    return OSError(
        f"cannot read the {kind} file {path}: {type(error).__name__}: {error}. "
        "The file may be truncated or of another format; write it again or "
        "remove it from the table."
    )


def channels_first_shape(shape, path):
    """Shape of the array the loader makes of a NIfTI image of ``shape``."""
    if len(shape) in (2, 3):
        return (1, *shape)
    if len(shape) == 4:
        return (shape[3], *shape[:3])
    raise ValueError(
        f"the NIfTI image {path} has shape {tuple(shape)}; only 2-D, 3-D and "
        "4-D images can be read as arrays. Pass a loader of your own as "
        "image_loader."
    )


def load_nifti(path, as_image):
    nibabel = import_optional("nibabel", "reading NIfTI images", "neuroimaging")
    try:
        image = nibabel.load(path)
        if as_image:
            return image
        # The data are read here: a truncated file fails now, not at load.
        data = image.get_fdata(dtype=np.float32)
    except FileNotFoundError:
        raise
    except Exception as error:
        raise cannot_read(path, "NIfTI", error) from error
    channels_first_shape(data.shape, path)
    if data.ndim == 4:
        data = np.moveaxis(data, -1, 0)
    else:
        data = data[np.newaxis]
    # nibabel returns arrays in Fortran order. They stay so: a copy to C
    # order costs more than decoding gains from it, and what is batched or
    # cached (often a crop) is made contiguous where it is copied anyway
    # (see benchmarks/bench_nifti_cache.py).
    return data


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
            f"reading {path} needs Pillow, which is not installed; install it, "
            "or convert the images to .npy files."
        ) from error
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise
    except OSError as error:
        raise cannot_read(path, "image", error) from error
