"""What every normative model shares: a model of the controls fitted on
training controls, deviations from what it expects standardised on held-out
calibration controls, and p-values calibrated on those controls."""

import math
import numbers

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import KFold, train_test_split
from sklearn.utils import Bunch, check_array, check_random_state, check_scalar
from sklearn.utils.validation import check_is_fitted

from ._p_values import PooledScores, adjust_p_values, count_at_least

#: How the subject-level score summarises a subject's z-scores.
_SUMMARIES = ("mean_squared", "max_abs")
#: How the p-values of the subject-level score and latent distance are computed.
_P_VALUES = ("conformal", "parametric")
#: The corrections of feature and region p-values across a subject's map.
_CORRECTIONS = ("fdr", "fwe", None)
#: Folds of the cross-fitting that scores each calibration control as a new
#: subject (standardised and measured by statistics it did not enter).
_N_FOLDS = 10


def _region_means(values, labels, region_labels):
    """Mean of ``values`` (n, n_features) over the features of each region."""
    index = np.searchsorted(region_labels, labels)
    inside = labels != 0
    sums = np.zeros((values.shape[0], len(region_labels)))
    np.add.at(sums.T, index[inside], values[:, inside].T)
    counts = np.bincount(index[inside], minlength=len(region_labels))
    return sums / counts


def _standardiser(values):
    """Mean and standard deviation (1 where it is 0) of each column."""
    mean = values.mean(axis=0)
    scale = values.std(axis=0, ddof=1)
    return mean, np.where(scale > 0, scale, 1.0)


def _two_sided_t(z, n_calibration):
    """Two-sided p-values of z-scores standardised on ``n_calibration`` controls.

    For a Gaussian residual, ``z / sqrt(1 + 1 / n)`` of a new subject follows
    Student's t with ``n - 1`` degrees of freedom (the predictive law of one
    new draw when the mean and standard deviation are estimated from ``n``).
    """
    t = np.abs(z) / math.sqrt(1 + 1 / n_calibration)
    return 2 * stats.t.sf(t, df=n_calibration - 1)


#: What conformal p-values rank subjects by (see ``_rankable``).
_RANKED = ("statistic", "latent_distance", "max_abs_z", "max_abs_region_z")


def _rankable(measured, keys=_RANKED, per_feature=False):
    """What conformal p-values rank subjects by, for each of ``keys``: the
    subject-level statistic, the latent distance and, for the family-wise
    correction, the largest ``|z|`` over the features and regions (every
    ``|z|`` of a subject to test, ``per_feature``)."""
    def largest(z):
        if z is None:
            return None
        return np.abs(z) if per_feature else np.abs(z).max(axis=1)

    values = {"statistic": lambda: measured.statistic,
              "latent_distance": lambda: measured.latent_distance,
              "max_abs_z": lambda: largest(measured.z),
              "max_abs_region_z": lambda: largest(measured.region_z)}
    return Bunch(**{key: values[key]() for key in keys})


def _smallest_calibration(needed):
    """The fewest calibration controls whose cross-fitting folds each train on
    at least ``needed`` controls."""
    n = needed + 1
    while n - math.ceil(n / min(_N_FOLDS, n)) < needed:
        n += 1
    return n


def estimator_name(estimator):
    """The class name of ``estimator``, or of the estimator a FrozenEstimator
    holds: the name the user knows."""
    if isinstance(estimator, FrozenEstimator):
        estimator = estimator.estimator
    return type(estimator).__name__


def check_fitted_estimator(estimator, what):
    """Raise sklearn's NotFittedError, naming the wrapped estimator, if unfitted."""
    check_is_fitted(
        estimator,
        msg=(
            f"The frozen {what} {estimator_name(estimator)} is not fitted; fit it "
            "before wrapping it in FrozenEstimator, or pass the estimator "
            "unfitted, and the normative model fits a clone of it on the "
            "training controls."
        ),
    )


