import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.metrics import (
    explained_variance_score,
    mean_absolute_error,
    mean_squared_error,
    median_absolute_error,
    r2_score,
    root_mean_squared_error,
)

from nidl.metrics import pearson_r, regression_report


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    y_true = rng.normal(size=(50, 3)) * [1.0, 10.0, 0.1]
    y_pred = y_true + rng.normal(size=(50, 3)) * [0.5, 20.0, 0.02]
    weights = rng.uniform(0, 2, size=50)
    return y_true, y_pred, weights


def weighted_r_by_hand(t, p, w):
    covariance = np.cov(t, p, aweights=w)
    return covariance[0, 1] / np.sqrt(covariance[0, 0] * covariance[1, 1])


# pearson_r ------------------------------------------------------------------


def test_pearson_r_by_hand():
    # Deviations (-1.5, -0.5, 0.5, 1.5) and (-1.5, 0.5, -0.5, 1.5): 4 / 5.
    y_true = [1.0, 2.0, 3.0, 4.0]
    assert pearson_r(y_true, [1.0, 3.0, 2.0, 4.0]) == pytest.approx(0.8)
    assert pearson_r(y_true, [4.0, 3.0, 2.0, 1.0]) == pytest.approx(-1.0)


def test_pearson_r_equals_scipy(data):
    y_true, y_pred, _ = data
    raw = pearson_r(y_true, y_pred, multioutput="raw_values")
    expected = [pearsonr(y_true[:, j], y_pred[:, j]).statistic for j in range(3)]
    assert isinstance(raw, np.ndarray) and raw.shape == (3,)
    np.testing.assert_allclose(raw, expected, rtol=1e-12)
    single = pearson_r(y_true[:, 0], y_pred[:, 0])
    assert isinstance(single, float)
    assert single == pytest.approx(expected[0], rel=1e-12)


def test_weighted_pearson_r(data):
    y_true, y_pred, weights = data
    raw = pearson_r(y_true, y_pred, sample_weight=weights, multioutput="raw_values")
    expected = [weighted_r_by_hand(y_true[:, j], y_pred[:, j], weights)
                for j in range(3)]
    np.testing.assert_allclose(raw, expected, rtol=1e-12)
    assert not np.allclose(raw, pearson_r(y_true, y_pred, multioutput="raw_values"))
    # An integer weight repeats a sample; a zero weight drops it.
    counts = np.arange(50) % 3
    repeated = np.repeat(np.arange(50), counts)
    assert pearson_r(y_true[:, 1], y_pred[:, 1], sample_weight=counts) == (
        pytest.approx(pearsonr(y_true[repeated, 1], y_pred[repeated, 1]).statistic)
    )


def test_pearson_r_ignores_scale_and_offset(data):
    y_true, y_pred, weights = data
    r = pearson_r(y_true, y_pred, sample_weight=weights, multioutput="raw_values")
    np.testing.assert_allclose(
        pearson_r(y_true, 3 * y_pred - 7, sample_weight=weights,
                  multioutput="raw_values"), r)
    np.testing.assert_allclose(
        pearson_r(y_true, -2 * y_pred, sample_weight=weights,
                  multioutput="raw_values"), -r)


def test_pearson_r_multioutput(data):
    y_true, y_pred, _ = data
    raw = pearson_r(y_true, y_pred, multioutput="raw_values")
    assert pearson_r(y_true, y_pred) == pytest.approx(raw.mean())
    assert pearson_r(y_true, y_pred, multioutput="uniform_average") == (
        pytest.approx(raw.mean())
    )
    # Array weights are applied, not replaced by the uniform mean.
    weights = [1.0, 0.0, 3.0]
    weighted = pearson_r(y_true, y_pred, multioutput=weights)
    assert weighted == pytest.approx(np.average(raw, weights=weights))
    assert weighted != pytest.approx(raw.mean())
    assert pearson_r(y_true, y_pred, multioutput=[0, 1, 0]) == pytest.approx(raw[1])


