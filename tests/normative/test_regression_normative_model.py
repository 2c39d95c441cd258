"""RegressionNormativeModel: residuals of a regression on the covariates."""

import numpy as np
import pytest
from scipy import stats
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression

from nidl.normative import NormativeModel, RegressionNormativeModel

REGIONS = np.repeat([1, 2, 3], 4)


def cohort(n_samples, seed, n_features=12):
    """Features that grow with age (column 0) and differ by site (one-hot
    columns 1 and 2), plus noise of standard deviation 0.5."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(-1, 1, size=n_samples)
    site = np.eye(2)[rng.integers(0, 2, size=n_samples)]
    covariates = np.column_stack([age, site]).astype(np.float32)
    noise = rng.normal(size=(n_samples, n_features))
    X = 3 * age[:, None] + 2 * site[:, :1] + 0.5 * noise
    return X.astype(np.float32), covariates


@pytest.fixture(scope="module")
def model():
    """A linear regression fitted on 400 controls, calibrated on 300 others."""
    X, covariates = cohort(700, seed=0)
    return RegressionNormativeModel(
        LinearRegression(), calibration_size=300, regions=REGIONS, random_state=0,
    ).fit(X, covariates=covariates)


def test_zscores_are_the_standardised_residuals(model):
    assert model.calibration_.n_samples == 300
    X, covariates = cohort(500, seed=2)
    z = model.transform(X, covariates=covariates)
    # The residual of a new control is the noise: z-scores of mean 0 and
    # standard deviation 1, whatever the age and site.
    assert abs(z.mean()) < 0.05 and 0.95 < z.std() < 1.05
    assert abs(np.corrcoef(z[:, 0], covariates[:, 0])[0, 1]) < 0.1
    np.testing.assert_allclose(model.residual_scale_, 0.5, rtol=0.15)
    # Feature p-values of new controls hold their level.
    assert 0.035 < np.mean(model.deviations(X, covariates).p_values <= 0.05) < 0.065
    # A subject 1.5 lower than expected (3 standard deviations) in region 2.
    X[:, 4:8] -= 1.5
    deviations = model.deviations(X, covariates=covariates)
    region_z = deviations.region_zscores
    assert region_z[:, 1].mean() < -5  # the mean of 4 features: sd 0.25
    assert abs(region_z[:, [0, 2]].mean()) < 0.2
    np.testing.assert_allclose(deviations.zscores[:, 4:8].mean(), -3, atol=0.2)
    assert np.mean(deviations.region_corrected_p_values[:, 1] <= 0.05) > 0.95
    assert deviations.region_zscores.shape == (500, 3)
    np.testing.assert_array_equal(model.region_labels_, [1, 2, 3])


def test_fit_regresses_the_features_on_the_training_controls_covariates():
    X, covariates = cohort(200, seed=0)
    calibration, calibration_covariates = cohort(60, seed=1)
    regression = LinearRegression()
    model = RegressionNormativeModel(regression, random_state=0).fit(
        X, covariates=covariates, X_calibration=calibration,
        covariates_calibration=calibration_covariates,
    )
    # A clone is fitted; the regressor passed stays unfitted.
    assert model.estimator is regression and not hasattr(regression, "coef_")
    np.testing.assert_allclose(model.estimator_.coef_,
                               LinearRegression().fit(covariates, X).coef_,
                               rtol=1e-5, atol=1e-5)
    assert model.calibration_.n_samples == 60
    assert model.n_covariates_ == 3 and model.n_features_in_ == 12
    residual = calibration - model.estimator_.predict(calibration_covariates)
    np.testing.assert_allclose(model.residual_mean_, residual.mean(axis=0),
                               atol=1e-5)
    np.testing.assert_allclose(model.residual_scale_, residual.std(axis=0, ddof=1),
                               rtol=1e-4)
    # A clone of the model fits alike.
    copy = clone(model).fit(X, covariates=covariates, X_calibration=calibration,
                            covariates_calibration=calibration_covariates)
    new, new_covariates = cohort(5, seed=2)
    np.testing.assert_allclose(copy.deviations(new, new_covariates).p_value,
                               model.deviations(new, new_covariates).p_value)


def test_the_calibration_split_keeps_each_control_with_its_covariates():
    X, covariates = cohort(300, seed=0)
    model = RegressionNormativeModel(LinearRegression(), calibration_size=0.3,
                                     random_state=0).fit(X, covariates=covariates)
    assert model.calibration_.n_samples == 90
    new, new_covariates = cohort(500, seed=2)
    z = model.transform(new, covariates=new_covariates)
    assert abs(z.mean()) < 0.1 and 0.9 < z.std() < 1.1


def test_a_frozen_regressor_is_calibrated_on_all_the_controls(model):
    X, covariates = cohort(80, seed=1)
    frozen = RegressionNormativeModel(FrozenEstimator(model.estimator_))
    frozen.fit(X, covariates=covariates)
    assert frozen.calibration_.n_samples == 80
    residual = X - model.estimator_.predict(covariates)
    np.testing.assert_allclose(frozen.residual_scale_, residual.std(axis=0, ddof=1),
                               rtol=1e-4)


class Predicts(BaseEstimator):
    """An "autoencoder" that decodes every subject to a regression's
    prediction from its covariates."""

    n_covariates = 3

    def __init__(self, regression=None):
        self.regression = regression

    def fit(self, X, y=None, covariates=None):
        return self

    def __sklearn_is_fitted__(self):
        return True

    def transform(self, X, covariates=None):
        return covariates[:, :2]  # age and the first site: not collinear

    def inverse_transform(self, Z, covariates=None):
        return self.regression.predict(covariates)


@pytest.mark.parametrize("p_values", ["conformal", "parametric"])
def test_the_same_scores_as_a_normative_model_of_the_same_predictions(p_values):
    # Scored the same way as an autoencoder: an "autoencoder" that decodes
    # every subject to the regression's prediction gives the same z-scores,
    # region scores, subject scores and p-values.
    X, covariates = cohort(200, seed=0)
    calibration, calibration_covariates = cohort(100, seed=1)
    calibrated = {"X_calibration": calibration,
                  "covariates_calibration": calibration_covariates}
    regression = RegressionNormativeModel(
        LinearRegression(), regions=REGIONS, p_values=p_values, random_state=0,
    ).fit(X, covariates=covariates, **calibrated)
    # FrozenEstimator: a clone of Predicts keeps the fitted regression.
    predicts = Predicts(FrozenEstimator(regression.estimator_))
    autoencoder = NormativeModel(predicts, regions=REGIONS, p_values=p_values,
                                 random_state=0)
    autoencoder.fit(X, covariates=covariates, **calibrated)
    new, new_covariates = cohort(40, seed=3)
    new[:5, :4] += 2.0
    for correction in ("fdr", "fwe", None):
        expected = regression.deviations(new, new_covariates, correction=correction)
        got = autoencoder.deviations(new, new_covariates, correction=correction)
        for name, value in expected.items():
            np.testing.assert_allclose(got[name], value, err_msg=name)
    assert "latent_distance" not in expected
    np.testing.assert_allclose(autoencoder.score_samples(new, new_covariates),
                               regression.score_samples(new, new_covariates))


def test_subject_p_values_are_conformal_or_the_normal_tail():
    X, covariates = cohort(300, seed=0)
    new, new_covariates = cohort(20, seed=3)
    new[:3] += 2.0
    conformal = RegressionNormativeModel(LinearRegression(), calibration_size=100,
                                         random_state=0)
    deviations = conformal.fit(X, covariates=covariates).deviations(
        new, new_covariates
    )
    assert np.all(deviations.p_value >= 1 / 101)
    np.testing.assert_allclose(deviations.p_value[:3], 1 / 101)
    parametric = clone(conformal).set_params(p_values="parametric")
    deviations = parametric.fit(X, covariates=covariates).deviations(
        new, new_covariates
    )
    np.testing.assert_allclose(deviations.p_value, stats.norm.sf(deviations.score))
    assert np.all(deviations.p_value[:3] < 1e-6)


def test_covariates_are_required_and_checked(model):
    X, covariates = cohort(10, seed=4)
    with pytest.raises(ValueError, match="pass covariates="):
        RegressionNormativeModel(LinearRegression()).fit(X)
    with pytest.raises(ValueError, match="2 columns but .* was fitted on 3"):
        RegressionNormativeModel(FrozenEstimator(model.estimator_)).fit(
            X, covariates=covariates[:, :2]
        )
    with pytest.raises(ValueError, match="fitted with 3 covariates but none"):
        model.transform(X)
    with pytest.raises(ValueError, match="fitted with 3 covariates but 4"):
        model.transform(X, covariates=np.ones((10, 4)))
    with pytest.raises(ValueError, match="one row of covariates per subject"):
        model.transform(X, covariates=covariates[:4])


class CountingRegression(LinearRegression):
    """A linear regression that counts the times it fits or predicts."""

    calls = 0

    def fit(self, X, y, sample_weight=None):
        CountingRegression.calls += 1
        return super().fit(X, y, sample_weight)

    def predict(self, X):
        CountingRegression.calls += 1
        return super().predict(X)


def test_bad_input_before_any_work(model):
    X, covariates = cohort(10, seed=4, n_features=13)
    with pytest.raises(ValueError, match="another grid"):
        model.transform(X, covariates=covariates)
    with pytest.raises(ValueError, match=r"\.predict returns 12 values per subject "
                                         "but X has 13"):
        RegressionNormativeModel(FrozenEstimator(model.estimator_)).fit(
            X, covariates=covariates
        )
    with pytest.raises(NotFittedError, match="frozen regressor .* is not fitted"):
        RegressionNormativeModel(FrozenEstimator(LinearRegression())).fit(
            X, covariates=covariates
        )
    with pytest.raises(NotFittedError):
        RegressionNormativeModel(LinearRegression()).transform(X,
                                                               covariates=covariates)
    with pytest.raises(TypeError, match="no predict method"):
        RegressionNormativeModel(object()).fit(X, covariates=covariates)
    # Refused before the clone is fitted, or anything predicted.
    CountingRegression.calls = 0
    counting = RegressionNormativeModel(CountingRegression(), calibration_size=0.2)
    with pytest.raises(ValueError, match="2 calibration controls is too few.*at "
                                         "least 3"):
        counting.fit(X, covariates=covariates)
    for bad in ({"calibration_size": 0}, {"calibration_size": 1.5},
                {"calibration_size": -2}, {"p_values": "exact"},
                {"summary": "median"}):
        with pytest.raises(ValueError):
            clone(counting).set_params(**bad).fit(X, covariates=covariates)
    nan = X.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        counting.fit(nan, covariates=covariates)
    assert CountingRegression.calls == 0
    # Three calibration controls are enough.
    fitted = counting.set_params(calibration_size=3).fit(X, covariates=covariates)
    assert fitted.calibration_.n_samples == 3


def test_errors_about_a_frozen_regressor_name_the_regressor(model):
    X, covariates = cohort(10, seed=4)
    with pytest.raises(ValueError, match="LinearRegression was fitted on 3"):
        RegressionNormativeModel(FrozenEstimator(model.estimator_)).fit(
            X, covariates=covariates[:, :2]
        )
    with pytest.raises(NotFittedError, match="regressor LinearRegression is not"):
        RegressionNormativeModel(FrozenEstimator(LinearRegression())).fit(
            X, covariates=covariates
        )