class NormativeBase(TransformerMixin, BaseEstimator):
    """Deviations of the features from a model of the controls, calibrated.

    A subclass says how its model of the controls is checked and fitted
    and what it expects each subject's features to be (``_expected``); this
    base fits a clone of the model on training controls, standardises the
    residuals of held-out calibration controls feature by feature and
    region by region, summarises them per subject, calibrates p-values on
    those controls, and maps the deviations back to images.
    """

    def __init__(
        self, estimator, *, calibration_size=0.2, masker=None, regions=None,
        summary="mean_squared", p_values="conformal", random_state=None,
    ):
        self.estimator = estimator
        self.calibration_size = calibration_size
        self.masker = masker
        self.regions = regions
        self.summary = summary
        self.p_values = p_values
        self.random_state = random_state

    # ------------------------------------------------------------------
    # Hooks of the subclasses
    # ------------------------------------------------------------------
    def _check_estimator(self, estimator, X, covariates, fitted):
        """Check the wrapped estimator before any work (raise if unusable);
        ``fitted`` says whether it is used as it is (frozen) or fitted here."""

    def _fit_estimator(self, estimator, X, covariates):
        """Fit ``estimator`` (a clone of ``estimator``) on training controls."""
        raise NotImplementedError

    def _min_calibration(self, estimator, X, covariates):
        """The fewest controls each calibration fold needs, and what for."""
        return 2, "to estimate the standard deviation of every feature"

    def _expected(self, estimator, X, covariates):
        """Expected features of each subject, and the subject's latents.

        Returns
        -------
        expected : numpy.ndarray, shape (n_samples, n_features)
        latents : numpy.ndarray of shape (n_samples, n_latents), or None
        """
        raise NotImplementedError

    def _fit_latent_norm(self, latents, random_state):
        """The latents' model of the controls (for a model with latents)."""
        raise NotImplementedError

    def _latent_distance(self, latent_norm, latents):
        """Distance of each subject's latents from the controls' (n_samples,)."""
        raise NotImplementedError

    def _latent_parametric_p_values(self, distance):
        """The p-values of latent distances under the controls' assumed law."""
        raise NotImplementedError

    # ------------------------------------------------------------------
    # Checks
    # ------------------------------------------------------------------
    def _check_X(self, X, sample_shape, input_name="X"):
        """``X`` as float32; of ``sample_shape`` per subject unless None."""
        X = check_array(X, allow_nd=True, dtype=np.float32, input_name=input_name)
        if sample_shape is not None and tuple(X.shape[1:]) != sample_shape:
            raise ValueError(
                f"{input_name} has subjects of shape {tuple(X.shape[1:])} "
                f"({int(np.prod(X.shape[1:]))} features), but the controls had "
                f"{sample_shape} ({int(np.prod(sample_shape))} features): these "
                "subjects are on another grid or mask than the controls; mask "
                "them with the masker of the controls."
            )
        return X

    def _check_covariates(self, covariates, n_samples, n_covariates,
                          input_name="covariates", reference=None):
        """Covariates as a float array (n_samples, n_covariates), or None;
        ``n_covariates`` is the number the model was fitted with (None at
        the start of fit), and ``reference`` what had them, if not the fit."""
        if covariates is not None:
            covariates = check_array(covariates, dtype=np.float32,
                                     input_name=input_name)
            if len(covariates) != n_samples:
                raise ValueError(
                    f"{input_name} has {len(covariates)} rows but there are "
                    f"{n_samples} subjects; pass one row of covariates per subject."
                )
        given = 0 if covariates is None else covariates.shape[1]
        if n_covariates is None or given == n_covariates:
            return covariates
        fitted = reference or f"{type(self).__name__} was fitted"
        if n_covariates == 0:
            raise ValueError(
                f"{input_name} were given ({given} columns), but {fitted} "
                f"without covariates; leave {input_name}=None, or give "
                "covariates to both."
            )
        raise ValueError(
            f"{fitted} with {n_covariates} covariates but "
            f"{'none' if covariates is None else given} were given in "
            f"{input_name}; pass the {n_covariates} columns, in the same order."
        )

    def _check_regions(self, n_features):
        """The region label of each feature (0: in no region), or None."""
        if self.regions is None:
            return None
        regions = self.regions
        if hasattr(regions, "affine") or isinstance(regions, str):
            if self.masker is None:
                raise ValueError(
                    "regions is an image, which needs the masker that made the "
                    "features; pass masker=, or the labels as an array of one "
                    "label per feature."
                )
            regions = np.asarray(self.masker.transform(regions)).reshape(-1)
        labels = np.asarray(regions, dtype=np.float64)
        if labels.size != n_features:
            raise ValueError(
                f"regions holds {labels.size} labels but the subjects have "
                f"{n_features} features; pass one label per feature "
                "(0 for a feature in no region)."
            )
        if not np.all(np.isfinite(labels)) or not np.array_equal(
            labels, np.rint(labels)
        ):
            raise ValueError(
                "regions holds labels that are not integers; pass integer labels "
                "(0 for no region), and a masker that does not change values "
                "(no smoothing or standardisation) for a label image."
            )
        labels = labels.astype(np.int64).reshape(-1)
        if not np.any(labels != 0):
            raise ValueError("regions labels every feature 0 (no region); pass labels "
                             "with at least one region.")
        return labels

    def _check_params(self):
        if self.summary not in _SUMMARIES:
            raise ValueError(
                f"summary={self.summary!r} is not one of {list(_SUMMARIES)}."
            )
        if self.p_values not in _P_VALUES:
            raise ValueError(
                f"p_values={self.p_values!r} is not one of {list(_P_VALUES)}."
            )
        size = self.calibration_size
        if isinstance(size, numbers.Integral) and not isinstance(size, bool):
            check_scalar(size, "calibration_size", numbers.Integral, min_val=3)
        else:
            check_scalar(size, "calibration_size", numbers.Real, min_val=0,
                         max_val=1, include_boundaries="neither")

    def _check_fitted(self):
        check_is_fitted(self, "calibration_")

    # ------------------------------------------------------------------
    # Fit
    # ------------------------------------------------------------------
    def fit(self, X, y=None, covariates=None, X_calibration=None,
            covariates_calibration=None):
        """Fit the model on training controls and calibrate on held-out ones.

        A clone of ``estimator`` is fitted on the training controls; the
        calibration controls, which it has not seen, set what a normal
        deviation is, as the subjects to score will be new to it too. They
        are ``X_calibration`` when given, otherwise a random
        ``calibration_size`` of ``X``. A frozen estimator
        (:class:`sklearn.frozen.FrozenEstimator`) is used as it is, and all
        of ``X`` calibrates it.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, ...)
            Features of healthy controls, as the wrapped model takes them
            (the output of a masker).
        y : None
            Ignored.
        covariates : array-like of shape (n_samples, n_covariates), default=None
            Covariates of each control (one-hot categories, standardised
            continuous values): what a conditional model or a regression
            takes besides the features.
        X_calibration : array-like, shaped like X, default=None
            Held-out controls to calibrate on; None splits them off ``X``.
        covariates_calibration : array-like, default=None
            Their covariates, when ``X_calibration`` is given.

        Returns
        -------
        self : object
            This normative model, fitted and calibrated.
        """
        self._check_params()
        X = self._check_X(X, None)
        sample_shape = tuple(X.shape[1:])
        covariates = self._check_covariates(covariates, len(X), None)
        n_covariates = 0 if covariates is None else covariates.shape[1]
        frozen = isinstance(self.estimator, FrozenEstimator)
        if X_calibration is None:
            if covariates_calibration is not None:
                raise ValueError(
                    "covariates_calibration was given without X_calibration; "
                    "pass both, or the covariates of X only."
                )
        else:
            if frozen:
                name = estimator_name(self.estimator)
                raise ValueError(
                    f"The estimator is frozen ({name} fitted already), so all "
                    "of X calibrates it; pass the "
                    "calibration controls as X and leave X_calibration=None."
                )
            X_calibration = self._check_X(X_calibration, sample_shape,
                                          "X_calibration")
            covariates_calibration = self._check_covariates(
                covariates_calibration, len(X_calibration), n_covariates,
                "covariates_calibration", reference="X was given",
            )
        rng = check_random_state(self.random_state)
        if frozen:
            X_train, covariates_train = None, None
            X_calibration, covariates_calibration = X, covariates
        elif X_calibration is None:
            self._check_split(len(X))
            X_train, X_calibration, covariates_train, covariates_calibration = (
                self._split(X, covariates, rng)
            )
        else:
            X_train, covariates_train = X, covariates
        labels = self._check_regions(int(np.prod(sample_shape)))
        self._check_estimator(self.estimator, X_calibration, covariates_calibration,
                              fitted=frozen)
        self._check_calibration_size(self.estimator, X_calibration,
                                     covariates_calibration)

        if frozen:
            estimator = self.estimator
        else:
            estimator = clone(self.estimator)
            self._fit_estimator(estimator, X_train, covariates_train)
            self._check_calibration_size(estimator, X_calibration,
                                         covariates_calibration)
        residual, latents = self._residuals(estimator, X_calibration,
                                            covariates_calibration)
        calibration = self._calibrate(residual, latents, labels, rng)

        # Every fitted attribute is set here, after the work: a failed refit
        # leaves the previous fit as it was.
        self.estimator_ = estimator
        self.sample_shape_ = sample_shape
        self.n_features_in_ = int(np.prod(sample_shape))
        self.n_covariates_ = n_covariates
        self.regions_ = labels
        self.region_labels_ = None if labels is None else np.unique(labels[labels != 0])
        norm = calibration.pop("norm")
        self.residual_mean_ = norm.feature_mean.reshape(sample_shape)
        self.residual_scale_ = norm.feature_scale.reshape(sample_shape)
        self.region_mean_, self.region_scale_ = norm.region_mean, norm.region_scale
        self.latent_norm_ = norm.latent
        self.n_latents_ = None if latents is None else latents.shape[1]
        self.calibration_ = calibration
        return self

    def _check_split(self, n_samples):
        """Refuse a calibration_size that leaves no control to train on."""
        size = self.calibration_size
        n_calibration = (
            size if isinstance(size, numbers.Integral) else math.ceil(size * n_samples)
        )
        if n_calibration >= n_samples - 1:
            raise ValueError(
                f"calibration_size={size} holds out {n_calibration} of the "
                f"{n_samples} controls, which leaves {n_samples - n_calibration} "
                "to train the estimator; pass more controls, a smaller "
                "calibration_size, or the calibration controls as X_calibration."
            )

    def _split(self, X, covariates, rng):
        """Training and calibration controls split off ``X``."""
        split = train_test_split(
            np.arange(len(X)), test_size=self.calibration_size,
            random_state=rng.randint(np.iinfo(np.int32).max),
        )
        train, calibration = (np.sort(part) for part in split)
        if covariates is None:
            return X[train], X[calibration], None, None
        return X[train], X[calibration], covariates[train], covariates[calibration]

    def _check_calibration_size(self, estimator, X, covariates):
        needed, reason = self._min_calibration(estimator, X, covariates)
        smallest = _smallest_calibration(needed)
        if len(X) < smallest:
            raise ValueError(
                f"{len(X)} calibration controls is too few: {type(self).__name__} "
                f"needs at least {smallest}, so that each of the folds that score "
                f"the calibration controls keeps {needed} {reason}; calibrate on "
                "more held-out controls (a larger calibration_size, or "
                "X_calibration). To calibrate an estimator fitted already on all "
                "of X, wrap it in sklearn.frozen.FrozenEstimator."
            )

    def _residuals(self, estimator, X, covariates):
        expected, latents = self._expected(estimator, X, covariates)
        expected = np.asarray(expected, dtype=np.float64).reshape(len(X), -1)
        return X.reshape(len(X), -1).astype(np.float64) - expected, latents

    def _fit_norm(self, residual, latents, labels, random_state):
        """What a normal deviation is, from the residuals (and latents) of
        controls: the statistics every score is standardised by."""
        feature_mean, feature_scale = _standardiser(residual)
        region_mean = region_scale = None
        if labels is not None:
            region_mean, region_scale = _standardiser(
                _region_means(residual, labels, np.unique(labels[labels != 0]))
            )
        return Bunch(
            feature_mean=feature_mean, feature_scale=feature_scale,
            region_mean=region_mean, region_scale=region_scale,
            latent=None if latents is None else self._fit_latent_norm(
                latents, random_state
            ),
        )

    def _measure(self, norm, residual, latents, labels, summary):
        """Every statistic of each subject against ``norm``."""
        z = (residual - norm.feature_mean) / norm.feature_scale
        region_z = None
        if labels is not None:
            region_z = (
                _region_means(residual, labels, np.unique(labels[labels != 0]))
                - norm.region_mean
            ) / norm.region_scale
        summarised = z if region_z is None else region_z
        if summary == "max_abs":
            statistic = np.abs(summarised).max(axis=1)
        else:
            statistic = np.mean(summarised**2, axis=1)
        return Bunch(
            z=z, region_z=region_z, statistic=statistic,
            latent_distance=None if latents is None else self._latent_distance(
                norm.latent, latents
            ),
        )

    def _calibrate(self, residual, latents, labels, rng):
        """The norm of all calibration controls, and the folds that rank
        subjects among the controls for the conformal p-values.

        A control must be ranked by a norm it did not enter, as a new
        subject is: statistics measured by a norm that a control entered
        are smaller than a new subject's (the norm is pulled towards it),
        and ranking new subjects among them would call too many abnormal.
        So the controls are split in folds; each fold keeps the norm of
        the other folds and its own controls' statistics measured by it,
        and a new subject is ranked, fold by fold, by the same norm
        (cross-conformal p-values). The features' and regions' ``|z|`` of
        every control, each measured by its fold's norm, are pooled: a
        subject's feature is ranked among all of them.
        """
        folds = []
        statistic = np.empty(len(residual))
        abs_z, abs_region_z = [], []
        splits = KFold(min(_N_FOLDS, len(residual)), shuffle=True,
                       random_state=rng.randint(np.iinfo(np.int32).max))
        for train, held_out in splits.split(residual):
            norm = self._fit_norm(residual[train],
                                  None if latents is None else latents[train],
                                  labels, rng)
            measured = self._measure(norm, residual[held_out],
                                     None if latents is None else latents[held_out],
                                     labels, self.summary)
            statistic[held_out] = measured.statistic
            abs_z.append(np.abs(measured.z))
            if labels is not None:
                abs_region_z.append(np.abs(measured.region_z))
            folds.append(Bunch(norm=norm, scores=_rankable(measured)))
        statistic_mean, statistic_scale = _standardiser(statistic[:, None])
        return Bunch(
            norm=self._fit_norm(residual, latents, labels, rng),
            n_samples=len(residual), summary=self.summary, p_values=self.p_values,
            folds=folds, statistic_mean=float(statistic_mean[0]),
            statistic_scale=float(statistic_scale[0]),
            # Every |z| of every control, for the features' conformal p-values.
            feature_scores=PooledScores(np.concatenate(abs_z)),
            region_scores=None if labels is None else PooledScores(
                np.concatenate(abs_region_z)
            ),
        )

    def _cross_conformal(self, residual, latents, keys):
        """Cross-conformal p-values of the subjects for each of ``keys`` (of
        ``_rankable``): ``(1 + #{controls at least as extreme}) / (n + 1)``,
        each control compared with the subject by the norm of its fold."""
        calibration = self.calibration_
        at_least = dict.fromkeys(keys, 0)
        for fold in calibration.folds:
            # Only the values asked for: every |z| of every subject is large.
            measured = _rankable(self._measure(fold.norm, residual, latents,
                                               self.regions_, calibration.summary),
                                 keys, per_feature=True)
            for key in keys:
                at_least[key] = at_least[key] + count_at_least(
                    measured[key], fold.scores[key]
                )
        return {key: (1 + count) / (calibration.n_samples + 1)
                for key, count in at_least.items()}

    # ------------------------------------------------------------------
    # Scores
    # ------------------------------------------------------------------
    def _norm(self):
        """The fitted norm, as ``_fit_norm`` returns it."""
        return Bunch(
            feature_mean=self.residual_mean_.reshape(-1),
            feature_scale=self.residual_scale_.reshape(-1),
            region_mean=self.region_mean_, region_scale=self.region_scale_,
            latent=self.latent_norm_,
        )

    def _measure_subjects(self, X, covariates):
        """The subjects' residuals, latents, statistics against the fitted
        norm and standardised subject-level score: what every output reads,
        before any p-value."""
        self._check_fitted()
        X = self._check_X(X, self.sample_shape_)
        covariates = self._check_covariates(covariates, len(X), self.n_covariates_)
        self._check_estimator(self.estimator_, X, covariates, fitted=True)
        residual, latents = self._residuals(self.estimator_, X, covariates)
        calibration = self.calibration_
        measured = self._measure(self._norm(), residual, latents, self.regions_,
                                 calibration.summary)
        score = (measured.statistic - calibration.statistic_mean) / (
            calibration.statistic_scale
        )
        return Bunch(shape=X.shape, residual=residual, latents=latents,
                     measured=measured, score=score)

    def deviations(self, X, covariates=None, *, correction="fdr"):
        """Every deviation score of each subject, and its p-value, in one pass.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, ...)
            Features of the subjects, shaped like the controls'.
        covariates : array-like of shape (n_samples, n_covariates), default=None
            Their covariates, if the model was fitted with covariates.
        correction : {"fdr", "fwe"} or None, default="fdr"
            How ``corrected_p_values`` and ``region_corrected_p_values``
            account for the many features (regions) of a subject:

            - ``"fdr"``: Benjamini--Hochberg adjusted p-values. Flagging the
              features whose adjusted p-value is at most ``alpha`` keeps the
              expected share of normal features among the flagged ones at
              most ``alpha`` (for independent or positively dependent
              p-values, as those of neighbouring voxels are).
            - ``"fwe"``: family-wise p-values of the maximum statistic: the
              rank of ``|z|`` among the calibration controls' largest
              ``|z|`` over all features. Flagging those at most ``alpha``
              flags any feature of a new control with probability at most
              ``alpha``, whatever the dependence between features.
            - None: the p-values, uncorrected.

        Returns
        -------
        deviations : sklearn.utils.Bunch
            - ``zscores``, shaped like ``X``: each feature's residual (the
              subject's value minus the model's expectation) minus its mean
              over the calibration controls, divided by its standard
              deviation over them; negative where the value is lower than
              expected.
            - ``p_values`` and ``corrected_p_values``, shaped like ``X``:
              p-values of ``|z|`` (two-sided), then corrected by
              ``correction``. Conformal by default (``p_values``): the rank
              of ``|z|`` among the ``|z|`` of every feature of every
              calibration control, which assumes the features' standardised
              residuals share one law, whatever it is; parametric, Student's
              t predictive law of a new control's Gaussian residual.
            - ``region_zscores``, ``region_p_values`` and
              ``region_corrected_p_values`` (n_samples, n_regions): the
              same for the mean residual over each region of
              ``region_labels_``; None without ``regions``.
            - ``score`` (n_samples,): the subject-level deviation, higher
              for a subject further from the norm: the z-scores (of the
              regions, with ``regions``) summarised by their mean square
              or largest magnitude (``summary``), standardised by the mean
              and standard deviation of the calibration controls'
              summaries; about 0 for a new control.
            - ``p_value`` (n_samples,): the p-value of ``score`` (see
              ``p_values``).
            - With latents, ``latent_distance`` (n_samples,), the distance
              of the subject's latent means from the calibration controls'
              latents, and its ``latent_p_value``.
        """
        if correction not in _CORRECTIONS:
            raise ValueError(
                f"correction={correction!r} is not one of {list(_CORRECTIONS)}."
            )
        subjects = self._measure_subjects(X, covariates)
        residual, latents = subjects.residual, subjects.latents
        measured, score, shape = subjects.measured, subjects.score, subjects.shape
        calibration = self.calibration_
        n = calibration.n_samples
        conformal = calibration.p_values == "conformal"
        keys = (["statistic"] + ([] if latents is None else ["latent_distance"])
                if conformal else [])
        if correction == "fwe":
            keys += ["max_abs_z"] + ([] if self.regions_ is None
                                     else ["max_abs_region_z"])
        ranked = self._cross_conformal(residual, latents, keys) if keys else {}

        def corrected(p_values, key):
            if correction == "fwe":
                return ranked[key]
            return adjust_p_values(p_values) if correction == "fdr" else p_values

        def feature_p_values(z, pooled):
            if conformal:
                return pooled.p_values(np.abs(z))
            return _two_sided_t(z, n)

        p_values = feature_p_values(measured.z, calibration.feature_scores)
        result = Bunch(
            zscores=measured.z.reshape(shape),
            p_values=p_values.reshape(shape),
            corrected_p_values=corrected(p_values, "max_abs_z").reshape(shape),
            region_zscores=measured.region_z,
            region_p_values=None, region_corrected_p_values=None,
            score=score,
            p_value=ranked["statistic"] if conformal else stats.norm.sf(score),
        )
        if measured.region_z is not None:
            result.region_p_values = feature_p_values(measured.region_z,
                                                      calibration.region_scores)
            result.region_corrected_p_values = corrected(result.region_p_values,
                                                         "max_abs_region_z")
        if latents is not None:
            result.latent_distance = measured.latent_distance
            result.latent_p_value = (
                ranked["latent_distance"] if conformal
                else self._latent_parametric_p_values(measured.latent_distance)
            )
        return result

    def transform(self, X, covariates=None):
        """Deviation z-score of every feature of each subject.

        The residual of each feature (the subject's value minus the value
        the model expects), minus its mean over the calibration controls,
        divided by its standard deviation over them [1]_ [2]_: about 0 with
        a standard deviation of 1 for a new control, large in magnitude
        where a subject departs from the norm (negative where the value is
        lower than expected).

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, ...)
            Features of the subjects, shaped like the controls'.
        covariates : array-like of shape (n_samples, n_covariates), default=None
            Their covariates, if the model was fitted with covariates.

        Returns
        -------
        zscores : numpy.ndarray, shaped like X
            float64 z-scores.

        References
        ----------
        .. [1] W. H. L. Pinaya et al., "Using deep autoencoders to identify
           abnormal brain structural patterns in neuropsychiatric disorders: A
           large-scale multi-sample study", Human Brain Mapping 40(3), 2019.
        .. [2] A. Lawry Aguila, J. Chapman, M. Janahi and A. Altmann,
           "Conditional VAEs for Confound Removal and Normative Modelling of
           Neurodegenerative Diseases", MICCAI 2022.
        """
        # The z-scores only: no p-value, so no pass through the folds.
        subjects = self._measure_subjects(X, covariates)
        return subjects.measured.z.reshape(subjects.shape)

    def fit_transform(self, X, y=None, covariates=None, X_calibration=None,
                      covariates_calibration=None):
        """Fit and calibrate (see :meth:`fit`), then z-score the controls of X.

        The z-scores of training controls are smaller than a new subject's
        (the model was fitted on them): read them as a description of the
        fit, not as deviations.

        Parameters
        ----------
        X, y, covariates, X_calibration, covariates_calibration
            As for :meth:`fit`.

        Returns
        -------
        zscores : numpy.ndarray, shaped like X
        """
        return self.fit(
            X, y, covariates=covariates, X_calibration=X_calibration,
            covariates_calibration=covariates_calibration,
        ).transform(X, covariates)

    def score_samples(self, X, covariates=None):
        """How normal each subject is: higher for a subject closer to the norm.

        Minus the subject-level deviation ``score`` of :meth:`deviations`,
        as scikit-learn's outlier detectors score samples: about 0 for a new
        control, very negative for a subject far from the norm.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, ...)
            Features of the subjects, shaped like the controls'.
        covariates : array-like of shape (n_samples, n_covariates), default=None
            Their covariates, if the model was fitted with covariates.

        Returns
        -------
        scores : numpy.ndarray, shape (n_samples,)
        """
        return -self._measure_subjects(X, covariates).score

    def deviation_maps(self, X, covariates=None, *, alpha=None, correction="fdr"):
        """Deviation z-scores of each subject as a NIfTI image.

        The z-scores of :meth:`transform`, put back on the images' grid by
        the ``inverse_transform`` of ``masker``; with ``alpha``, only the
        voxels whose corrected p-value is at most ``alpha`` keep their
        z-score, the others are 0: a map of the significant deviations.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, ...)
            Features of the subjects, shaped like the controls'.
        covariates : array-like of shape (n_samples, n_covariates), default=None
            Their covariates, if the model was fitted with covariates.
        alpha : float in (0, 1) or None, default=None
            Level of the threshold; None keeps every z-score.
        correction : {"fdr", "fwe"} or None, default="fdr"
            The correction across voxels of the threshold (see
            :meth:`deviations`): ``"fdr"`` bounds the expected share of
            normal voxels among those kept, ``"fwe"`` the probability of
            keeping any voxel of a normal subject.

        Returns
        -------
        maps : nibabel.Nifti1Image
            4-D image, one volume of z-scores per subject (what the masker's
            ``inverse_transform`` returns for several samples).
        """
        self._check_fitted()
        if self.masker is None:
            raise ValueError(
                f"{type(self).__name__} was built with masker=None; pass the "
                "fitted masker that made the features (masker=...) to map "
                "z-scores back to images."
            )
        if alpha is not None:
            check_scalar(alpha, "alpha", numbers.Real, min_val=0, max_val=1,
                         include_boundaries="neither")
        deviations = self.deviations(X, covariates, correction=correction)
        z = deviations.zscores.reshape(len(deviations.score), -1)
        if alpha is not None:
            kept = deviations.corrected_p_values.reshape(z.shape) <= alpha
            z = np.where(kept, z, 0.0)
        return self.masker.inverse_transform(z.astype(np.float32))
