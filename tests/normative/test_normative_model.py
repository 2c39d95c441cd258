"""NormativeModel: z-scores, p-values, regions, latent deviations, covariates,
the scikit-learn contract, calibration and bad input."""

import copy

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.covariance import MinCovDet
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nidl.estimators.autoencoders import VAE
from nidl.normative import NormativeModel, adjust_p_values
from tests.conftest import make_conv_vae, make_mlp_vae

N_FEATURES = 30
#: Trainer options of the VAEs: short, silent fits that write nothing.
QUIET = {"enable_progress_bar": False, "logger": False,
         "enable_checkpointing": False, "enable_model_summary": False}


def low_rank(n_samples, seed, n_features=N_FEATURES, rank=2, noise=0.3):
    """Controls: a few shared factors plus noise."""
    rng = np.random.default_rng(seed)
    loadings = np.random.default_rng(99).normal(size=(rank, n_features))
    X = rng.normal(size=(n_samples, rank)) @ loadings
    return (X + noise * rng.normal(size=(n_samples, n_features))).astype(np.float32)


@pytest.fixture(scope="module")
def pca_model():
    """A PCA fitted on 200 controls, calibrated on 100 others of the same 300."""
    return NormativeModel(PCA(n_components=2), calibration_size=100,
                          random_state=0).fit(low_rank(300, seed=0))


class Zero(TransformerMixin, BaseEstimator):
    """Latent: the last feature; decodes every code to 0, so that the residual
    of a subject is its features."""

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        return np.asarray(X)[:, -1:]

    def inverse_transform(self, Z):
        return np.zeros((len(Z), self.n_features_in_))


class Conditional(TransformerMixin, BaseEstimator):
    """Stand-in of a conditional autoencoder: the covariates' linear effect is
    removed before a PCA encodes, and added back after it decodes."""

    def __init__(self, n_covariates=2):
        self.n_covariates = n_covariates

    def fit(self, X, y=None, covariates=None):
        self.effect_ = np.linalg.lstsq(covariates, X, rcond=None)[0]
        self.pca_ = PCA(2).fit(X - covariates @ self.effect_)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X, covariates=None):
        return self.pca_.transform(X - covariates @ self.effect_)

    def inverse_transform(self, Z, covariates=None):
        return self.pca_.inverse_transform(Z) + covariates @ self.effect_


def with_covariates(n_samples, seed, n_covariates=2):
    """Controls whose features depend strongly on their covariates."""
    rng = np.random.default_rng(seed + 1000)
    covariates = rng.normal(size=(n_samples, n_covariates)).astype(np.float32)
    effect = np.random.default_rng(7).normal(size=(n_covariates, N_FEATURES))
    X = low_rank(n_samples, seed) + 3 * covariates @ effect
    return X.astype(np.float32), covariates


# ----------------------------------------------------------------------
# Scores and p-values, against hand computation
# ----------------------------------------------------------------------
# Residuals are the features (Zero decodes to 0). Feature 0: mean 2, sd 1;
# feature 1: mean 3, sd 2; feature 2 does not vary (its scale is taken as
# 1); feature 3 is the latent (mean 2), in no region.
CALIBRATION = np.array([[1.0, 1.0, 1.0, 0.0],
                        [1.0, 1.0, 1.0, 4.0],
                        [2.0, 3.0, 1.0, 2.0],
                        [3.0, 5.0, 1.0, 1.0],
                        [3.0, 5.0, 1.0, 3.0]])
#: A subject deviating by 2 standard deviations in region 1; one by 1 in
#: region 1, and by 1 (its scale taken as 1) in the constant feature 2.
SUBJECTS = np.array([[4.0, 7.0, 1.0, 2.0],
                     [3.0, 5.0, 2.0, 2.0]])
REGIONS = [1, 1, 2, 0]


def feature_z(controls, subjects):
    mean, sd = controls.mean(axis=0), controls.std(axis=0, ddof=1)
    return (subjects - mean) / np.where(sd > 0, sd, 1)


def region_z(controls, subjects):
    """Region 1 is features 0 and 1, region 2 feature 2."""
    def region_means(values):
        return np.column_stack([values[:, :2].mean(axis=1), values[:, 2]])

    return feature_z(region_means(controls), region_means(subjects))


def summary_statistic(controls, subjects, summary):
    """The subjects' region z-scores against ``controls``, summarised."""
    z = region_z(controls, subjects)
    return np.mean(z**2, axis=1) if summary == "mean_squared" else np.abs(z).max(1)


