"""Maskers: NIfTI images to arrays and volumes, and back to images.

nilearn and nibabel, which read the images, are optional dependencies
(``pip install "nidl[neuroimaging]"``): the maskers import them when used.
"""

from .nifti_volume_masker import NiftiVolumeMasker

__all__ = ["NiftiVolumeMasker"]