def test_pearson_r_force_finite():
    y = np.array([1.0, 2.0, 3.0])
    constant = np.full(3, 2.0)
    assert np.isnan(pearson_r(y, constant))
    assert np.isnan(pearson_r(constant, y))
    assert np.isnan(pearson_r(constant, constant))
    assert pearson_r(y, constant, force_finite=True) == 0.0
    assert pearson_r(constant, y, force_finite=True) == 0.0
    assert pearson_r(constant, constant, force_finite=True) == 1.0
    assert pearson_r(constant, constant + 1, force_finite=True) == 0.0
    # Constant over the samples that count: the varying one has weight 0.
    assert pearson_r(y, [2.0, 2.0, 5.0], sample_weight=[1, 1, 0],
                     force_finite=True) == 0.0
    # Constant values whose mean rounding leaves off them are still constant.
    assert np.isnan(pearson_r(y, np.full(3, 0.1)))
    # Per output: only the constant one is replaced.
    raw = pearson_r(np.c_[y, y], np.c_[y, constant], multioutput="raw_values",
                    force_finite=True)
    np.testing.assert_array_equal(raw, [1.0, 0.0])
    raw = pearson_r(np.c_[y, y], np.c_[y, constant], multioutput="raw_values")
    assert raw[0] == pytest.approx(1.0) and np.isnan(raw[1])


def test_pearson_r_refuses_bad_input():
    y = np.arange(4.0)
    with pytest.raises(ValueError, match="multioutput='variance_weighted'"):
        pearson_r(y, y, multioutput="variance_weighted")
    with pytest.raises(ValueError, match=r"multioutput has shape \(2,\)"):
        pearson_r(y, y, multioutput=[1.0, 2.0])
    with pytest.raises(ValueError, match="sum to 0"):
        pearson_r(np.c_[y, y], np.c_[y, y], multioutput=[0.0, 0.0])
    with pytest.raises(ValueError, match="y_true has 1 outputs but y_pred has 2"):
        pearson_r(y, np.c_[y, y])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        pearson_r(y, y[:3])
    with pytest.raises(ValueError, match="3"):
        pearson_r(np.ones((4, 2, 2)), np.ones((4, 2, 2)))
    with pytest.raises(ValueError, match="0 sample"):
        pearson_r(np.ones(0), np.ones(0))
    with pytest.raises(ValueError, match="NaN"):
        pearson_r([1.0, np.nan, 2.0], y[:3])
    with pytest.raises(ValueError, match="non-negative"):
        pearson_r(y, y, sample_weight=[1, 1, -1, 1])
    with pytest.raises(ValueError, match="non-negative"):
        pearson_r(y, y, sample_weight=np.zeros(4))
    with pytest.raises(ValueError, match=r"sample_weight has shape \(3,\)"):
        pearson_r(y, y, sample_weight=[1, 1, 1])
    with pytest.raises(TypeError, match="y_pred holds values of dtype <U"):
        pearson_r(y, ["a", "b", "c", "d"])


# regression_report ----------------------------------------------------------

SKLEARN = {
    "MAE": mean_absolute_error,
    "MedAE": median_absolute_error,
    "RMSE": root_mean_squared_error,
    "MSE": mean_squared_error,
    "R2": r2_score,
    "EVar": explained_variance_score,
}


@pytest.mark.parametrize("weighted", [False, True])
def test_report_dict_equals_sklearn(data, weighted):
    y_true, y_pred, weights = data
    weights = weights if weighted else None
    report = regression_report(y_true, y_pred, sample_weight=weights,
                               output_dict=True)
    names = ["regressor 0", "regressor 1", "regressor 2"]
    assert list(report) == names + ["average"]
    expected = {
        name: metric(y_true, y_pred, sample_weight=weights, multioutput="raw_values")
        for name, metric in SKLEARN.items()
    }
    expected["PCC"] = pearson_r(y_true, y_pred, sample_weight=weights,
                                multioutput="raw_values")
    for name, values in expected.items():
        for j in range(3):
            assert report[names[j]][name] == pytest.approx(values[j], rel=1e-12)
            assert isinstance(report[names[j]][name], float)
        assert report["average"][name] == pytest.approx(np.mean(values), rel=1e-12)
    assert list(report["regressor 0"]) == [
        "MAE", "MedAE", "RMSE", "MSE", "R2", "PCC", "EVar"
    ]


