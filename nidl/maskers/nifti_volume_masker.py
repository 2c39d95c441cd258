"""NIfTI images to volumes cropped to a mask, and back to images."""

import os
import zlib

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._optional import import_optional

__all__ = ["NiftiVolumeMasker"]

#: How a mask is computed from the images when none is given.
_MASK_STRATEGIES = ("background", "epi", "whole-brain-template")

#: What nibabel raises when the data of a file cannot be read (a truncated
#: ``.nii`` gives ValueError, a truncated ``.nii.gz`` EOFError, a corrupted
#: one zlib.error); re-raised with the file's name.
_READ_ERRORS = (OSError, EOFError, ValueError, zlib.error)


def _import_neuroimaging():
    """nibabel, nilearn.image and nilearn.masking: the masker's optional
    dependencies."""
    return tuple(
        import_optional(module, "NiftiVolumeMasker", "neuroimaging")
        for module in ("nibabel", "nilearn.image", "nilearn.masking")
    )


def _describe_grid(shape, affine):
    """One-line description of a grid, for error messages."""
    return f"shape {tuple(shape)} and affine {np.round(affine, 4).tolist()}"


def _iter_images(imgs, image):
    """Yield ``(name, image)`` for each element of a Niimg-like input.

    The images are loaded lazily: for a file only the header is read here.
    The name is what an error about the image shows: the file when there is
    one, the position in the input otherwise.
    """
    if isinstance(imgs, (str, os.PathLike)) or hasattr(imgs, "affine"):
        elements = [imgs]
    elif isinstance(imgs, (list, tuple)):
        if not imgs:
            raise ValueError("imgs is an empty list; pass at least one image.")
        elements = imgs
    else:
        raise TypeError(
            f"imgs is a {type(imgs).__name__}; pass a NIfTI file path, a "
            "nibabel image (3-D or 4-D) or a list of them."
        )
    for position, element in enumerate(elements):
        img = image.load_img(element)
        if img.ndim not in (3, 4):
            raise ValueError(
                f"{_name(element, img, position, len(elements))} has "
                f"{img.ndim} dimensions (shape {img.shape}); pass 3-D images "
                "or 4-D series of 3-D images."
            )
        yield _name(element, img, position, len(elements)), img


def _name(element, img, position, n_elements):
    """The file of an image when it has one, its position otherwise."""
    if isinstance(element, (str, os.PathLike)):
        return f"image '{os.fspath(element)}'"
    filename = img.get_filename() if hasattr(img, "get_filename") else None
    if filename:
        return f"image '{filename}'"
    return f"image {position} of imgs" if n_elements > 1 else "the image"


def _read(img, name, region=(slice(None),) * 3):
    """Data of ``img`` in ``region`` as float32 ``(n_volumes, X, Y, Z)``.

    Slicing the data object reads only the region from an uncompressed file.
    """
    try:
        # A copy, so that the caller may change it without changing the image.
        data = np.array(img.dataobj[region], dtype=np.float32)
    except _READ_ERRORS as error:
        raise ValueError(
            f"could not read the data of {name}: {error}. Check that the file "
            "is a complete NIfTI file."
        ) from error
    if data.ndim == 3:
        return data[np.newaxis]
    return np.moveaxis(data, -1, 0)


