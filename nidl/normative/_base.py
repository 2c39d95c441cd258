"""What every normative model shares: deviations of the features from what a
model of the controls expects, standardised against calibration controls."""

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import Bunch, check_array
from sklearn.utils.validation import check_is_fitted

#: How the subject-level score summarises a subject's z-scores.
_SUMMARIES = ("mean_squared", "max_abs")


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


def check_fitted_estimator(estimator, what):
    """Raise sklearn's NotFittedError, naming the wrapped estimator, if unfitted."""
    check_is_fitted(
        estimator,
        msg=(
            f"The {what} {type(estimator).__name__} is not fitted yet; fit it on "
            "training controls first, then fit the normative model on held-out "
            "controls. (scikit-learn's clone, which a grid search calls, copies "
            "it unfitted: wrap the fitted model in sklearn.frozen.FrozenEstimator "
            "to keep it fitted.)"
        ),
    )


class NormativeBase(BaseEstimator):
    """Deviation z-scores of the features from a model's expectations.

    A subclass says what a model of the controls expects each subject's
    features to be (``_expected``); this base standardises the residuals,
    feature by feature and region by region, against calibration controls,
    summarises them per subject and maps them back to images.
    """

    def __init__(self, estimator, masker=None, regions=None, summary="mean_squared"):
        self.estimator = estimator
        self.masker = masker
        self.regions = regions
        self.summary = summary

    # ------------------------------------------------------------------
    # Hooks of the subclasses
    # ------------------------------------------------------------------
    def _check_estimator(self, X, covariates):
        """Check the wrapped estimator before any work (raise if unusable)."""

    def _min_calibration(self, X, covariates):
        """The fewest calibration controls this model needs, and what for."""
        return 2, "to estimate the standard deviation of every feature"

    def _expected(self, X, covariates):
        """Expected features of each subject, and the subject's latents.

        Returns
        -------
        expected : numpy.ndarray, shape (n_samples, n_features)
        latents : numpy.ndarray of shape (n_samples, n_latents), or None
        """
        raise NotImplementedError

    def _fit_latents(self, latents):
        """Calibrate the latent deviation on the controls' latents."""

    def _latent_deviations(self, latents):
        """Latent deviation scores, as a dict of arrays (empty without latents)."""
        return {}

    # ------------------------------------------------------------------
    # Checks
    # ------------------------------------------------------------------
    def _check_X(self, X, reset):
        X = check_array(X, allow_nd=True, dtype=np.float32, input_name="X")
        if reset:
            self.sample_shape_ = tuple(X.shape[1:])
            self.n_features_in_ = int(np.prod(self.sample_shape_))
        elif tuple(X.shape[1:]) != self.sample_shape_:
            raise ValueError(
                f"X has subjects of shape {tuple(X.shape[1:])} "
                f"({int(np.prod(X.shape[1:]))} features), but the calibration "
                f"controls had {self.sample_shape_} ({self.n_features_in_} "
                "features): these subjects are on another grid or mask than the "
                "controls; mask them with the masker of the controls."
            )
        return X

    def _check_covariates(self, covariates, n_samples, reset):
        """Covariates as a float array (n_samples, n_covariates), or None."""
        if covariates is not None:
            covariates = check_array(covariates, dtype=np.float32,
                                     input_name="covariates")
            if len(covariates) != n_samples:
                raise ValueError(
                    f"covariates has {len(covariates)} rows but X has {n_samples} "
                    "subjects; pass one row of covariates per subject."
                )
        n_covariates = 0 if covariates is None else covariates.shape[1]
        if reset:
            self.n_covariates_ = n_covariates
        elif n_covariates != self.n_covariates_:
            if self.n_covariates_ == 0:
                raise ValueError(
                    f"covariates were given ({n_covariates} columns), but "
                    f"{type(self).__name__} was calibrated without covariates; "
                    "leave covariates=None, or calibrate with covariates."
                )
            given = "none" if covariates is None else f"{n_covariates}"
            raise ValueError(
                f"{type(self).__name__} was calibrated with {self.n_covariates_} "
                f"covariates but {given} were given; pass covariates with the "
                f"{self.n_covariates_} columns, in the order used to calibrate."
            )
        return covariates

    def _check_regions(self):
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
        if labels.size != self.n_features_in_:
            raise ValueError(
                f"regions holds {labels.size} labels but the subjects have "
                f"{self.n_features_in_} features; pass one label per feature "
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

    # ------------------------------------------------------------------
    # Fit and deviations
    # ------------------------------------------------------------------
    def fit(self, X, y=None, covariates=None):
        """Calibrate the deviation scores on held-out control subjects.

        The wrapped model must have been fitted on other controls: the
        calibration controls set what a normal deviation is, so they must
        be new to the model, as the subjects to score will be. A model with
        latents needs at least ``2 * (n_latents + 1)`` calibration controls
        to estimate their robust covariance; a regression, 2.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, ...)
            Features of the calibration controls, as the wrapped model takes
            them (the output of a masker).
        y : None
            Ignored.
        covariates : array-like of shape (n_samples, n_covariates), default=None
            Covariates of each control (one-hot categories, standardised
            continuous values): passed to an autoencoder's ``transform`` and
            ``inverse_transform``, the input of a regression (required).

        Returns
        -------
        self : object
            This normative model, calibrated.
        """
        self._check_params()
        X = self._check_X(X, reset=True)
        covariates = self._check_covariates(covariates, len(X), reset=True)
        self._check_estimator(X, covariates)
        labels = self._check_regions()
        needed, reason = self._min_calibration(X, covariates)
        if len(X) < needed:
            raise ValueError(
                f"{len(X)} calibration controls is too few: {type(self).__name__} "
                f"needs at least {needed} {reason}; calibrate on more held-out "
                "controls."
            )
        residual, latents = self._residuals(X, covariates)
        self.residual_mean_, self.residual_scale_ = _standardiser(residual)
        z = (residual - self.residual_mean_) / self.residual_scale_
        self.region_labels_ = None if labels is None else np.unique(labels[labels != 0])
        self._labels = labels
        if labels is not None:
            self.region_mean_, self.region_scale_ = _standardiser(
                _region_means(residual, labels, self.region_labels_)
            )
        self.score_mean_, self.score_scale_ = _standardiser(
            self._summarise(z, residual)[:, None]
        )
        self.score_mean_, self.score_scale_ = (
            float(self.score_mean_[0]), float(self.score_scale_[0])
        )
        self._fit_latents(latents)
        self.n_calibration_ = len(X)
        self.residual_mean_ = self.residual_mean_.reshape(self.sample_shape_)
        self.residual_scale_ = self.residual_scale_.reshape(self.sample_shape_)
        return self

    def _residuals(self, X, covariates):
        expected, latents = self._expected(X, covariates)
        expected = np.asarray(expected, dtype=np.float64).reshape(len(X), -1)
        return X.reshape(len(X), -1).astype(np.float64) - expected, latents

    def _summarise(self, z, residual):
        """The raw subject-level statistic, before standardisation."""
        if self._labels is not None:
            z = (
                _region_means(residual, self._labels, self.region_labels_)
                - self.region_mean_
            ) / self.region_scale_
        if self.summary == "max_abs":
            return np.abs(z).max(axis=1)
        return np.mean(z**2, axis=1)

    def deviations(self, X, covariates=None):
        """Every deviation score of each subject, from one pass of the model.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, ...)
            Features of the subjects, shaped like the calibration controls.
        covariates : array-like of shape (n_samples, n_covariates), default=None
            Their covariates, if the model was calibrated with covariates.

        Returns
        -------
        deviations : sklearn.utils.Bunch
            ``zscores`` (shaped like ``X``), ``region_zscores`` (n_samples,
            n_regions; None without ``regions``), ``score`` (n_samples,),
            and for a model with latents ``latent_distance`` and
            ``latent_p_value`` (n_samples,): what :meth:`transform`,
            :meth:`region_zscores`, :meth:`deviation_scores` and
            ``latent_deviation`` return.
        """
        check_is_fitted(self, "residual_mean_")
        self._check_params()
        X = self._check_X(X, reset=False)
        covariates = self._check_covariates(covariates, len(X), reset=False)
        self._check_estimator(X, covariates)
        residual, latents = self._residuals(X, covariates)
        z = (residual - self.residual_mean_.reshape(-1)) / (
            self.residual_scale_.reshape(-1)
        )
        region_z = None
        if self._labels is not None:
            region_z = (
                _region_means(residual, self._labels, self.region_labels_)
                - self.region_mean_
            ) / self.region_scale_
        score = (self._summarise(z, residual) - self.score_mean_) / self.score_scale_
        return Bunch(
            zscores=z.reshape(X.shape), region_zscores=region_z, score=score,
            **self._latent_deviations(latents),
        )

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
            Features of the subjects, shaped like the calibration controls.
        covariates : array-like of shape (n_samples, n_covariates), default=None
            Their covariates, if the model was calibrated with covariates.

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
        return self.deviations(X, covariates).zscores

    def region_zscores(self, X, covariates=None):
        """Deviation z-score of each region of each subject.

        The mean residual over the features of each region of ``regions``,
        standardised by its mean and standard deviation over the
        calibration controls [1]_, as region-wise normative models report
        deviations.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, ...)
            Features of the subjects, shaped like the calibration controls.
        covariates : array-like of shape (n_samples, n_covariates), default=None
            Their covariates, if the model was calibrated with covariates.

        Returns
        -------
        region_zscores : numpy.ndarray, shape (n_samples, n_regions)
            One column per label of ``region_labels_``, in that order.

        Raises
        ------
        ValueError
            If the model was built without ``regions``.

        References
        ----------
        .. [1] A. Lawry Aguila et al., "Multi-modal Variational Autoencoders
           for Normative Modelling Across Multiple Imaging Modalities",
           MICCAI 2023.
        """
        check_is_fitted(self, "residual_mean_")
        if self._labels is None:
            raise ValueError(
                f"{type(self).__name__} was built with regions=None; set regions "
                "to a label image or array and fit again."
            )
        return self.deviations(X, covariates).region_zscores

    def zscore_maps(self, X, covariates=None):
        """Deviation z-scores of each subject as a NIfTI image.

        :meth:`transform`, put back on the images' grid by the ``inverse_transform``
        of the masker that made the features.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, ...)
            Features of the subjects, shaped like the calibration controls.
        covariates : array-like of shape (n_samples, n_covariates), default=None
            Their covariates, if the model was calibrated with covariates.

        Returns
        -------
        maps : nibabel.Nifti1Image
            4-D image, one volume of z-scores per subject (what the masker's
            ``inverse_transform`` returns for several samples).

        Raises
        ------
        ValueError
            If the model was built without a masker.
        """
        check_is_fitted(self, "residual_mean_")
        if self.masker is None:
            raise ValueError(
                f"{type(self).__name__} was built with masker=None; pass the "
                "fitted masker that made the features (masker=...) to map "
                "z-scores back to images."
            )
        return self.masker.inverse_transform(
            self.transform(X, covariates).astype(np.float32)
        )

    def deviation_scores(self, X, covariates=None):
        """Subject-level deviation score: how far each subject is from the norm.

        The z-scores of a subject (those of the regions with ``regions``,
        of every feature otherwise) summarised by their mean square
        (``summary="mean_squared"``, the average squared deviation
        over the brain [1]_ [2]_) or their largest magnitude
        (``summary="max_abs"``), then standardised by the mean and standard
        deviation of that summary over the calibration controls: about 0
        for a new control, large for a subject who deviates.

        Parameters
        ----------
        X : array-like, shape (n_samples, n_features) or (n_samples, ...)
            Features of the subjects, shaped like the calibration controls.
        covariates : array-like of shape (n_samples, n_covariates), default=None
            Their covariates, if the model was calibrated with covariates.

        Returns
        -------
        scores : numpy.ndarray, shape (n_samples,)
            Higher is more deviant.

        References
        ----------
        .. [1] W. H. L. Pinaya et al., "Using deep autoencoders to identify
           abnormal brain structural patterns in neuropsychiatric disorders: A
           large-scale multi-sample study", Human Brain Mapping 40(3), 2019.
        .. [2] A. Lawry Aguila, J. Chapman, M. Janahi and A. Altmann,
           "Conditional VAEs for Confound Removal and Normative Modelling of
           Neurodegenerative Diseases", MICCAI 2022.
        """
        return self.deviations(X, covariates).score