@pytest.mark.parametrize("column", [False, True])
def test_report_single_target_gives_its_scores_directly(data, column):
    # One target, one column or not: the scores themselves, no name level.
    y_true, y_pred, _ = data
    y_true, y_pred = y_true[:, :1], y_pred[:, :1]
    if not column:
        y_true, y_pred = y_true[:, 0], y_pred[:, 0]
    report = regression_report(y_true, y_pred, output_dict=True)
    assert list(report) == ["MAE", "MedAE", "RMSE", "MSE", "R2", "PCC", "EVar"]
    assert report["R2"] == pytest.approx(r2_score(y_true, y_pred))
    text = regression_report(y_true, y_pred)
    assert "average" not in text and "regressor 0" in text


def test_report_text_table(data):
    y_true, y_pred, _ = data
    names = ["age", "volume", "thickness"]
    text = regression_report(y_true, y_pred, target_names=names, digits=3)
    report = regression_report(y_true, y_pred, target_names=names, output_dict=True)
    lines = text.splitlines()
    assert lines[0].split() == ["MAE", "MedAE", "RMSE", "MSE", "R2", "PCC", "EVar"]
    assert lines[1] == "" and lines[-2] == ""
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.strip()}
    for name in names + ["average"]:
        assert rows[name] == [f"{value:.3f}" for value in report[name].values()]
    # The names are right-aligned to the longest, as in classification_report.
    width = len("thickness")
    assert lines[2].startswith(" " * (width - 3) + "age ")
    assert len({len(line) for line in lines if line.strip()}) == 1


def test_report_columns_widen_for_long_values():
    # An MSE of 1e8 does not fit in 9 characters; the columns stay aligned.
    y_true = np.array([[0.0, 1.0], [1e4, 2.0], [2e4, 3.0]])
    text = regression_report(y_true, y_true + [[1e4, 0.5]] * 3, digits=2)
    lines = [line for line in text.splitlines() if line.strip()]
    assert "100000000.00" in text
    assert len({len(line) for line in lines}) == 1


def test_report_constant_predictor_is_finite():
    y_true = np.array([1.0, 2.0, 3.0, 4.0])
    report = regression_report(y_true, np.full(4, 2.5), output_dict=True)
    assert report["PCC"] == 0.0 and report["R2"] == 0.0
    assert report["EVar"] == 0.0


def test_report_data_frame_names(data):
    pd = pytest.importorskip("pandas")
    y_true, y_pred, _ = data
    frame = pd.DataFrame(y_true, columns=["age", "sex", "score"])
    report = regression_report(frame, y_pred, output_dict=True)
    assert list(report) == ["age", "sex", "score", "average"]


def test_report_refuses_bad_input(data):
    y_true, y_pred, _ = data
    with pytest.raises(ValueError, match="target_names has 2 names but there are 3"):
        regression_report(y_true, y_pred, target_names=["a", "b"])
    with pytest.raises(ValueError, match="repeats a name"):
        regression_report(y_true, y_pred, target_names=["a", "b", "a"])
    with pytest.raises(ValueError, match="'average'"):
        regression_report(y_true, y_pred, target_names=["a", "b", "average"])
    with pytest.raises(ValueError, match="digits == -1"):
        regression_report(y_true, y_pred, digits=-1)
    with pytest.raises(ValueError, match="y_true has 3 outputs but y_pred has 2"):
        regression_report(y_true, y_pred[:, :2])
    with pytest.raises(TypeError, match="y_true holds values of dtype"):
        regression_report(np.full((4, 1), "x"), np.ones((4, 1)))