class NiftiVolumeMasker(TransformerMixin, BaseEstimator):
    """Turn NIfTI images into volumes cropped to a mask, and volumes into images.

    The volume counterpart of nilearn's ``NiftiMasker``: where that masker
    flattens the voxels in a mask into a vector per image (for linear models),
    this one keeps their 3-D arrangement, as convolutional networks need it.
    ``transform`` crops each image to the bounding box of the mask, sets the
    voxels outside the mask to 0 and returns float32 arrays of shape
    ``(n_images, 1, X, Y, Z)``, the input of a
    :class:`~nidl.estimators.autoencoders.VAE` built on a
    :class:`~nidl.nn.ConvEncoder` with ``in_channels=1``.
    ``inverse_transform`` puts volumes (reconstructions, samples of the
    prior, latent traversals) back on the original grid as a 4-D NIfTI image.

    The box is not rounded or padded: :class:`~nidl.nn.ConvEncoder` and
    :class:`~nidl.nn.ConvDecoder` take any size, odd sizes included. Build
    them with ``box_shape_``, which ``fit`` sets; with a ``mask_img``, ``fit``
    needs no images, so the box is known before any image is read (see the
    examples).

    All images must be on the grid (shape and affine) of the mask. An image on
    another grid is an error, since resampling changes the data; resample the
    images beforehand, or set ``resample=True``.

    Parameters
    ----------
    mask_img : str, path-like, nibabel image or None, default=None
        A binary 3-D mask. None computes one from the images given to ``fit``
        with ``mask_strategy``.
    mask_strategy : {"background", "epi", "whole-brain-template"}, \
default="background"
        How to compute the mask when ``mask_img`` is None, from the mean of
        the images, with nilearn's functions: ``"background"``
        (``nilearn.masking.compute_background_mask``, the default as in
        nilearn's ``NiftiMasker``) keeps the voxels that differ from the
        value at the image's border, which suits skull-stripped images on a
        background of 0 or NaN but keeps the whole volume when the background
        is noisy; ``"epi"`` (``compute_epi_mask``) thresholds the intensity
        histogram; ``"whole-brain-template"``
        (``compute_brain_mask``) is the MNI152 brain mask resampled to the
        images' grid, for images registered to MNI space.
    resample : bool, default=False
        If True, images on another grid than the mask are resampled to it
        (continuous interpolation, ``nilearn.image.resample_to_img``). If
        False, such images raise a ValueError.

    Attributes
    ----------
    mask_img_ : nibabel.Nifti1Image
        The mask, given or computed, as a 3-D uint8 image of 0 and 1.
    affine_ : numpy.ndarray, shape (4, 4)
        Affine of the grid of the mask and the images.
    grid_shape_ : tuple of int
        Shape ``(I, J, K)`` of that grid.
    bounding_box_ : tuple of slice
        The three slices of the grid that hold the mask: the crop of an image
        is ``data[bounding_box_]``.
    box_shape_ : tuple of int
        Shape ``(X, Y, Z)`` of the bounding box, the spatial shape of the
        volumes that ``transform`` returns.

    See Also
    --------
    nidl.nn.ConvEncoder : An encoder of volumes of shape ``box_shape_``.
    nidl.nn.ConvDecoder : Its decoder, whose output goes to
        ``inverse_transform``.

    Examples
    --------
    >>> from nilearn.datasets import load_mni152_brain_mask
    >>> from nidl.datasets import make_brain_cohort
    >>> from nidl.maskers import NiftiVolumeMasker
    >>> images, _ = make_brain_cohort(3, resolution=4, random_state=0)
    >>> masker = NiftiVolumeMasker(load_mni152_brain_mask(resolution=4)).fit()
    >>> masker.box_shape_
    (36, 45, 39)
    >>> volumes = masker.transform(images)
    >>> volumes.shape, volumes.dtype
    ((3, 1, 36, 45, 39), dtype('float32'))
    >>> masker.inverse_transform(volumes).shape
    (50, 59, 48, 3)

    In a pipeline with a convolutional VAE, whose networks are built for the
    box: images in, latents out, and decoded latents back to images.

    >>> from sklearn.pipeline import make_pipeline
    >>> from nidl.estimators.autoencoders import VAE
    >>> from nidl.nn import ConvDecoder, ConvEncoder
    >>> box_shape = masker.box_shape_
    >>> vae = VAE(ConvEncoder(box_shape, in_channels=1, widths=4, depth=2,
    ...                       out_features=16),
    ...           ConvDecoder(2, box_shape, out_channels=1, widths=4, depth=2),
    ...           encoder_out_dim=16, latent_dim=2, max_epochs=1, batch_size=3,
    ...           enable_progress_bar=False, random_state=0)
    >>> pipe = make_pipeline(masker, vae).fit(images)
    >>> latents = pipe.transform(images)
    >>> latents.shape
    (3, 2)
    >>> pipe.inverse_transform(latents).shape
    (50, 59, 48, 3)
    """

    def __init__(self, mask_img=None, mask_strategy="background", resample=False):
        self.mask_img = mask_img
        self.mask_strategy = mask_strategy
        self.resample = resample

    def fit(self, imgs=None, y=None):
        """Learn the mask, its grid and its bounding box.

        Parameters
        ----------
        imgs : str, path-like, nibabel image, or list of them, default=None
            3-D images or 4-D series of them. With a ``mask_img``, only their
            grids are checked (from the headers) and they may be omitted;
            without one, the mask is computed from their mean.
        y : None
            Ignored; accepted for pipelines.

        Returns
        -------
        self : NiftiVolumeMasker
            The fitted masker.
        """
        nibabel, image, masking = _import_neuroimaging()
        if self.mask_strategy not in _MASK_STRATEGIES:
            raise ValueError(
                f"mask_strategy={self.mask_strategy!r} is not supported; use "
                f"one of {', '.join(repr(s) for s in _MASK_STRATEGIES)}."
            )
        if self.mask_img is not None:
            mask, affine = masking.load_mask_img(self.mask_img)
            grid_name = "the mask"
            if isinstance(self.mask_img, (str, os.PathLike)):
                grid_name = f"the mask '{os.fspath(self.mask_img)}'"
            if imgs is not None:
                for name, img in _iter_images(imgs, image):
                    self._on_grid(img, name, mask.shape, affine, grid_name, image)
        else:
            if imgs is None:
                raise ValueError(
                    "mask_img=None, so fit computes the mask from images, but "
                    "imgs is None; pass the images, or a mask_img."
                )
            mask, affine, grid_name = self._compute_mask(imgs, nibabel, image, masking)

        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            raise ValueError(
                f"the mask (mask_strategy={self.mask_strategy!r}) holds no "
                "voxel; pass a mask_img, or another mask_strategy."
            )
        voxels = np.argwhere(mask)
        starts, stops = voxels.min(axis=0), voxels.max(axis=0) + 1
        self.mask_img_ = nibabel.Nifti1Image(mask.astype(np.uint8), affine)
        self.affine_ = np.asarray(affine, dtype=float)
        self.grid_shape_ = tuple(int(size) for size in mask.shape)
        self.bounding_box_ = tuple(
            slice(int(start), int(stop)) for start, stop in zip(starts, stops)
        )
        self.box_shape_ = tuple(int(stop - start) for start, stop in zip(starts, stops))
        self._box_mask = mask[self.bounding_box_]
        self._grid_name = grid_name
        return self

    def _compute_mask(self, imgs, nibabel, image, masking):
        """Mask of the mean image with ``mask_strategy``.

        One image is in memory at a time.
        """
        total, count = 0.0, 0
        for position, (name, img) in enumerate(_iter_images(imgs, image)):
            if position == 0:  # the first image sets the grid
                grid_shape, affine, grid_name = img.shape[:3], img.affine, name
            img = self._on_grid(img, name, grid_shape, affine, grid_name, image)
            volumes = _read(img, name)
            total = total + volumes.sum(axis=0)
            count += len(volumes)
        mean_img = nibabel.Nifti1Image(total / count, affine)
        if self.mask_strategy == "background":
            mask_img = masking.compute_background_mask(mean_img)
        elif self.mask_strategy == "epi":
            mask_img = masking.compute_epi_mask(mean_img)
        else:
            mask_img = masking.compute_brain_mask(mean_img, mask_type="whole-brain")
        return np.asanyarray(mask_img.dataobj) > 0, affine, f"the grid of {grid_name}"

    def _on_grid(self, img, name, grid_shape, affine, grid_name, image):
        """``img`` on the reference grid: as is, resampled, or an error."""
        if img.shape[:3] == tuple(grid_shape) and np.allclose(img.affine, affine):
            return img
        if not self.resample:
            raise ValueError(
                f"{name} is on another grid than {grid_name}: "
                f"{_describe_grid(img.shape[:3], img.affine)}, against "
                f"{_describe_grid(grid_shape, affine)}. Resample the images to "
                "the mask's grid first (nilearn.image.resample_to_img), or set "
                "resample=True."
            )
        target = image.new_img_like(img, np.zeros(grid_shape, np.uint8), affine)
        return image.resample_to_img(
            img,
            target,
            interpolation="continuous",
            force_resample=True,
            copy_header=True,
        )

    def transform(self, imgs):
        """Crop images to the mask's bounding box, zero outside the mask.

        Parameters
        ----------
        imgs : str, path-like, nibabel image, or list of them
            3-D images or 4-D series of them, on the grid of the mask.

        Returns
        -------
        volumes : numpy.ndarray of float32, shape (n_volumes, 1, X, Y, Z)
            One volume per 3-D image, in input order (a 4-D image gives its
            volumes in order); ``(X, Y, Z)`` is ``box_shape_``.
        """
        check_is_fitted(self)
        _, image, _ = _import_neuroimaging()
        # Headers first: the grids are checked and the output allocated
        # before any data is read.
        images = []
        for name, img in _iter_images(imgs, image):
            grid = (self.grid_shape_, self.affine_, self._grid_name)
            images.append((name, self._on_grid(img, name, *grid, image)))
        n_volumes = sum(1 if img.ndim == 3 else img.shape[3] for _, img in images)
        volumes = np.empty((n_volumes, 1, *self.box_shape_), dtype=np.float32)
        start = 0
        for name, img in images:
            region = self.bounding_box_ + (slice(None),) * (img.ndim - 3)
            data = _read(img, name, region)
            # Assigning rather than multiplying: NaN outside the mask is set too.
            data[:, ~self._box_mask] = 0
            if not np.isfinite(data).all():
                raise ValueError(
                    f"{name} has NaN or infinite values inside the mask; "
                    "replace them (e.g. with nilearn.image.math_img) or "
                    "exclude those voxels from the mask."
                )
            volumes[start : start + len(data), 0] = data
            start += len(data)
        return volumes

    def inverse_transform(self, volumes):
        """Put volumes back on the original grid, as a 4-D NIfTI image.

        Parameters
        ----------
        volumes : array-like or torch.Tensor, shape (n, 1, X, Y, Z) or (n, X, Y, Z)
            Volumes of shape ``box_shape_``: from ``transform``, or decoded by
            a model trained on them.

        Returns
        -------
        img : nibabel.Nifti1Image, shape (I, J, K, n)
            The volumes on the grid ``grid_shape_`` with affine ``affine_``,
            0 outside the bounding box and outside the mask.
        """
        check_is_fitted(self)
        nibabel, _, _ = _import_neuroimaging()
        if hasattr(volumes, "detach"):  # a torch tensor, on any device
            volumes = volumes.detach().cpu().numpy()
        volumes = np.asarray(volumes, dtype=np.float32)
        if volumes.ndim == 5 and volumes.shape[1:] == (1, *self.box_shape_):
            volumes = volumes[:, 0]
        elif volumes.ndim != 4 or volumes.shape[1:] != self.box_shape_:
            raise ValueError(
                f"volumes has shape {volumes.shape}, but this masker expects "
                f"(n, 1, {', '.join(map(str, self.box_shape_))}) or "
                f"(n, {', '.join(map(str, self.box_shape_))}), the shape of "
                "the mask's bounding box (box_shape_); pass volumes from "
                "transform or decoded by a model trained on them."
            )
        data = np.zeros((*self.grid_shape_, len(volumes)), dtype=np.float32)
        volumes = np.where(self._box_mask, volumes, np.float32(0))
        data[self.bounding_box_] = np.moveaxis(volumes, 0, -1)
        return nibabel.Nifti1Image(data, self.affine_)
