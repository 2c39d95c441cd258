"""NormativeModel: z-scores, regions, latent deviations, covariates, bad input."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score

from nidl.normative import NormativeModel
from tests.conftest import make_conv_vae, make_mlp_vae

N_FEATURES = 30


def low_rank(n_samples, seed, n_features=N_FEATURES, rank=2, noise=0.3):
    """Controls: a few shared factors plus noise."""
    rng = np.random.default_rng(seed)
    loadings = np.random.default_rng(99).normal(size=(rank, n_features))
    X = rng.normal(size=(n_samples, rank)) @ loadings
    return (X + noise * rng.normal(size=(n_samples, n_features))).astype(np.float32)


@pytest.fixture(scope="module")
def pca_model():
    """PCA fitted on 200 controls, normative model calibrated on 100 others."""
    pca = PCA(n_components=2).fit(low_rank(200, seed=0))
    return NormativeModel(pca, random_state=0).fit(low_rank(100, seed=1))


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
# Scores, against hand computation
# ----------------------------------------------------------------------
def test_zscores_regions_and_summary_by_hand():
    # Residuals are the features. Feature 0: mean 2, sd 1; feature 1: mean 3,
    # sd 2; feature 2 does not vary (its scale is taken as 1); feature 3 is
    # the latent, in no region.
    calibration = np.array([[0.5, 0.0, 1.0, 5.0],
                            [2.5, 4.0, 1.0, 0.0],
                            [2.5, 4.0, 1.0, 0.0],
                            [2.5, 4.0, 1.0, 3.0]])
    subject = np.array([[4.0, 7.0, 1.0, 2.0]])
    model = NormativeModel(Zero().fit(calibration), regions=[1, 1, 2, 0])
    model.fit(calibration)
    np.testing.assert_allclose(model.transform(subject), [[2.0, 2.0, 0.0, 0.0]])
    # Region 1: mean residual of features 0 and 1, 0.25 then 3.25 three
    # times in the calibration (mean 2.5, sd 1.5); the subject's 5.5 gives 2.
    # Region 2: feature 2 alone, z = 0.
    np.testing.assert_allclose(model.region_zscores(subject), [[2.0, 0.0]])
    np.testing.assert_array_equal(model.region_labels_, [1, 2])
    # Summary: the mean square of the region z-scores, 2 for the subject;
    # 1.125 then 0.125 three times for the controls (mean 0.375, sd 0.5).
    np.testing.assert_allclose(model.deviation_scores(subject), [(2 - 0.375) / 0.5])
    model.set_params(summary="max_abs").fit(calibration)
    # Largest magnitudes: 1.5 then 0.5 three times (mean 0.75, sd 0.5).
    np.testing.assert_allclose(model.deviation_scores(subject), [(2 - 0.75) / 0.5])


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
    scores = pca_model.deviation_scores(np.concatenate([controls, patients]))
    assert roc_auc_score(np.repeat([0, 1], 50), scores) > 0.99


def test_latent_distance_and_p_values(pca_model):
    # Calibrated on many controls, the p-values of new controls are about
    # uniform and their squared distances average the number of latents.
    model = NormativeModel(pca_model.estimator, random_state=0).fit(
        low_rank(400, seed=1)
    )
    distance, p_value = model.latent_deviation(low_rank(1000, seed=4))
    assert 0.4 < p_value.mean() < 0.6
    assert np.mean(p_value < 0.05) < 0.08
    assert 1.7 < distance.mean() < 2.5
    far = low_rank(5, seed=5) + 60 * pca_model.estimator.components_[0]
    far_distance, far_p = pca_model.latent_deviation(far)
    assert np.all(far_distance > 30) and np.all(far_p < 1e-6)
    assert pca_model.n_latents_ == 2


def three_sites(n_samples, seed):
    """Controls from three sites, each shifting every feature its own way."""
    site = np.random.default_rng(seed + 500).integers(0, 3, size=n_samples)
    offsets = 2 * np.random.default_rng(11).normal(size=(3, N_FEATURES))
    return (low_rank(n_samples, seed) + offsets[site]).astype(np.float32)


def test_default_support_keeps_new_controls_normal():
    # Latents of a population of three sites are multimodal: the smallest
    # support (half of the controls) describes one site and calls most new
    # controls abnormal; the default support keeps their p-values near
    # the nominal level.
    pca = PCA(3).fit(three_sites(300, seed=0))
    new = three_sites(2000, seed=9)
    rates = {}
    for support_fraction in (None, 0.75):
        model = NormativeModel(pca, support_fraction=support_fraction, random_state=0)
        _, p_value = model.fit(three_sites(100, seed=1)).latent_deviation(new)
        rates[support_fraction] = np.mean(p_value < 0.05)
    assert rates[0.75] < 0.1 and rates[None] > 0.3
    assert NormativeModel(pca).support_fraction == 0.75


def test_deviations_give_every_score_in_one_pass(pca_model):
    X = low_rank(6, seed=6)
    deviations = pca_model.deviations(X)
    np.testing.assert_array_equal(deviations.zscores, pca_model.transform(X))
    np.testing.assert_array_equal(deviations.score, pca_model.deviation_scores(X))
    np.testing.assert_array_equal(deviations.latent_distance,
                                  pca_model.latent_deviation(X)[0])
    assert deviations.region_zscores is None


def test_clone_keeps_a_frozen_estimator_fitted(pca_model):
    # clone copies a plain wrapped estimator unfitted, as scikit-learn does
    # with every sub-estimator; a FrozenEstimator stays fitted.
    with pytest.raises(NotFittedError, match="FrozenEstimator"):
        clone(pca_model).fit(low_rank(100, seed=1))
    frozen = NormativeModel(FrozenEstimator(pca_model.estimator), random_state=0)
    copy = clone(frozen).fit(low_rank(100, seed=1))
    X = low_rank(4, seed=8)
    np.testing.assert_allclose(copy.transform(X), pca_model.transform(X))
    assert copy.get_params()["random_state"] == 0


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


def test_zscore_maps_through_the_masker(masked):
    masker, _, _ = masked
    pca = PCA(2).fit(low_rank(100, seed=0))
    model = NormativeModel(pca, masker=masker, random_state=0).fit(low_rank(40, seed=1))
    X = low_rank(3, seed=9)
    maps = model.zscore_maps(X)
    assert maps.shape == (6, 5, 4, 3)
    data = maps.get_fdata()
    mask = masker.mask_img_.get_fdata() > 0
    np.testing.assert_allclose(data[mask].T, model.transform(X), rtol=1e-6)
    assert np.all(data[~mask] == 0)


def test_regions_from_an_image_or_an_array(masked):
    masker, label_image, labels = masked
    pca = PCA(2).fit(low_rank(100, seed=0))
    calibration, X = low_rank(40, seed=1), low_rank(3, seed=9)
    from_image = NormativeModel(pca, masker=masker, regions=label_image,
                                random_state=0).fit(calibration)
    from_array = NormativeModel(pca, regions=labels, random_state=0).fit(calibration)
    np.testing.assert_allclose(from_image.region_zscores(X),
                               from_array.region_zscores(X))
    assert from_image.region_zscores(X).shape == (3, 3)


def test_regions_and_maps_need_what_they_use(masked):
    _, label_image, labels = masked
    pca = PCA(2).fit(low_rank(100, seed=0))
    calibration = low_rank(40, seed=1)
    plain = NormativeModel(pca, random_state=0).fit(calibration)
    with pytest.raises(ValueError, match="regions=None"):
        plain.region_zscores(calibration)
    with pytest.raises(ValueError, match="masker="):
        plain.zscore_maps(calibration)
    with pytest.raises(ValueError, match="masker"):
        NormativeModel(pca, regions=label_image).fit(calibration)
    with pytest.raises(ValueError, match="one label per feature"):
        NormativeModel(pca, regions=labels[:10]).fit(calibration)
    with pytest.raises(ValueError, match="not integers"):
        NormativeModel(pca, regions=labels + 0.5).fit(calibration)
    with pytest.raises(ValueError, match="summary"):
        NormativeModel(pca, summary="median").fit(calibration)


# ----------------------------------------------------------------------
# nidl VAEs: posterior means
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def vae():
    return make_mlp_vae(n_features=N_FEATURES, latent_dim=2, max_epochs=3).fit(
        low_rank(64, seed=0)
    )


def test_a_vae_gives_its_posterior_means(vae):
    vae.set_params(stochastic_transform=True)
    with pytest.raises(ValueError, match=r"set_params\(stochastic_transform=False\)"):
        NormativeModel(vae).fit(low_rank(40, seed=1))
    vae.set_params(stochastic_transform=False)
    model = NormativeModel(vae, random_state=0).fit(low_rank(40, seed=1))
    X = low_rank(5, seed=2)
    first, second = model.deviations(X), model.deviations(X)
    np.testing.assert_array_equal(first.zscores, second.zscores)
    np.testing.assert_array_equal(first.latent_distance, second.latent_distance)
    # The reconstruction is the decoder's mean at the latent means.
    expected = vae.inverse_transform(vae.transform(X))
    np.testing.assert_allclose(
        first.zscores,
        (X - expected - model.residual_mean_) / model.residual_scale_, rtol=1e-4,
        atol=1e-4,
    )


def test_a_convolutional_vae_on_volumes():
    shape = (8, 8, 8)
    rng = np.random.default_rng(0)
    volumes = rng.normal(size=(40, 1, *shape)).astype(np.float32)
    vae = make_conv_vae(shape, stochastic_transform=False).fit(volumes[:20])
    regions = np.repeat(np.arange(1, 9), 64).reshape(1, *shape)
    model = NormativeModel(vae, regions=regions, random_state=0).fit(volumes[20:])
    assert model.transform(volumes[:3]).shape == (3, 1, *shape)
    assert model.region_zscores(volumes[:3]).shape == (3, 8)
    with pytest.raises(ValueError, match="another grid"):
        model.transform(volumes[:3, :, :4])


# ----------------------------------------------------------------------
# Covariates
# ----------------------------------------------------------------------
def test_covariates_reach_transform_and_inverse_transform():
    X, covariates = with_covariates(200, seed=0)
    conditional = Conditional().fit(X, covariates=covariates)
    calibration, calibration_covariates = with_covariates(60, seed=1)
    model = NormativeModel(conditional, random_state=0).fit(
        calibration, covariates=calibration_covariates
    )
    assert model.n_covariates_ == 2
    test, test_covariates = with_covariates(40, seed=2)
    right = model.deviation_scores(test, covariates=test_covariates)
    # Someone else's covariates make the subjects look abnormal.
    wrong = model.deviation_scores(test, covariates=test_covariates[::-1])
    assert abs(np.median(right)) < 1 and np.median(wrong) > 10


@pytest.mark.parametrize("given", [None, 1, 3])
def test_other_covariates_than_calibrated(given):
    X, covariates = with_covariates(100, seed=0)
    model = NormativeModel(Conditional().fit(X, covariates=covariates),
                           random_state=0).fit(X[:50], covariates=covariates[:50])
    other = None if given is None else np.ones((5, given), dtype=np.float32)
    with pytest.raises(ValueError,
                       match="(calibrated with 2 covariates|n_covariates=2)"):
        model.transform(X[:5], covariates=other)


def test_covariates_refused_by_an_estimator_without_them(pca_model):
    with pytest.raises(ValueError, match="take no covariates"):
        NormativeModel(pca_model.estimator).fit(low_rank(40, seed=1),
                                                covariates=np.ones((40, 2)))
    with pytest.raises(ValueError, match="calibrated without covariates"):
        pca_model.transform(low_rank(4, seed=1), covariates=np.ones((4, 2)))


def test_covariates_checked_against_the_estimator():
    X, covariates = with_covariates(100, seed=0)
    conditional = Conditional().fit(X, covariates=covariates)
    with pytest.raises(ValueError, match="n_covariates=2; pass the covariates"):
        NormativeModel(conditional).fit(X)
    with pytest.raises(ValueError, match="3 columns but Conditional was built with "
                                         "n_covariates=2"):
        NormativeModel(conditional).fit(X, covariates=np.ones((100, 3)))
    with pytest.raises(ValueError, match="one row of covariates per subject"):
        NormativeModel(conditional).fit(X, covariates=covariates[:10])


# ----------------------------------------------------------------------
# Bad input: each refused before any work
# ----------------------------------------------------------------------
class Counting(PCA):
    """A PCA that counts the subjects it encodes."""

    encoded = 0

    def transform(self, X):
        Counting.encoded += len(X)
        return super().transform(X)


@pytest.fixture
def counting():
    Counting.encoded = 0
    return Counting(2).fit(low_rank(100, seed=0))


def test_scoring_before_fitting(counting):
    model = NormativeModel(counting)
    for method in (model.transform, model.deviation_scores, model.latent_deviation,
                   model.region_zscores, model.zscore_maps, model.deviations):
        with pytest.raises(NotFittedError):
            method(low_rank(3, seed=1))
    with pytest.raises(NotFittedError, match="fit it on training controls"):
        NormativeModel(PCA(2)).fit(low_rank(40, seed=1))
    assert Counting.encoded == 0


def test_subjects_on_another_grid(counting):
    model = NormativeModel(counting, random_state=0).fit(low_rank(40, seed=1))
    Counting.encoded = 0
    with pytest.raises(ValueError, match="another grid"):
        model.transform(low_rank(3, seed=2, n_features=N_FEATURES + 1))
    with pytest.raises(ValueError, match="another grid"):
        NormativeModel(counting).fit(low_rank(40, seed=1, n_features=N_FEATURES - 5))
    assert Counting.encoded == 0


def test_too_few_calibration_controls(counting):
    # 2 latents: the robust covariance needs 2 * (2 + 1) = 6 controls.
    NormativeModel(counting, random_state=0).fit(low_rank(6, seed=1))
    Counting.encoded = 0
    with pytest.raises(ValueError, match="5 calibration controls is too few.*at "
                                         "least 6"):
        NormativeModel(counting).fit(low_rank(5, seed=1))
    assert Counting.encoded == 0


def test_non_finite_subjects(pca_model):
    X = low_rank(3, seed=1)
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pca_model.transform(X)


def test_an_estimator_that_does_not_decode():
    class EncodeOnly(BaseEstimator):
        def transform(self, X):
            return X

    with pytest.raises(TypeError, match="no inverse_transform"):
        NormativeModel(EncodeOnly()).fit(low_rank(40, seed=1))


# ----------------------------------------------------------------------
# The conditional VAE of nidl
# ----------------------------------------------------------------------
def test_a_conditional_vae_gets_the_covariates():
    from nidl.estimators.autoencoders import ConditionalVAE
    from tests.conftest import QUIET, mlp

    X, covariates = with_covariates(120, seed=0)
    encoder, decoder = mlp(N_FEATURES, code_dim=2 + 2, hidden=16)
    cvae = ConditionalVAE(encoder, decoder, encoder_out_dim=16, latent_dim=2,
                          n_covariates=2, lr=1e-2, batch_size=16, random_state=0,
                          stochastic_transform=False, **QUIET)
    cvae.fit(X[:80], covariates=covariates[:80])
    model = NormativeModel(cvae, random_state=0).fit(X[80:], covariates=covariates[80:])
    test, test_covariates = with_covariates(5, seed=3)
    # The residual is that of the reconstruction given the subjects' own
    # covariates, in encoding and in decoding.
    latents = cvae.transform(test, covariates=test_covariates)
    expected = cvae.inverse_transform(latents, covariates=test_covariates)
    np.testing.assert_allclose(
        model.transform(test, covariates=test_covariates),
        (test - expected - model.residual_mean_) / model.residual_scale_,
        rtol=1e-4, atol=1e-4,
    )
    np.testing.assert_allclose(
        model.latent_deviation(test, covariates=test_covariates)[0],
        model.latent_covariance_.mahalanobis(latents), rtol=1e-5,
    )
    with pytest.raises(ValueError, match="n_covariates=2; pass the covariates"):
        NormativeModel(cvae).fit(X[80:])
    with pytest.raises(ValueError, match="built with n_covariates=2"):
        NormativeModel(cvae).fit(X[80:], covariates=np.ones((40, 3)))
