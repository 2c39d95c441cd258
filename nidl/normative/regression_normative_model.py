"""Normative model of a regression of the features on the covariates."""

import numpy as np

from ._base import NormativeBase, check_fitted_estimator

__all__ = ["RegressionNormativeModel"]


class RegressionNormativeModel(NormativeBase):
    """Normative model of a fitted regression of the features on covariates.

    The classical normative model [1]_ [2]_: a regression fitted on
    healthy controls predicts each feature (voxel or region) from the
    covariates (age, sex, site, ...), and a subject's deviation is its
    residual, standardised against held-out calibration controls. Wrap any
    fitted scikit-learn regressor of the covariates with one output per
    feature: ``LinearRegression().fit(covariates, X)`` is one linear
    regression per voxel; fitted on region means, one per region. The
    z-scores, region z-scores, NIfTI maps and subject-level score are
    computed exactly as by :class:`NormativeModel`, so that the two
    compare like with like; there are no latents.

    Parameters
    ----------
    estimator : object
        A regressor with ``predict``, fitted on training controls with the
        covariates as input and their features as outputs.
    masker : object, default=None
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
        confined to one region).

    Attributes
    ----------
    n_features_in_ : int
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
        controls.

    See Also
    --------
    nidl.normative.NormativeModel : The same scores from an autoencoder.

    References
    ----------
    .. [1] A. F. Marquand, I. Rezek, J. Buitelaar and C. F. Beckmann,
       "Understanding Heterogeneity in Clinical Cohorts Using Normative
       Models: Beyond Case-Control Studies", Biological Psychiatry 80(7),
       2016.
    .. [2] S. M. Kia et al., "Hierarchical Bayesian Regression for
       Multi-site Normative Modeling of Neuroimaging Data", MICCAI 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from nidl.normative import RegressionNormativeModel
    >>> rng = np.random.default_rng(0)
    >>> age = rng.uniform(-1, 1, size=(200, 1))
    >>> X = 2 * age + rng.normal(scale=0.1, size=(200, 6))   # 6 features
    >>> regression = LinearRegression().fit(age[:100], X[:100])
    >>> model = RegressionNormativeModel(regression).fit(X[100:], covariates=age[100:])
    >>> older_looking = 2 * 0.5 + np.zeros((1, 6))           # as if 0.5, yet aged 0
    >>> bool(np.all(model.transform(older_looking, covariates=[[0.0]]) > 5))
    True
    """

    def _check_estimator(self, X, covariates):
        name = type(self.estimator).__name__
        if not callable(getattr(self.estimator, "predict", None)):
            raise TypeError(
                f"RegressionNormativeModel wraps a regressor, but {name} has no "
                "predict method; pass a fitted regressor such as "
                "LinearRegression().fit(covariates, X)."
            )
        check_fitted_estimator(self.estimator, "regressor")
        if covariates is None:
            raise ValueError(
                "RegressionNormativeModel predicts the features from the "
                "covariates; pass covariates=, the covariates the regressor was "
                "fitted on."
            )
        expected = getattr(self.estimator, "n_features_in_", None)
        if expected is not None and covariates.shape[1] != expected:
            raise ValueError(
                f"covariates has {covariates.shape[1]} columns but {name} was "
                f"fitted on {expected}; pass the covariates it was fitted on."
            )

    def _expected(self, X, covariates):
        expected = np.asarray(self.estimator.predict(covariates))
        if expected.size != X.size:
            raise ValueError(
                f"{type(self.estimator).__name__}.predict returns "
                f"{expected.size // len(X)} values per subject but X has "
                f"{X.size // len(X)} features; fit the regressor with the "
                "features of the training controls as outputs."
            )
        return expected, None
