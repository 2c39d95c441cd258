"""RegressionNormativeModel: residuals of a regression on the covariates."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression

from nidl.normative import NormativeModel, RegressionNormativeModel


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
    X, covariates = cohort(400, seed=0)
    regression = LinearRegression().fit(covariates, X)
    calibration, calibration_covariates = cohort(300, seed=1)
    return RegressionNormativeModel(regression, regions=np.repeat([1, 2, 3], 4)).fit(
        calibration, covariates=calibration_covariates
    )


def test_zscores_are_the_standardised_residuals(model):
    X, covariates = cohort(500, seed=2)
    z = model.transform(X, covariates=covariates)
    # The residual of a new control is the noise: z-scores of mean 0 and
    # standard deviation 1, whatever the age and site.
    assert abs(z.mean()) < 0.05 and 0.95 < z.std() < 1.05
    assert abs(np.corrcoef(z[:, 0], covariates[:, 0])[0, 1]) < 0.1
    np.testing.assert_allclose(model.residual_scale_, 0.5, rtol=0.15)
    # A subject 1.5 lower than expected (3 standard deviations) in region 2.
    X[:, 4:8] -= 1.5
    region_z = model.region_zscores(X, covariates=covariates)
    assert region_z[:, 1].mean() < -5  # the mean of 4 features: sd 0.25
    assert abs(region_z[:, [0, 2]].mean()) < 0.2
    np.testing.assert_allclose(model.transform(X, covariates=covariates)[:, 4:8].mean(),
                               -3, atol=0.2)


def test_the_same_scores_as_a_normative_model_of_the_same_predictions(model):
    # Scored the same way as an autoencoder: wrapping an "autoencoder" that
    # decodes every subject to the regression's prediction gives the same
    # z-scores and subject scores.
    X, covariates = cohort(40, seed=3)
    calibration, calibration_covariates = cohort(300, seed=1)

    class Predicts(BaseEstimator):
        n_covariates = 3

        def fit(self, X, y=None, covariates=None):
            return self

        def __sklearn_is_fitted__(self):
            return True

        def transform(self, X, covariates=None):
            return covariates[:, :2]  # age and the first site: not collinear

        def inverse_transform(self, Z, covariates=None):
            return model.estimator.predict(covariates)

    autoencoder = NormativeModel(Predicts(), regions=model.regions, random_state=0)
    autoencoder.fit(calibration, covariates=calibration_covariates)
    np.testing.assert_allclose(autoencoder.transform(X, covariates=covariates),
                               model.transform(X, covariates=covariates))
    np.testing.assert_allclose(autoencoder.deviation_scores(X, covariates=covariates),
                               model.deviation_scores(X, covariates=covariates))


def test_covariates_are_required_and_checked(model):
    X, covariates = cohort(10, seed=4)
    with pytest.raises(ValueError, match="pass covariates="):
        RegressionNormativeModel(model.estimator).fit(X)
    with pytest.raises(ValueError,
                       match="2 columns but LinearRegression was fitted on 3"):
        RegressionNormativeModel(model.estimator).fit(X, covariates=covariates[:, :2])
    with pytest.raises(ValueError, match="calibrated with 3 covariates but none"):
        model.transform(X)
    with pytest.raises(ValueError, match="calibrated with 3 covariates but 4"):
        model.transform(X, covariates=np.ones((10, 4)))


def test_bad_input_before_any_work(model):
    X, covariates = cohort(10, seed=4, n_features=13)
    with pytest.raises(ValueError, match="another grid"):
        model.transform(X, covariates=covariates)
    with pytest.raises(ValueError, match="predict returns 12 values per subject but X "
                                         "has 13"):
        RegressionNormativeModel(model.estimator).fit(X, covariates=covariates)
    with pytest.raises(NotFittedError,
                       match="regressor LinearRegression is not fitted"):
        RegressionNormativeModel(LinearRegression()).fit(X, covariates=covariates)
    with pytest.raises(NotFittedError):
        RegressionNormativeModel(model.estimator).transform(X, covariates=covariates)
    with pytest.raises(ValueError,
                       match="1 calibration controls is too few.*at least 2"):
        RegressionNormativeModel(model.estimator).fit(X[:1, :12],
                                                      covariates=covariates[:1])
    with pytest.raises(TypeError, match="no predict method"):
        RegressionNormativeModel(object()).fit(X, covariates=covariates)
