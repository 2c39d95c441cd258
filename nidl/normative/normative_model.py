"""Normative model on a fitted autoencoder: latent and reconstruction deviations."""

import inspect
import numbers

import numpy as np
from sklearn.covariance import MinCovDet
from sklearn.utils import check_scalar

from ._base import NormativeBase, check_fitted_estimator

__all__ = ["NormativeModel"]


def _takes_covariates(method):
    """Whether ``method`` accepts a ``covariates`` keyword argument."""
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    return "covariates" in parameters or any(
        p.kind is p.VAR_KEYWORD for p in parameters.values()
    )


class NormativeModel(NormativeBase):
    """Normative model of a fitted autoencoder: how far new subjects deviate.

    Wraps an estimator already fitted on healthy controls that encodes
    (``transform``) and decodes (``inverse_transform``): a VAE of
    :mod:`nidl.estimators.autoencoders`, a conditional VAE given
    ``covariates``, or a fitted :class:`sklearn.decomposition.PCA`. ``fit``
    calibrates on held-out controls what a normal deviation is; new
    subjects then get, as in the VAE normative models of [1]_, [2]_ and
    [3]_:

    - a **latent deviation** (:meth:`latent_deviation`): the robust
      Mahalanobis distance of the subject's latent means from the
      calibration controls' latents (minimum covariance determinant,
      :class:`sklearn.covariance.MinCovDet`) with its chi-square p-value;
    - **feature deviations** (:meth:`transform`): z-scores of the
      reconstruction residual of every feature (voxel) against the
      calibration controls, as NIfTI maps (:meth:`zscore_maps`) through
      the ``masker`` and per region of a parcellation
      (:meth:`region_zscores`);
    - a **subject-level score** (:meth:`deviation_scores`).

    The latents must be the posterior means, not samples, so that a
    subject's scores do not change from one call to the next: a nidl VAE
    must have ``stochastic_transform=False`` (set it on the fitted
    estimator with ``set_params(stochastic_transform=False)``, which keeps
    its weights). The reconstruction is the decoder's mean at the latent
    means.

    Parameters
    ----------
    estimator : object
        A fitted estimator with ``transform`` and ``inverse_transform``;
        with covariates, both take a ``covariates`` keyword argument.
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
    support_fraction : float or None, default=0.75
        Fraction of the calibration controls in the support of the robust
        covariance (:class:`~sklearn.covariance.MinCovDet`): the covariance
        resists up to ``1 - support_fraction`` of outlying controls. The
        calibration controls are healthy, so most of them belong in the
        support; the smallest support, ``(n_samples + n_latents + 1) / 2``
        (None), estimates the covariance from the densest half of the
        controls only, which shrinks it and gives new controls p-values
        far below their nominal level when the calibration is small (see
        the user guide on normative modelling).
    random_state : int, RandomState instance or None, default=None
        Seed of the robust covariance estimate.

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
    n_latents_ : int
        Number of latent dimensions of the estimator.
    latent_covariance_ : sklearn.covariance.MinCovDet
        The robust location and covariance of the calibration controls'
        latents.

    See Also
    --------
    nidl.normative.RegressionNormativeModel : The same scores from a
        regression of the features on the covariates.
    nidl.datasets.make_brain_cohort_with_atrophy : Controls and patients with
        known atrophy, to measure a normative model.

    References
    ----------
    .. [1] W. H. L. Pinaya et al., "Using deep autoencoders to identify
       abnormal brain structural patterns in neuropsychiatric disorders: A
       large-scale multi-sample study", Human Brain Mapping 40(3), 2019.
    .. [2] A. Lawry Aguila, J. Chapman, M. Janahi and A. Altmann,
       "Conditional VAEs for Confound Removal and Normative Modelling of
       Neurodegenerative Diseases", MICCAI 2022.
    .. [3] A. Lawry Aguila, J. Chapman and A. Altmann, "Multi-modal
       Variational Autoencoders for Normative Modelling Across Multiple
       Imaging Modalities", MICCAI 2023.

    Examples
    --------
    A PCA of 100 controls, calibrated on 100 others, finds the one feature
    in which a patient departs from the norm:

    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from nidl.normative import NormativeModel
    >>> rng = np.random.default_rng(0)
    >>> controls = rng.normal(size=(200, 10))
    >>> pca = PCA(n_components=3).fit(controls[:100])
    >>> model = NormativeModel(pca, random_state=0).fit(controls[100:])
    >>> patient = rng.normal(size=(1, 10))
    >>> patient[0, 4] -= 8                       # one feature far below the norm
    >>> z = model.transform(patient)
    >>> int(np.argmin(z)), bool(z[0, 4] < -4)
    (4, True)
    >>> bool(model.deviation_scores(patient)[0] > 3)
    True

    Subjects whose latents lie far from those of the controls get small
    p-values:

    >>> distance, p_value = model.latent_deviation(controls[:3] + 10)
    >>> bool(np.all(p_value < 0.01))
    True
    """

    def __init__(
        self, estimator, masker=None, regions=None, summary="mean_squared",
        support_fraction=0.75, random_state=None,
    ):
        super().__init__(estimator, masker=masker, regions=regions, summary=summary)
        self.support_fraction = support_fraction
        self.random_state = random_state

    def _check_params(self):
        super()._check_params()
        if self.support_fraction is not None:
            check_scalar(self.support_fraction, "support_fraction", numbers.Real,
                         min_val=0, max_val=1, include_boundaries="right")

    def _check_estimator(self, X, covariates):
        estimator = self.estimator
        name = type(estimator).__name__
        for method in ("transform", "inverse_transform"):
            if not callable(getattr(estimator, method, None)):
                raise TypeError(
                    f"NormativeModel wraps an estimator that encodes and decodes, "
                    f"but {name} has no {method} method; pass a fitted VAE, "
                    "ConditionalVAE or PCA."
                )
        check_fitted_estimator(estimator, "estimator")
        # Attributes rather than get_params: a FrozenEstimator passes them on.
        if getattr(estimator, "stochastic_transform", False):
            raise ValueError(
                f"{name} has stochastic_transform=True, so its transform draws "
                "latent samples; a normative model needs the posterior means. Call "
                "estimator.set_params(stochastic_transform=False), which keeps the "
                "fitted weights."
            )
        takes = all(
            _takes_covariates(getattr(estimator, m))
            for m in ("transform", "inverse_transform")
        )
        expected = getattr(estimator, "n_covariates", None)
        if covariates is not None and not takes:
            raise ValueError(
                f"covariates were given, but {name}.transform and inverse_transform "
                "take no covariates; leave covariates=None, or wrap a model of the "
                "covariates (a ConditionalVAE)."
            )
        if expected and covariates is None:
            raise ValueError(
                f"{name} was built with n_covariates={expected}; pass the "
                f"covariates (an array of {expected} columns) with covariates=."
            )
        if expected is not None and covariates is not None and (
            covariates.shape[1] != expected
        ):
            raise ValueError(
                f"covariates has {covariates.shape[1]} columns but {name} was built "
                f"with n_covariates={expected}; pass the {expected} covariates it "
                "was trained with."
            )
        shape = getattr(estimator, "sample_shape_", None)
        if shape is None and hasattr(estimator, "n_features_in_") and X.ndim == 2:
            shape = (estimator.n_features_in_,)
        if shape is not None and tuple(shape) != X.shape[1:]:
            raise ValueError(
                f"X has subjects of shape {X.shape[1:]} but {name} was fitted on "
                f"samples of shape {tuple(shape)}: the subjects are on another grid "
                "or mask than the training controls; mask them with the masker of "
                "the training controls."
            )

    def _covariate_kwargs(self, covariates):
        return {} if covariates is None else {"covariates": covariates}

    def _n_latents(self, X, covariates):
        try:
            return len(self.estimator.get_feature_names_out())
        except (AttributeError, ValueError, TypeError):
            # An estimator that does not name its outputs: encode one subject.
            kwargs = self._covariate_kwargs(
                None if covariates is None else covariates[:1]
            )
            return np.asarray(self.estimator.transform(X[:1], **kwargs)).shape[1]

    def _min_calibration(self, X, covariates):
        n_latents = self._n_latents(X, covariates)
        return 2 * (n_latents + 1), (
            f"(2 * (n_latents + 1) for its {n_latents} latent dimensions) to "
            "estimate the robust covariance of the latents"
        )

    def _expected(self, X, covariates):
        kwargs = self._covariate_kwargs(covariates)
        latents = np.asarray(self.estimator.transform(X, **kwargs))
        expected = np.asarray(self.estimator.inverse_transform(latents, **kwargs))
        if expected.size != X.size:
            raise ValueError(
                f"{type(self.estimator).__name__}.inverse_transform returns "
                f"{expected.size // len(X)} values per subject but X has "
                f"{X.size // len(X)}; wrap an estimator whose decoder outputs its "
                "input."
            )
        return expected, latents.astype(np.float64)

    def _fit_latents(self, latents):
        self.n_latents_ = latents.shape[1]
        self.latent_covariance_ = MinCovDet(
            support_fraction=self.support_fraction, random_state=self.random_state
        ).fit(latents)

    def _latent_deviations(self, latents):
        from scipy.stats import chi2

        distance = self.latent_covariance_.mahalanobis(latents)
        return {
            "latent_distance": distance,
            "latent_p_value": chi2.sf(distance, df=self.n_latents_),
        }

    def latent_deviation(self, X, covariates=None):
        """Robust Mahalanobis distance of the latent means, and its p-value.

        The squared Mahalanobis distance of each subject's latent means from
        the robust location of the calibration controls' latents, under
        their robust covariance (minimum covariance determinant), as in
        [1]_; its p-value is the chi-square survival function with
        ``n_latents_`` degrees of freedom, exact for Gaussian latents.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, ...)
            Features of the subjects, shaped like the calibration controls.
        covariates : array-like of shape (n_samples, n_covariates), default=None
            Their covariates, if the model was calibrated with covariates.

        Returns
        -------
        distance : numpy.ndarray, shape (n_samples,)
            Squared robust Mahalanobis distances.
        p_value : numpy.ndarray, shape (n_samples,)
            Probability that a control lies at least as far.

        References
        ----------
        .. [1] A. Lawry Aguila, J. Chapman, M. Janahi and A. Altmann,
           "Conditional VAEs for Confound Removal and Normative Modelling of
           Neurodegenerative Diseases", MICCAI 2022.

        See Also
        --------
        deviations : Every score of the subjects, these included, from one pass.
        """
        deviations = self.deviations(X, covariates)
        return deviations.latent_distance, deviations.latent_p_value