def test_zscores_p_values_regions_and_summary_by_hand():
    frozen = FrozenEstimator(Zero().fit(CALIBRATION))
    model = NormativeModel(frozen, regions=REGIONS, random_state=0)
    model.fit(CALIBRATION)
    assert model.calibration_.n_samples == 5
    deviations = model.deviations(SUBJECTS, correction=None)
    np.testing.assert_allclose(deviations.zscores, [[2.0, 2.0, 0.0, 0.0],
                                                    [1.0, 1.0, 1.0, 0.0]])
    np.testing.assert_allclose(model.transform(SUBJECTS), deviations.zscores)
    # Five controls: ten folds at most, so each control is left out on its
    # own, and measured by the norm of the four others.
    left_out = [np.delete(CALIBRATION, i, axis=0) for i in range(5)]
    # Conformal: |z| ranked among the |z| of every feature of every control.
    pooled = np.abs(np.concatenate([
        feature_z(others, CALIBRATION[i:i + 1]) for i, others in enumerate(left_out)
    ]))
    conformal = (1 + (pooled.ravel() >= np.abs(deviations.zscores)[..., None]).sum(-1)
                 ) / (pooled.size + 1)
    np.testing.assert_allclose(deviations.p_values, conformal)
    pooled_regions = np.abs(np.concatenate([
        region_z(others, CALIBRATION[i:i + 1]) for i, others in enumerate(left_out)
    ]))
    np.testing.assert_allclose(
        deviations.region_p_values,
        (1 + (pooled_regions.ravel()
              >= np.abs(deviations.region_zscores)[..., None]).sum(-1))
        / (pooled_regions.size + 1),
    )
    # Parametric: two-sided Student t, 4 degrees of freedom, of
    # z / sqrt(1 + 1 / 5).
    parametric = NormativeModel(frozen, regions=REGIONS, p_values="parametric",
                                random_state=0).fit(CALIBRATION)
    deviations = parametric.deviations(SUBJECTS, correction=None)
    t2, t1 = 2 * stats.t.sf(np.array([2.0, 1.0]) / np.sqrt(1.2), df=4)
    np.testing.assert_allclose(deviations.p_values, [[t2, t2, 1.0, 1.0],
                                                     [t1, t1, t1, 1.0]])
    np.testing.assert_allclose(deviations.corrected_p_values, deviations.p_values)
    # Benjamini-Hochberg within each subject: the 2 (3) smallest of 4 p-values
    # times 4 / 2 (4 / 3).
    fdr = parametric.deviations(SUBJECTS).corrected_p_values
    np.testing.assert_allclose(fdr, [[2 * t2, 2 * t2, 1.0, 1.0],
                                     [4 / 3 * t1, 4 / 3 * t1, 4 / 3 * t1, 1.0]])
    # Region 1: mean residual of features 0 and 1, 1, 1, 2.5, 4, 4 in the
    # calibration (mean 2.5, sd 1.5); the subjects' 5.5 and 4 give 2 and 1.
    # Region 2: feature 2 alone.
    np.testing.assert_allclose(deviations.region_zscores, [[2.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(deviations.region_p_values, [[t2, 1.0], [t1, t1]])
    np.testing.assert_array_equal(model.region_labels_, [1, 2])
    np.testing.assert_array_equal(model.regions_, REGIONS)
    for summary in ("mean_squared", "max_abs"):
        model.set_params(summary=summary).fit(CALIBRATION)
        deviations = model.deviations(SUBJECTS, correction="fwe")
        subjects = summary_statistic(CALIBRATION, SUBJECTS, summary)
        # Mean square of the region z-scores (2, 0) and (1, 1), or largest.
        expected = [2.0, 1.0]
        np.testing.assert_allclose(subjects, expected)
        controls = np.array([
            summary_statistic(others, CALIBRATION[i:i + 1], summary)[0]
            for i, others in enumerate(left_out)
        ])
        expected_score = (subjects - controls.mean()) / controls.std(ddof=1)
        np.testing.assert_allclose(deviations.score, expected_score)
        np.testing.assert_allclose(model.score_samples(SUBJECTS), -expected_score)
        # The subjects are ranked, fold by fold, by the norm of the fold.
        as_extreme = sum(
            controls[i] >= summary_statistic(others, SUBJECTS, summary)
            for i, others in enumerate(left_out)
        )
        np.testing.assert_allclose(deviations.p_value, (1 + as_extreme) / 6)
        # Family-wise: the rank of each |z| among the controls' largest |z|.
        at_least = sum(
            np.abs(feature_z(others, CALIBRATION[i:i + 1])).max()
            >= np.abs(feature_z(others, SUBJECTS))
            for i, others in enumerate(left_out)
        )
        np.testing.assert_allclose(deviations.corrected_p_values,
                                   (1 + at_least) / 6)
        region_at_least = sum(
            np.abs(region_z(others, CALIBRATION[i:i + 1])).max()
            >= np.abs(region_z(others, SUBJECTS))
            for i, others in enumerate(left_out)
        )
        np.testing.assert_allclose(deviations.region_corrected_p_values,
                                   (1 + region_at_least) / 6)
        # Not a trivial ranking: the subjects are not all beyond every control.
        assert as_extreme.max() > 0 and at_least.max() > 0


def test_a_localised_deviation_is_found(pca_model):
    controls = low_rank(50, seed=2)
    patients = low_rank(50, seed=3)
    patients[:, 7] -= 3.0
    z_controls = pca_model.transform(controls)
    z_patients = pca_model.transform(patients)
    # New controls are standard normal; the patients' feature 7 stands out.
    assert abs(z_controls.mean()) < 0.1 and 0.85 < z_controls.std() < 1.15
    assert np.all(np.argmin(z_patients, axis=1) == 7)
    assert z_patients[:, 7].mean() < -4
    scores = pca_model.deviations(np.concatenate([controls, patients])).score
    assert roc_auc_score(np.repeat([0, 1], 50), scores) > 0.99


def test_score_samples_is_higher_for_normal_subjects(pca_model):
    controls = low_rank(20, seed=2)
    deviant = low_rank(1, seed=3)
    deviant[0, 3:9] += 4.0
    X = np.concatenate([controls, deviant])
    normality = pca_model.score_samples(X)
    assert normality.shape == (21,)
    assert np.all(normality[:20] > normality[20])
    np.testing.assert_array_equal(normality, -pca_model.deviations(X).score)
    assert abs(np.median(normality[:20])) < 1  # about 0 for a new control


def test_latent_distance_is_the_robust_mahalanobis_distance(pca_model):
    X = low_rank(40, seed=4)
    deviations = pca_model.deviations(X)
    latents = pca_model.estimator_.transform(X)
    assert isinstance(pca_model.latent_norm_, MinCovDet)
    assert pca_model.n_latents_ == 2
    # A distance, not its square.
    np.testing.assert_allclose(deviations.latent_distance,
                               np.sqrt(pca_model.latent_norm_.mahalanobis(latents)))
    far = low_rank(5, seed=5) + 60 * pca_model.estimator_.components_[0]
    far_deviations = pca_model.deviations(far)
    assert np.all(far_deviations.latent_distance > 2 * deviations.latent_distance.max())
    # Conformal: the smallest p-value a calibration on 100 controls gives.
    np.testing.assert_allclose(far_deviations.latent_p_value, 1 / 101)
    assert np.all(deviations.latent_p_value >= 1 / 101)


def test_parametric_p_values_are_the_normal_and_chi_square_tails():
    model = NormativeModel(PCA(2), p_values="parametric", random_state=0)
    model.fit(low_rank(300, seed=0))
    X = low_rank(10, seed=4)
    deviations = model.deviations(X)
    np.testing.assert_allclose(deviations.p_value, stats.norm.sf(deviations.score))
    np.testing.assert_allclose(
        deviations.latent_p_value,
        stats.chi2.sf(deviations.latent_distance**2, df=2),
    )


def test_deviations_give_every_score_in_one_pass(pca_model):
    X = low_rank(6, seed=6)
    deviations = pca_model.deviations(X)
    assert set(deviations) == {
        "zscores", "p_values", "corrected_p_values", "region_zscores",
        "region_p_values", "region_corrected_p_values", "score", "p_value",
        "latent_distance", "latent_p_value",
    }
    np.testing.assert_array_equal(deviations.zscores, pca_model.transform(X))
    np.testing.assert_array_equal(deviations.score, -pca_model.score_samples(X))
    np.testing.assert_allclose(deviations.corrected_p_values,
                               adjust_p_values(deviations.p_values))
    for name in ("region_zscores", "region_p_values", "region_corrected_p_values"):
        assert deviations[name] is None
    for name in ("score", "p_value", "latent_distance", "latent_p_value"):
        assert deviations[name].shape == (6,)


# ----------------------------------------------------------------------
# Calibrated p-values: the level holds on new controls
# ----------------------------------------------------------------------
N_MIXTURE = 60
#: Three sites, each shifting every feature its own way (scale 3).
SITE_CENTRES = 3 * np.random.default_rng(2024).normal(size=(3, N_MIXTURE))
#: Noise whose scale varies across the features.
MIXTURE_NOISE = np.linspace(0.5, 2, N_MIXTURE)
SEEDS = range(1, 6)


def mixture(n_samples, seed):
    """Controls of a three-site Gaussian mixture in 60 dimensions."""
    rng = np.random.default_rng(seed)
    site = rng.integers(0, 3, size=n_samples)
    noise = MIXTURE_NOISE * rng.normal(size=(n_samples, N_MIXTURE))
    return (SITE_CENTRES[site] + noise).astype(np.float32)


@pytest.fixture(scope="module")
def mixture_pca():
    return FrozenEstimator(PCA(8).fit(mixture(400, seed=0)))


@pytest.fixture(scope="module")
def mixture_fits(mixture_pca):
    """For each of 5 seeds, a normative model calibrated on 100 controls,
    and 2,000 new controls."""
    return [
        (NormativeModel(mixture_pca, random_state=seed).fit(mixture(100, 1000 + seed)),
         mixture(2000, 5000 + seed))
        for seed in SEEDS
    ]


def test_conformal_p_values_hold_their_level_on_a_three_site_mixture(mixture_fits):
    # The share of new controls called abnormal at 5% must be 5%. For one
    # calibration set of 100 it varies about it with a standard deviation
    # of about 0.02 (the Beta law of conformal coverage): the mean over 5
    # independent calibration sets is within 0.02.
    latent, subject = [], []
    for model, new in mixture_fits:
        assert model.calibration_.n_samples == 100
        deviations = model.deviations(new, correction=None)
        assert deviations.latent_p_value.min() >= 1 / 101
        latent.append(np.mean(deviations.latent_p_value <= 0.05))
        subject.append(np.mean(deviations.p_value <= 0.05))
    assert 0.03 <= np.mean(latent) <= 0.07, latent
    assert 0.03 <= np.mean(subject) <= 0.07, subject


def test_chi_square_p_values_call_too_many_controls_of_a_mixture_abnormal(
    mixture_pca,
):
    # The chi-square law assumes Gaussian latents: the latents of three sites
    # are not, and the robust covariance of 100 is not the covariance.
    latent = []
    for seed in SEEDS:
        model = NormativeModel(mixture_pca, p_values="parametric", random_state=seed)
        model.fit(mixture(100, 1000 + seed))
        deviations = model.deviations(mixture(2000, 5000 + seed), correction=None)
        latent.append(np.mean(deviations.latent_p_value <= 0.05))
    assert np.mean(latent) > 0.07, latent


def test_feature_p_values_of_new_controls_hold_their_level(mixture_fits):
    uncorrected, fwe, fdr = [], [], []
    for model, new in mixture_fits:
        family_wise = model.deviations(new, correction="fwe")
        uncorrected.append(np.mean(family_wise.p_values <= 0.05))
        fwe.append(np.mean(np.any(family_wise.corrected_p_values <= 0.05, axis=1)))
        benjamini = model.deviations(new, correction="fdr")
        fdr.append(np.mean(np.any(benjamini.corrected_p_values <= 0.05, axis=1)))
        # Conformal family-wise p-values never go below 1 / (n + 1).
        assert family_wise.corrected_p_values.min() >= 1 / 101
    # 5% of the features of new controls; at most 5% of new controls with
    # any feature flagged (every feature is normal: the false discovery
    # rate is then the family-wise rate).
    assert 0.04 <= np.mean(uncorrected) <= 0.06, uncorrected
    assert np.mean(fwe) <= 0.07, fwe
    assert np.mean(fdr) <= 0.07, fdr


@pytest.mark.parametrize("correction", ["fdr", "fwe"])
def test_corrections_flag_a_strong_localised_deviation_and_little_else(
    mixture_fits, correction,
):
    model, new = mixture_fits[0]
    patients = new[:200].copy()
    # 8 standard deviations in 3 features. (The shift also moves the PCA's
    # reconstruction of the other features a little, more so for a shift of
    # more features: their residuals are then truly shifted too.)
    patients[:, 20:23] += 8 * MIXTURE_NOISE[20:23]
    flagged = model.deviations(patients, correction=correction).corrected_p_values
    flagged = flagged <= 0.05
    assert np.all(flagged[:, 20:23])
    elsewhere = np.delete(flagged, np.s_[20:23], axis=1)
    assert elsewhere.mean() < 0.01
    controls = model.deviations(new[200:700], correction=correction)
    assert np.mean(controls.corrected_p_values <= 0.05) < 0.01


# ----------------------------------------------------------------------
# The scikit-learn contract
# ----------------------------------------------------------------------
def test_fit_fits_a_clone_and_leaves_the_estimator_unfitted():
    pca = PCA(2)
    model = NormativeModel(pca, random_state=0).fit(low_rank(150, seed=0))
    assert model.estimator is pca
    with pytest.raises(NotFittedError):
        pca.transform(low_rank(3, seed=1))
    assert model.estimator_ is not pca and model.estimator_.n_components_ == 2
    assert model.n_features_in_ == N_FEATURES and model.sample_shape_ == (N_FEATURES,)
    assert model.n_covariates_ == 0
    assert model.residual_mean_.shape == model.residual_scale_.shape == (N_FEATURES,)
    assert model.regions_ is None and model.region_labels_ is None
    assert model.region_mean_ is None and model.region_scale_ is None
    assert model.calibration_.summary == "mean_squared"
    assert model.calibration_.p_values == "conformal"
    assert len(model.calibration_.folds) == 10
    assert model.calibration_.statistic_scale > 0


def test_a_clone_of_the_model_fits(pca_model):
    copy = clone(pca_model)
    assert not hasattr(copy, "calibration_")
    copy.fit(low_rank(300, seed=0))
    X = low_rank(4, seed=8)
    # Same parameters, same random_state: the same fit.
    np.testing.assert_allclose(copy.transform(X), pca_model.transform(X))
    np.testing.assert_allclose(copy.deviations(X).p_value,
                               pca_model.deviations(X).p_value)
    # A frozen estimator stays fitted in a clone, and is used as it is.
    frozen = NormativeModel(FrozenEstimator(pca_model.estimator_))
    assert clone(frozen).estimator.estimator is pca_model.estimator_
    clone(frozen).fit(low_rank(40, seed=1)).transform(X)


def test_in_a_pipeline_after_a_scaler():
    X = 5 + 3 * low_rank(150, seed=0)
    new = 5 + 3 * low_rank(6, seed=1)
    pipeline = make_pipeline(StandardScaler(),
                             NormativeModel(PCA(3), random_state=0)).fit(X)
    scaler = StandardScaler().fit(X)
    alone = NormativeModel(PCA(3), random_state=0).fit(scaler.transform(X))
    np.testing.assert_allclose(pipeline.transform(new),
                               alone.transform(scaler.transform(new)), rtol=1e-5)
    np.testing.assert_allclose(pipeline.score_samples(new),
                               alone.score_samples(scaler.transform(new)),
                               rtol=1e-5)
    assert pipeline.transform(new).shape == (6, N_FEATURES)


def test_get_params_and_set_params_round_trip():
    model = NormativeModel(PCA(2), calibration_size=40, summary="max_abs",
                           p_values="parametric", support_fraction=0.9,
                           random_state=3)
    params = model.get_params(deep=False)
    assert params == {
        "estimator": model.estimator, "calibration_size": 40, "masker": None,
        "regions": None, "summary": "max_abs", "p_values": "parametric",
        "support_fraction": 0.9, "random_state": 3,
    }
    assert NormativeModel(**params).get_params(deep=False) == params
    model.set_params(summary="mean_squared", estimator__n_components=3)
    assert model.get_params()["summary"] == "mean_squared"
    assert model.get_params()["estimator__n_components"] == 3
    assert model.fit(low_rank(150, seed=0)).n_latents_ == 3


@pytest.mark.parametrize("param, value", [("summary", "max_abs"),
                                          ("p_values", "parametric")])
def test_parameters_set_after_fit_apply_at_the_next_fit(param, value):
    X, new = low_rank(150, seed=0), low_rank(10, seed=1)
    model = NormativeModel(PCA(2), random_state=0).fit(X)
    before = model.deviations(new)
    model.set_params(**{param: value})
    # The calibration was made for the parameters of the fit.
    after = model.deviations(new)
    for name in ("score", "p_value", "latent_p_value"):
        np.testing.assert_array_equal(after[name], before[name])
    assert model.calibration_[param] != value
    model.fit(X)
    assert model.calibration_[param] == value
    refitted = model.deviations(new)
    changed = "score" if param == "summary" else "p_value"
    assert not np.allclose(refitted[changed], before[changed])
    np.testing.assert_array_equal(refitted.zscores, before.zscores)


class Truncated(PCA):
    """A PCA whose decoder drops the last feature."""

    def inverse_transform(self, X):
        return super().inverse_transform(X)[:, :-1]


def test_a_failed_refit_leaves_the_previous_fit():
    X, new = low_rank(150, seed=0), low_rank(10, seed=1)
    model = NormativeModel(PCA(2), random_state=0).fit(X)
    estimator, calibration = model.estimator_, model.calibration_
    before = model.deviations(new)
    bad = X.copy()
    bad[3, 4] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        model.fit(bad)
    # A failure after the clone is fitted, when the calibration is scored.
    model.set_params(estimator=Truncated(2))
    with pytest.raises(ValueError, match="inverse_transform returns 29 values"):
        model.fit(X)
    assert model.estimator_ is estimator and model.calibration_ is calibration
    after = model.deviations(new)
    for name in ("zscores", "score", "p_value", "latent_distance"):
        np.testing.assert_array_equal(after[name], before[name])


# ----------------------------------------------------------------------
# Calibration controls
# ----------------------------------------------------------------------
def test_an_int_calibration_size_is_a_number_of_controls():
    model = NormativeModel(PCA(2), calibration_size=37, random_state=0)
    model.fit(low_rank(150, seed=0))
    assert model.calibration_.n_samples == 37
    assert model.estimator_.n_samples_ == 113


@pytest.mark.parametrize("calibration_size", [100, 99, 0.995])
def test_a_calibration_size_that_leaves_nothing_to_train_on(calibration_size):
    model = NormativeModel(PCA(2), calibration_size=calibration_size)
    with pytest.raises(ValueError, match="which leaves [01] to train"):
        model.fit(low_rank(100, seed=0))
    assert not hasattr(model, "estimator_")


def test_fit_transform_is_fit_then_transform():
    X = low_rank(150, seed=0)
    model = NormativeModel(PCA(2), calibration_size=50, random_state=0)
    zscores = model.fit_transform(X)
    np.testing.assert_allclose(zscores, model.transform(X))
    assert zscores.shape == X.shape


def test_a_float_calibration_size_is_a_share_of_the_controls():
    model = NormativeModel(PCA(2), calibration_size=0.25, random_state=0)
    model.fit(low_rank(150, seed=0))
    assert model.calibration_.n_samples in (37, 38)
    assert model.calibration_.n_samples + model.estimator_.n_samples_ == 150
    # Another random_state holds out other controls.
    other = NormativeModel(PCA(2), calibration_size=0.25, random_state=1)
    other.fit(low_rank(150, seed=0))
    assert not np.allclose(other.residual_scale_, model.residual_scale_)


def test_held_out_controls_calibrate_when_given():
    X, calibration = low_rank(150, seed=0), low_rank(40, seed=1)
    model = NormativeModel(PCA(2), random_state=0).fit(X, X_calibration=calibration)
    assert model.calibration_.n_samples == 40
    assert model.estimator_.n_samples_ == 150
    # The norm is that of the given controls, against the PCA of all of X.
    pca = PCA(2).fit(X)
    residual = calibration - pca.inverse_transform(pca.transform(calibration))
    np.testing.assert_allclose(model.residual_mean_, residual.mean(axis=0),
                               atol=1e-5)
    np.testing.assert_allclose(model.residual_scale_, residual.std(axis=0, ddof=1),
                               rtol=1e-4)


def test_a_frozen_estimator_is_calibrated_on_all_the_controls():
    pca = PCA(2).fit(low_rank(150, seed=0))
    model = NormativeModel(FrozenEstimator(pca), random_state=0)
    model.fit(low_rank(40, seed=1))
    assert model.calibration_.n_samples == 40
    assert model.estimator_.estimator is pca
    with pytest.raises(ValueError, match="frozen .*leave X_calibration=None"):
        model.fit(low_rank(40, seed=1), X_calibration=low_rank(40, seed=2))


def test_a_frozen_estimator_must_be_fitted():
    with pytest.raises(NotFittedError, match="fit it before wrapping it"):
        NormativeModel(FrozenEstimator(PCA(2))).fit(low_rank(40, seed=1))


def test_errors_about_a_frozen_estimator_name_the_estimator():
    with pytest.raises(NotFittedError, match="frozen estimator PCA is not fitted"):
        NormativeModel(FrozenEstimator(PCA(2))).fit(low_rank(40, seed=1))
    pca = FrozenEstimator(PCA(2).fit(low_rank(100, seed=0)))
    with pytest.raises(ValueError, match="but PCA was fitted on samples"):
        NormativeModel(pca).fit(low_rank(40, seed=1, n_features=N_FEATURES - 5))


class Counting(PCA):
    """A PCA that counts the times it fits or encodes."""

    calls = 0

    def fit(self, X, y=None):
        Counting.calls += 1
        return super().fit(X, y)

    def transform(self, X):
        Counting.calls += 1
        return super().transform(X)


@pytest.fixture
def counting():
    Counting.calls = 0
    yield Counting(2)
    Counting.calls = 0


@pytest.mark.parametrize("params, match", [
    ({"calibration_size": 0}, "calibration_size"),
    ({"calibration_size": 2}, "calibration_size"),
    ({"calibration_size": 1.5}, "calibration_size"),
    ({"calibration_size": -2}, "calibration_size"),
    ({"calibration_size": 1.0}, "calibration_size"),
    ({"p_values": "bootstrap"}, "p_values='bootstrap'"),
    ({"summary": "median"}, "summary='median'"),
    ({"support_fraction": 0}, "support_fraction"),
    ({"regions": np.ones(10)}, "one label per feature"),
    ({"regions": np.full(N_FEATURES, 1.5)}, "not integers"),
    ({"regions": np.zeros(N_FEATURES)}, "at least one region"),
    ({"calibration_size": 6}, "6 calibration controls is too few.*at least 7"),
])
def test_bad_parameters_are_refused_before_any_work(counting, params, match):
    model = NormativeModel(counting, **params)
    with pytest.raises(ValueError, match=match):
        model.fit(low_rank(100, seed=0))
    assert Counting.calls == 0
    assert not hasattr(model, "calibration_")


def test_bad_fit_arguments_are_refused_before_any_work(counting):
    X = low_rank(100, seed=0)
    model = NormativeModel(counting)
    with pytest.raises(ValueError, match="covariates_calibration was given without"):
        model.fit(X, covariates_calibration=np.ones((20, 2)))
    with pytest.raises(ValueError, match="another grid"):
        model.fit(X, X_calibration=low_rank(20, seed=1, n_features=N_FEATURES + 1))
    nan = X.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(nan)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(X, X_calibration=nan[:20])
    with pytest.raises(ValueError, match="take no covariates"):
        model.fit(X, covariates=np.ones((100, 2)))
    assert Counting.calls == 0


def test_too_few_calibration_controls():
    # 2 latents: each of the folds that score the calibration controls keeps
    # 2 * (2 + 1) = 6 of them for the robust covariance: 7 controls at least.
    pca = FrozenEstimator(PCA(2).fit(low_rank(100, seed=0)))
    assert NormativeModel(pca).fit(low_rank(7, seed=1)).calibration_.n_samples == 7
    with pytest.raises(ValueError, match="6 calibration controls is too few.*at "
                                         "least 7"):
        NormativeModel(pca).fit(low_rank(6, seed=1))
    with pytest.raises(ValueError, match="6 calibration controls is too few"):
        NormativeModel(PCA(2)).fit(low_rank(100, seed=0),
                                   X_calibration=low_rank(6, seed=1))


def test_a_bad_correction_is_refused(pca_model):
    with pytest.raises(ValueError, match="correction='bonferroni'"):
        pca_model.deviations(low_rank(3, seed=1), correction="bonferroni")


# ----------------------------------------------------------------------
# Images, regions and maskers
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def masked():
    """A 6x5x4 grid with a 3-D mask of 30 voxels and its NiftiMasker."""
    nibabel = pytest.importorskip("nibabel")
    maskers = pytest.importorskip("nilearn.maskers")
    mask = np.zeros((6, 5, 4), dtype=np.uint8)
    mask[1:4, 1:3, 0:4] = 1
    mask[4, 1:4, 1:3] = 1
    assert mask.sum() == 30
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    masker = maskers.NiftiMasker(nibabel.Nifti1Image(mask, affine),
                                 standardize=None).fit()
    labels = np.zeros(mask.shape, dtype=np.int32)
    labels[mask > 0] = 1 + np.arange(30) % 3  # three interleaved regions
    return masker, nibabel.Nifti1Image(labels, affine), labels[mask > 0]


def test_in_a_pipeline_after_a_nifti_masker(masked):
    from nilearn.maskers import NiftiMasker

    masker, _, _ = masked
    X, new = low_rank(150, seed=0), low_rank(5, seed=3)
    images, new_images = masker.inverse_transform(X), masker.inverse_transform(new)
    pipeline = make_pipeline(
        NiftiMasker(masker.mask_img_, standardize=None),
        NormativeModel(PCA(2), random_state=0),
    ).fit(images)
    alone = NormativeModel(PCA(2), random_state=0).fit(X)
    np.testing.assert_allclose(pipeline.transform(new_images), alone.transform(new),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(pipeline.score_samples(new_images),
                               alone.score_samples(new), rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def mapped(masked):
    """A model on the masker's 30 voxels, and subjects deviating in 3 voxels."""
    masker, _, _ = masked
    model = NormativeModel(PCA(2), masker=masker, random_state=0)
    model.fit(low_rank(150, seed=0))
    X = low_rank(4, seed=9)
    X[:2, [3, 4, 5]] += 3.0  # 10 standard deviations of the noise
    return model, X


def test_deviation_maps_are_the_zscores_through_the_masker(masked, mapped):
    masker, _, _ = masked
    model, X = mapped
    maps = model.deviation_maps(X)
    assert maps.shape == (6, 5, 4, 4)
    data = maps.get_fdata()
    mask = masker.mask_img_.get_fdata() > 0
    np.testing.assert_allclose(data[mask].T, model.transform(X), rtol=1e-6,
                               atol=1e-6)
    assert np.all(data[~mask] == 0)


@pytest.mark.parametrize("correction", ["fdr", "fwe", None])
def test_deviation_maps_at_a_level_keep_only_the_significant_voxels(
    masked, mapped, correction,
):
    masker, _, _ = masked
    model, X = mapped
    deviations = model.deviations(X, correction=correction)
    kept = deviations.corrected_p_values <= 0.05
    assert np.all(kept[:2, [3, 4, 5]]) and kept.sum() < kept.size // 2
    data = model.deviation_maps(X, alpha=0.05, correction=correction).get_fdata()
    values = data[masker.mask_img_.get_fdata() > 0].T
    np.testing.assert_allclose(values[kept], deviations.zscores[kept], rtol=1e-6)
    assert np.all(values[~kept] == 0)


def test_regions_from_an_image_or_an_array(masked):
    masker, label_image, labels = masked
    X, new = low_rank(150, seed=0), low_rank(3, seed=9)
    from_image = NormativeModel(PCA(2), masker=masker, regions=label_image,
                                random_state=0).fit(X)
    from_array = NormativeModel(PCA(2), regions=labels, random_state=0).fit(X)
    np.testing.assert_array_equal(from_image.regions_, labels)
    image, array = from_image.deviations(new), from_array.deviations(new)
    assert image.region_zscores.shape == (3, 3)
    np.testing.assert_array_equal(from_image.region_labels_, [1, 2, 3])
    for name in ("region_zscores", "region_p_values", "region_corrected_p_values",
                 "score"):
        np.testing.assert_allclose(image[name], array[name])
    # With regions, the subject-level score summarises the region z-scores.
    plain = NormativeModel(PCA(2), random_state=0).fit(X)
    assert not np.allclose(plain.deviations(new).score, array.score)


def test_regions_and_maps_need_what_they_use(masked):
    _, label_image, _ = masked
    X = low_rank(150, seed=0)
    plain = NormativeModel(PCA(2), random_state=0).fit(X)
    with pytest.raises(ValueError, match="masker=None"):
        plain.deviation_maps(X[:3])
    with pytest.raises(ValueError, match="needs the masker"):
        NormativeModel(PCA(2), regions=label_image).fit(X)


def test_bad_alpha_is_refused(mapped):
    model, X = mapped
    for alpha in (0, 1.0, -0.1, 2):
        with pytest.raises(ValueError, match="alpha"):
            model.deviation_maps(X, alpha=alpha)


# ----------------------------------------------------------------------
# nidl VAEs: posterior means
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def vae_model():
    torch.manual_seed(0)
    vae = make_mlp_vae(n_features=N_FEATURES, latent_dim=2, max_epochs=3,
                       stochastic_transform=False, **QUIET)
    return NormativeModel(vae, random_state=0).fit(
        low_rank(64, seed=0), X_calibration=low_rank(40, seed=1)
    )


def test_a_vae_gives_its_posterior_means(vae_model):
    vae = vae_model.estimator_
    X = low_rank(5, seed=2)
    first, second = vae_model.deviations(X), vae_model.deviations(X)
    np.testing.assert_array_equal(first.zscores, second.zscores)
    np.testing.assert_array_equal(first.latent_distance, second.latent_distance)
    # The reconstruction is the decoder's mean at the latent means.
    latents = vae.transform(X)
    expected = vae.inverse_transform(latents)
    np.testing.assert_allclose(
        first.zscores,
        (X - expected - vae_model.residual_mean_) / vae_model.residual_scale_,
        rtol=1e-4, atol=1e-4,
    )
    np.testing.assert_allclose(
        first.latent_distance,
        np.sqrt(vae_model.latent_norm_.mahalanobis(latents)), rtol=1e-5,
    )
    assert vae_model.n_latents_ == 2


def test_a_stochastic_vae_is_refused_before_any_fitting(monkeypatch, vae_model):
    def no_fit(self, *args, **kwargs):
        raise AssertionError("the VAE was fitted")

    monkeypatch.setattr(VAE, "fit", no_fit)
    torch.manual_seed(0)
    stochastic = make_mlp_vae(n_features=N_FEATURES, stochastic_transform=True,
                              **QUIET)
    with pytest.raises(ValueError, match="stochastic_transform=True"):
        NormativeModel(stochastic).fit(low_rank(64, seed=0))
    # A fitted one too, and the message says how to keep its weights.
    vae = copy.deepcopy(vae_model.estimator_).set_params(stochastic_transform=True)
    with pytest.raises(ValueError, match=r"set_params\(stochastic_transform=False\)"):
        NormativeModel(FrozenEstimator(vae)).fit(low_rank(40, seed=1))


def test_a_convolutional_vae_on_volumes():
    shape = (8, 8, 8)
    rng = np.random.default_rng(0)
    volumes = rng.normal(size=(40, 1, *shape)).astype(np.float32)
    torch.manual_seed(0)
    vae = make_conv_vae(shape, stochastic_transform=False, **QUIET)
    regions = np.repeat(np.arange(1, 9), 64).reshape(1, *shape)
    model = NormativeModel(vae, regions=regions, random_state=0)
    model.fit(volumes[:20], X_calibration=volumes[20:])
    assert model.sample_shape_ == (1, *shape) and model.n_features_in_ == 512
    deviations = model.deviations(volumes[:3])
    assert deviations.zscores.shape == deviations.p_values.shape == (3, 1, *shape)
    assert deviations.region_zscores.shape == (3, 8)
    with pytest.raises(ValueError, match="another grid"):
        model.transform(volumes[:3, :, :4])


# ----------------------------------------------------------------------
# Covariates
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def conditional_model():
    X, covariates = with_covariates(200, seed=0)
    calibration, calibration_covariates = with_covariates(60, seed=1)
    return NormativeModel(Conditional(), random_state=0).fit(
        X, covariates=covariates, X_calibration=calibration,
        covariates_calibration=calibration_covariates,
    )


def test_covariates_reach_fit_transform_and_inverse_transform(conditional_model):
    model = conditional_model
    assert model.n_covariates_ == 2
    # The clone was fitted with the training controls' covariates.
    X, covariates = with_covariates(200, seed=0)
    effect = np.linalg.lstsq(covariates, X, rcond=None)[0]
    np.testing.assert_allclose(model.estimator_.effect_, effect, rtol=1e-4,
                               atol=1e-4)
    test, test_covariates = with_covariates(40, seed=2)
    right = model.deviations(test, covariates=test_covariates).score
    # Someone else's covariates make the subjects look abnormal.
    wrong = model.deviations(test, covariates=test_covariates[::-1]).score
    assert abs(np.median(right)) < 1 and np.median(wrong) > 10
    np.testing.assert_array_equal(
        model.score_samples(test, covariates=test_covariates), -right
    )


def test_covariates_split_with_their_controls():
    X, covariates = with_covariates(150, seed=0)
    model = NormativeModel(Conditional(), calibration_size=50, random_state=0)
    model.fit(X, covariates=covariates)
    test, test_covariates = with_covariates(40, seed=2)
    # Were the covariates split apart from their controls, the linear effect
    # would be wrong and new controls abnormal.
    assert abs(np.median(model.deviations(test, test_covariates).score)) < 1


@pytest.mark.parametrize("given", [None, 1, 3])
def test_other_covariates_than_fitted(conditional_model, given):
    X, _ = with_covariates(5, seed=2)
    other = None if given is None else np.ones((5, given), dtype=np.float32)
    with pytest.raises(ValueError, match="fitted with 2 covariates but "
                                         f"{given or 'none'} were given"):
        conditional_model.transform(X, covariates=other)


def test_covariates_refused_by_an_estimator_without_them(pca_model):
    with pytest.raises(ValueError, match="take no covariates"):
        NormativeModel(PCA(2)).fit(low_rank(100, seed=1),
                                   covariates=np.ones((100, 2)))
    with pytest.raises(ValueError, match="fitted without covariates"):
        pca_model.transform(low_rank(4, seed=1), covariates=np.ones((4, 2)))


def test_covariates_checked_against_the_estimator():
    X, covariates = with_covariates(100, seed=0)
    calibration, calibration_covariates = with_covariates(40, seed=1)
    model = NormativeModel(Conditional())
    with pytest.raises(ValueError, match="n_covariates=2; pass the covariates"):
        model.fit(X)
    with pytest.raises(ValueError, match="3 columns but Conditional was built with "
                                         "n_covariates=2"):
        model.fit(X, covariates=np.ones((100, 3)))
    with pytest.raises(ValueError, match="one row of covariates per subject"):
        model.fit(X, covariates=covariates[:10])
    with pytest.raises(ValueError, match="2 covariates but none were given in "
                                         "covariates_calibration"):
        model.fit(X, covariates=covariates, X_calibration=calibration)
    with pytest.raises(ValueError, match="2 covariates but 3 were given in "
                                         "covariates_calibration"):
        model.fit(X, covariates=covariates, X_calibration=calibration,
                  covariates_calibration=np.ones((40, 3)))
    with pytest.raises(ValueError, match="covariates_calibration has 10 rows"):
        model.fit(X, covariates=covariates, X_calibration=calibration,
                  covariates_calibration=calibration_covariates[:10])
    assert not hasattr(model, "calibration_")


def test_a_conditional_vae_gets_the_covariates():
    from nidl.estimators.autoencoders import ConditionalVAE
    from tests.conftest import mlp

    X, covariates = with_covariates(120, seed=0)
    encoder, decoder = mlp(N_FEATURES, code_dim=2 + 2, hidden=16)
    cvae = ConditionalVAE(encoder, decoder, encoder_out_dim=16, latent_dim=2,
                          n_covariates=2, lr=1e-2, batch_size=16, random_state=0,
                          stochastic_transform=False, max_epochs=2,
                          accelerator="cpu", **QUIET)
    model = NormativeModel(cvae, random_state=0).fit(
        X[:80], covariates=covariates[:80], X_calibration=X[80:],
        covariates_calibration=covariates[80:],
    )
    fitted = model.estimator_
    assert fitted is not cvae
    test, test_covariates = with_covariates(5, seed=3)
    # The residual is that of the reconstruction given the subjects' own
    # covariates, in encoding and in decoding.
    latents = fitted.transform(test, covariates=test_covariates)
    expected = fitted.inverse_transform(latents, covariates=test_covariates)
    deviations = model.deviations(test, covariates=test_covariates)
    np.testing.assert_allclose(
        deviations.zscores,
        (test - expected - model.residual_mean_) / model.residual_scale_,
        rtol=1e-4, atol=1e-4,
    )
    np.testing.assert_allclose(
        deviations.latent_distance,
        np.sqrt(model.latent_norm_.mahalanobis(latents)), rtol=1e-5,
    )
    with pytest.raises(ValueError, match="n_covariates=2; pass the covariates"):
        NormativeModel(cvae).fit(X[80:])
    with pytest.raises(ValueError, match="built with n_covariates=2"):
        NormativeModel(cvae).fit(X[80:], covariates=np.ones((40, 3)))


# ----------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------
def test_scoring_before_fitting(counting):
    model = NormativeModel(counting)
    for method in (model.transform, model.score_samples, model.deviations,
                   model.deviation_maps):
        with pytest.raises(NotFittedError):
            method(low_rank(3, seed=1))
    assert Counting.calls == 0


def test_subjects_on_another_grid(counting):
    model = NormativeModel(counting, random_state=0).fit(low_rank(100, seed=1))
    Counting.calls = 0
    with pytest.raises(ValueError, match="another grid"):
        model.transform(low_rank(3, seed=2, n_features=N_FEATURES + 1))
    with pytest.raises(ValueError, match="another grid"):
        NormativeModel(FrozenEstimator(model.estimator_)).fit(
            low_rank(40, seed=1, n_features=N_FEATURES - 5)
        )
    assert Counting.calls == 0


def test_non_finite_subjects(pca_model):
    X = low_rank(3, seed=1)
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pca_model.transform(X)
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        pca_model.deviations(X)


def test_an_estimator_that_does_not_decode():
    class EncodeOnly(BaseEstimator):
        def fit(self, X, y=None):
            return self

        def transform(self, X):
            return X

    with pytest.raises(TypeError, match="no inverse_transform"):
        NormativeModel(EncodeOnly()).fit(low_rank(40, seed=1))


def test_a_decoder_that_does_not_output_its_input():
    with pytest.raises(ValueError, match="returns 29 values per subject but X has "
                                         "30"):
        NormativeModel(Truncated(2)).fit(low_rank(100, seed=1))
