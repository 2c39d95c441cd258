"""Normative model of a regression of the features on the covariates."""

import numpy as np

from ._base import NormativeBase, check_fitted_estimator, estimator_name

__all__ = ["RegressionNormativeModel"]


class RegressionNormativeModel(NormativeBase):
    """Normative model of a regression of the features on covariates.

    The classical normative model [1]_ [2]_: a regression fitted on
    healthy training controls predicts each feature (voxel or region) from
    the covariates (age, sex, site, ...), and a subject's deviation is its
    residual, standardised and calibrated on held-out controls. Any
    scikit-learn regressor with one output per feature serves:
    ``LinearRegression()`` is one linear regression per voxel; on region
    means, one per region. The z-scores, region scores, maps, subject-level
    score and p-values are computed exactly as by :class:`NormativeModel`,
    so that the two compare like with like; there are no latents.

    Parameters
    ----------
    estimator : object
        A regressor with ``fit`` and ``predict``; a clone of it is fitted
        with the training controls' covariates as input and their features
        as outputs. To use a regressor fitted already, wrap it in
        :class:`sklearn.frozen.FrozenEstimator`: ``fit`` then calibrates it
        on all the controls it is given.
    calibration_size : float or int, default=0.2
        The share (float in (0, 1)) or number (int) of the controls of
        ``fit`` held out to calibrate the scores, when ``X_calibration`` is
        not given; the rest train the regressor.
    masker : object, default=None
        The fitted masker that turned the images into the features (a
        ``nilearn.maskers.NiftiMasker`` or a
        :class:`~nidl.maskers.NiftiVolumeMasker`); needed by
        ``deviation_maps`` and for ``regions`` given as an image.
    regions : nibabel image or array-like, default=None
        A parcellation for the region scores: a label image on the
        masker's grid, or one integer label per feature (0 for a feature in
        no region). With regions, the subject-level score summarises the
        region z-scores.
    summary : {"mean_squared", "max_abs"}, default="mean_squared"
        How the subject-level score summarises a subject's z-scores: their
        mean square (a deviation anywhere), or their largest magnitude (a
        deviation confined to one region).
    p_values : {"conformal", "parametric"}, default="conformal"
        How the p-values are computed. Conformal: ranks among the
        calibration controls, of the subject-level score (valid whatever
        its law, never below ``1 / (n_calibration + 1)``), and of each
        feature's or region's ``|z|`` among those of every feature (region)
        of every control. Parametric (approximate): the normal law of the
        standardised score, and Student's t law of a Gaussian residual for
        features and regions.
    random_state : int, RandomState instance or None, default=None
        Seed of the calibration split and of the cross-fitting folds.

    Attributes
    ----------
    estimator_ : object
        The fitted regressor: a fitted clone of ``estimator``, or
        ``estimator`` itself when it is frozen.
    n_features_in_ : int
        Number of features of a subject.
    sample_shape_ : tuple of int
        Shape of a subject's features.
    n_covariates_ : int
        Number of covariates.
    residual_mean_, residual_scale_ : numpy.ndarray of shape ``sample_shape_``
        Mean and standard deviation of each feature's residual over the
        calibration controls.
    regions_ : numpy.ndarray of int or None
        The region label of each feature (0 for none).
    region_labels_ : numpy.ndarray of int or None
        The labels of the regions, the columns of the region scores.
    region_mean_, region_scale_ : numpy.ndarray of shape (n_regions,) or None
        Mean and standard deviation of each region's mean residual over the
        calibration controls.
    calibration_ : sklearn.utils.Bunch
        What the calibration fixed: ``n_samples``, ``summary``,
        ``p_values``, the ``folds`` of the cross-conformal p-values (each
        with the norm fitted on the other folds and the scores of its own
        controls under it), and what standardises the subject-level score
        (``statistic_mean``, ``statistic_scale``).

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
    >>> model = RegressionNormativeModel(LinearRegression(), random_state=0)
    >>> model = model.fit(X, covariates=age)
    >>> older_looking = 2 * 0.5 + np.zeros((1, 6))           # as if 0.5, yet aged 0
    >>> bool(np.all(model.transform(older_looking, covariates=[[0.0]]) > 5))
    True
    """

    def _check_estimator(self, estimator, X, covariates, fitted):
        name = estimator_name(estimator)
        for method in ("predict",) + (() if fitted else ("fit",)):
            if not callable(getattr(estimator, method, None)):
                raise TypeError(
                    f"RegressionNormativeModel wraps a regressor, but {name} has "
                    f"no {method} method; pass a regressor such as "
                    "LinearRegression()."
                )
        if fitted:
            check_fitted_estimator(estimator, "regressor")
        if covariates is None:
            raise ValueError(
                "RegressionNormativeModel predicts the features from the "
                "covariates; pass covariates=, one row per subject."
            )
        expected = getattr(estimator, "n_features_in_", None) if fitted else None
        if expected is not None and covariates.shape[1] != expected:
            raise ValueError(
                f"covariates has {covariates.shape[1]} columns but {name} was "
                f"fitted on {expected}; pass the covariates it was fitted on."
            )

    def _fit_estimator(self, estimator, X, covariates):
        estimator.fit(covariates, X.reshape(len(X), -1))

    def _expected(self, estimator, X, covariates):
        expected = np.asarray(estimator.predict(covariates))
        if expected.size != X.size:
            raise ValueError(
                f"{estimator_name(estimator)}.predict returns "
                f"{expected.size // len(X)} values per subject but X has "
                f"{X.size // len(X)} features; fit the regressor with the "
                "features of the training controls as outputs."
            )
        return expected, None
