"""Documentation shared by the normative models, written once."""

from .._docstrings import docstring_filler

#: Text filled into the normative models' docstrings by ``fill_normative_docs``.
NORMATIVE_DOCS = {
    "model_parameters": """masker : object, default=None
    The fitted masker that turned the images into the features (a
    ``nilearn.maskers.NiftiMasker`` or a
    :class:`~nidl.maskers.NiftiVolumeMasker`); needed by ``zscore_maps``
    and for ``regions`` given as an image.
regions : nibabel image or array-like, default=None
    A parcellation for ``region_zscores``: a label image on the masker's
    grid, or one integer label per feature (0 for a feature in no region).
    With regions, the subject-level score summarises the region z-scores.
summary : {"mean_squared", "max_abs"}, default="mean_squared"
    How ``deviation_scores`` summarises a subject's z-scores: their mean
    square (a deviation anywhere), or their largest magnitude (a deviation
    confined to one region).""",
    "attributes": """n_features_in_ : int
    Number of features of a subject.
sample_shape_ : tuple of int
    Shape of a subject's features.
n_covariates_ : int
    Number of covariates of the calibration (0 without covariates).
n_calibration_ : int
    Number of calibration controls.
residual_mean_, residual_scale_ : numpy.ndarray of shape ``sample_shape_``
    Mean and standard deviation of each feature's residual over the
    calibration controls.
region_labels_ : numpy.ndarray of int or None
    The labels of the regions, the columns of ``region_zscores``.
region_mean_, region_scale_ : numpy.ndarray of shape (n_regions,)
    Mean and standard deviation of each region's mean residual over the
    calibration controls (only with ``regions``).
score_mean_, score_scale_ : float
    Mean and standard deviation of the summary over the calibration
    controls.""",
    "subjects": """X : array-like, shape (n_samples, n_features) or (n_samples, ...)
    Features of the subjects, shaped like the calibration controls.
covariates : array-like of shape (n_samples, n_covariates), default=None
    Their covariates, if the model was calibrated with covariates.""",
    "pinaya_lawry_aguila": """.. [1] W. H. L. Pinaya et al., "Using deep autoencoders to identify
   abnormal brain structural patterns in neuropsychiatric disorders: A
   large-scale multi-sample study", Human Brain Mapping 40(3), 2019.
.. [2] A. Lawry Aguila, J. Chapman, M. Janahi and A. Altmann,
   "Conditional VAEs for Confound Removal and Normative Modelling of
   Neurodegenerative Diseases", MICCAI 2022.""",
}

#: Decorator filling the ``%(name)s`` lines of a normative model's docstrings.
fill_normative_docs = docstring_filler(NORMATIVE_DOCS)
