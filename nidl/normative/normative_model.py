"""Normative model of an autoencoder: latent and reconstruction deviations."""

import inspect
import numbers

import numpy as np
from scipy import stats
from sklearn.covariance import MinCovDet
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_scalar
from sklearn.utils.validation import check_is_fitted

from ._base import NormativeBase, check_fitted_estimator, estimator_name

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
    """Normative model of an autoencoder: how far, and where, subjects deviate.

    Fits a clone of an estimator that encodes (``transform``) and decodes
    (``inverse_transform``) on healthy training controls: a VAE of
    :mod:`nidl.estimators.autoencoders`, a conditional VAE given
    ``covariates``, or a :class:`sklearn.decomposition.PCA`. Held-out
    calibration controls then set what a normal deviation is, and new
    subjects get, as in the VAE normative models of [1]_, [2]_ and [3]_
    (all in one pass from :meth:`deviations`):

    - **feature deviations** (:meth:`transform`): z-scores of the
      reconstruction residual of every feature (voxel) against the
      calibration controls, with p-values corrected across the brain, as
      NIfTI maps thresholded at a level (:meth:`deviation_maps`), and per
      region of a parcellation;
    - a **subject-level score** with its p-value; :meth:`score_samples`
      is higher for subjects closer to the norm;
    - a **latent distance**: the robust Mahalanobis distance of the
      subject's latent means from the calibration controls' latents
      (minimum covariance determinant,
      :class:`sklearn.covariance.MinCovDet`), with its p-value.

    By default the p-values of the subject-level score and of the latent
    distance are conformal [4]_: the rank of the subject's score among the
    calibration controls' scores, each control scored by a norm it did not
    enter (10-fold cross-fitting). They hold their level on new controls
    whatever the law of the scores; the chi-square p-value of the latent
    distance (``p_values="parametric"``) assumes Gaussian latents with a
    known covariance, and calls far too many controls abnormal when the
    latents are a mixture of sites or the calibration is small.

    The latents must be the posterior means, not samples, so that a
    subject's scores do not change from one call to the next: a nidl VAE
    must have ``stochastic_transform=False``. The reconstruction is the
    decoder's mean at the latent means.

    Parameters
    ----------
    estimator : object
        An estimator with ``fit``, ``transform`` and ``inverse_transform``
        (with covariates, ``fit``, ``transform`` and ``inverse_transform``
        take a ``covariates`` keyword argument). A clone of it is fitted on
        the training controls. To use an estimator fitted already, wrap it
        in :class:`sklearn.frozen.FrozenEstimator`: it is used as it is,
        and ``fit`` calibrates it on all the controls it is given.
    calibration_size : float or int, default=0.2
        The share (float in (0, 1)) or number (int) of the controls of
        ``fit`` held out to calibrate the scores, when ``X_calibration`` is
        not given; the rest train the estimator.
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
        calibration controls, of the subject-level score and latent
        distance (valid whatever the law of the scores, never below
        ``1 / (n_calibration + 1)``), and of each feature's or region's
        ``|z|`` among those of every feature (region) of every control.
        Parametric (approximate): the normal law of the standardised
        score, the chi-square law of the squared latent distance, and
        Student's t law of a Gaussian residual for features and regions.
    support_fraction : float or None, default=0.75
        Fraction of the calibration controls in the support of the robust
        covariance of the latents (:class:`~sklearn.covariance.MinCovDet`):
        the covariance resists up to ``1 - support_fraction`` of outlying
        controls. None is MinCovDet's smallest support,
        ``(n_samples + n_latents + 1) / 2``.
    random_state : int, RandomState instance or None, default=None
        Seed of the calibration split, of the cross-fitting folds and of
        the robust covariance estimates. The estimator keeps its own.

    Attributes
    ----------
    estimator_ : object
        The fitted estimator: a fitted clone of ``estimator``, or
        ``estimator`` itself when it is frozen.
    n_features_in_ : int
        Number of features of a subject.
    sample_shape_ : tuple of int
        Shape of a subject's features.
    n_covariates_ : int
        Number of covariates of the fit (0 without covariates).
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
    n_latents_ : int
        Number of latent dimensions of the estimator.
    latent_norm_ : sklearn.covariance.MinCovDet
        The robust location and covariance of the calibration controls'
        latents.
    calibration_ : sklearn.utils.Bunch
        What the calibration fixed: ``n_samples`` (the calibration
        controls), ``summary`` and ``p_values`` (the parameters it was made
        for), ``folds`` (the 10 folds of the cross-conformal p-values, each
        with the ``norm`` fitted on the other folds and the ``scores`` of
        its own controls under that norm: summary statistic, latent
        distance, largest ``|z|`` over the features and the regions), and
        ``statistic_mean`` and ``statistic_scale`` (what standardises the
        subject-level score).

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
    .. [4] S. Bates, E. Candès, L. Lei, Y. Romano and M. Sesia, "Testing for
       outliers with conformal p-values", The Annals of Statistics 51(1),
       2023.

    Examples
    --------
    A PCA fitted on 200 controls and calibrated on 100 others finds the one
    feature in which a patient departs from the norm:

    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from nidl.normative import NormativeModel
    >>> rng = np.random.default_rng(0)
    >>> controls = rng.normal(size=(300, 10))
    >>> model = NormativeModel(PCA(n_components=3), calibration_size=100,
    ...                        random_state=0).fit(controls)
    >>> patient = rng.normal(size=(1, 10))
    >>> patient[0, 4] -= 8                       # one feature far below the norm
    >>> deviations = model.deviations(patient)
    >>> int(np.argmin(deviations.zscores)), bool(deviations.zscores[0, 4] < -4)
    (4, True)
    >>> bool(deviations.corrected_p_values[0, 4] < 0.05)
    True
    >>> float(deviations.p_value[0])             # no control deviates as much
    0.0099...

    Subjects whose latents lie far from those of the controls get the
    smallest p-value a calibration on 100 controls gives, 1 / 101:

    >>> far = model.deviations(controls[:3] + 10)
    >>> bool(np.all(far.latent_p_value < 0.01))
    True
    """

    def __init__(
        self, estimator, *, calibration_size=0.2, masker=None, regions=None,
        summary="mean_squared", p_values="conformal", support_fraction=0.75,
        random_state=None,
    ):
        super().__init__(
            estimator, calibration_size=calibration_size, masker=masker,
            regions=regions, summary=summary, p_values=p_values,
            random_state=random_state,
        )
        self.support_fraction = support_fraction

    def _check_params(self):
        super()._check_params()
        if self.support_fraction is not None:
            check_scalar(self.support_fraction, "support_fraction", numbers.Real,
                         min_val=0, max_val=1, include_boundaries="right")

    def _check_estimator(self, estimator, X, covariates, fitted):
        name = estimator_name(estimator)
        methods = ("transform", "inverse_transform") + (() if fitted else ("fit",))
        for method in methods:
            if not callable(getattr(estimator, method, None)):
                raise TypeError(
                    f"NormativeModel wraps an estimator that encodes and decodes, "
                    f"but {name} has no {method} method; pass a VAE, "
                    "ConditionalVAE or PCA."
                )
        if fitted:
            check_fitted_estimator(estimator, "estimator")
        # Attributes rather than get_params: a FrozenEstimator passes them on.
        if getattr(estimator, "stochastic_transform", False):
            raise ValueError(
                f"{name} has stochastic_transform=True, so its transform draws "
                "latent samples; a normative model needs the posterior means. Pass "
                "an estimator with stochastic_transform=False (on a fitted one, "
                "set_params(stochastic_transform=False) keeps its weights)."
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
        if not fitted:
            return
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

    def _fit_estimator(self, estimator, X, covariates):
        estimator.fit(X, **_covariate_kwargs(covariates))

    def _n_latents(self, estimator, X, covariates):
        """The estimator's latent dimensions; before its fit, what its
        parameters say (None if they do not)."""
        try:
            check_is_fitted(estimator)
        except NotFittedError:
            params = estimator.get_params() if hasattr(estimator, "get_params") else {}
            for name in ("latent_dim", "n_components"):
                value = params.get(name)
                if isinstance(value, numbers.Integral):
                    return int(value)
            return None
        try:
            return len(estimator.get_feature_names_out())
        except (AttributeError, ValueError, TypeError):
            # An estimator that does not name its outputs: encode one subject.
            kwargs = _covariate_kwargs(None if covariates is None else covariates[:1])
            return np.asarray(estimator.transform(X[:1], **kwargs)).shape[1]

    def _min_calibration(self, estimator, X, covariates):
        n_latents = self._n_latents(estimator, X, covariates)
        if n_latents is None:
            return super()._min_calibration(estimator, X, covariates)
        return 2 * (n_latents + 1), (
            f"(2 * (n_latents + 1) for its {n_latents} latent dimensions) to "
            "estimate the robust covariance of the latents"
        )

    def _expected(self, estimator, X, covariates):
        kwargs = _covariate_kwargs(covariates)
        latents = np.asarray(estimator.transform(X, **kwargs))
        expected = np.asarray(estimator.inverse_transform(latents, **kwargs))
        if expected.size != X.size:
            raise ValueError(
                f"{estimator_name(estimator)}.inverse_transform returns "
                f"{expected.size // len(X)} values per subject but X has "
                f"{X.size // len(X)}; wrap an estimator whose decoder outputs its "
                "input."
            )
        return expected, latents.astype(np.float64)

    def _fit_latent_norm(self, latents, random_state):
        return MinCovDet(
            support_fraction=self.support_fraction, random_state=random_state
        ).fit(latents)

    def _latent_distance(self, latent_norm, latents):
        # MinCovDet.mahalanobis returns squared distances.
        return np.sqrt(latent_norm.mahalanobis(latents))

    def _latent_parametric_p_values(self, distance):
        return stats.chi2.sf(distance**2, df=self.n_latents_)


def _covariate_kwargs(covariates):
    return {} if covariates is None else {"covariates": covariates}
