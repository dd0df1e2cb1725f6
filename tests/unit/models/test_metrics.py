"""Metrics: hand-computed values, agreement with scipy/sklearn, calibration on synthetic data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from molops.models.metrics import (
    MetricsError,
    calibration_curve,
    evaluate,
    gaussian_nll,
    miscalibration_area,
    regression_metrics,
    uncertainty_metrics,
)


def test_regression_metrics_by_hand():
    # errors 0.5, 0, -0.5, 1 → MSE 1.5/4, MAE 2/4; SS_tot = 5 → R² = 1 - 1.5/5
    m = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.0, 2.5, 5.0]))
    assert m == pytest.approx({"rmse": math.sqrt(0.375), "mae": 0.5, "r2": 0.7, "spearman": 1.0})
    assert all(type(v) is float for v in m.values())


def test_regression_metrics_match_sklearn_and_scipy():
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    mean = y + rng.normal(scale=0.5, size=200)
    m = regression_metrics(y, mean)
    assert m["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(y, mean)))
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, mean))
    assert m["r2"] == pytest.approx(skm.r2_score(y, mean))
    assert m["spearman"] == pytest.approx(stats.spearmanr(y, mean).statistic)


def test_undefined_metrics_are_nan_without_warnings():
    # pytest turns warnings into errors, so a scipy ConstantInputWarning would fail this test
    m = regression_metrics(np.ones(5), np.arange(5.0))
    assert math.isnan(m["r2"]) and math.isnan(m["spearman"]) and m["mae"] == pytest.approx(1.4)
    u = uncertainty_metrics(np.arange(5.0), np.arange(5.0) + 1, np.full(5, 0.3))
    assert math.isnan(u["spearman_abs_error_std"])
    empty = evaluate(np.array([]), np.array([]), np.array([]))
    assert all(math.isnan(v) for v in empty.values())
    one = regression_metrics([2.0], [3.0])
    assert one["rmse"] == 1.0 and math.isnan(one["r2"]) and math.isnan(one["spearman"])


def test_gaussian_nll_by_hand():
    assert gaussian_nll([0.0], [0.0], [1.0]) == pytest.approx(0.5 * math.log(2 * math.pi))
    # y=1, mean=0, std=2: ½ log(2π·4) + 1/8
    assert gaussian_nll([1.0, 1.0], [0.0, 0.0], [2.0, 2.0]) == pytest.approx(
        0.5 * math.log(8 * math.pi) + 0.125
    )


def test_nll_floors_a_zero_std():
    y = np.array([0.0, 1.0, 2.0])
    nll = gaussian_nll(y, y + 0.1, np.zeros(3))
    assert math.isfinite(nll) and nll > 100
    assert math.isfinite(gaussian_nll(y, y, np.zeros(3)))


def _synthetic(n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=n)
    std = rng.uniform(0.1, 2.0, size=n)
    return mean + std * rng.standard_normal(n), mean, std


def test_calibrated_gaussian_has_near_zero_miscalibration():
    y, mean, std = _synthetic()
    assert miscalibration_area(y, mean, std) < 0.01
    assert uncertainty_metrics(y, mean, std)["spearman_abs_error_std"] > 0.3


@pytest.mark.parametrize("factor", [0.3, 3.0])
def test_over_and_under_confidence_give_large_miscalibration(factor):
    y, mean, std = _synthetic()
    assert miscalibration_area(y, mean, std * factor) > 0.2


def test_nll_is_lowest_for_the_true_std():
    y, mean, std = _synthetic()
    right = gaussian_nll(y, mean, std)
    assert right < gaussian_nll(y, mean, std * 0.5)
    assert right < gaussian_nll(y, mean, std * 2.0)
    assert right < gaussian_nll(y, mean, np.full_like(std, std.mean()))


def test_calibration_curve_shape_and_ends():
    y, mean, std = _synthetic(2000)
    expected, observed = calibration_curve(y, mean, std)
    assert expected.shape == observed.shape == (101,)
    assert expected[0] == 0 and expected[-1] == 1 and observed[-1] == 1
    assert np.all(np.diff(observed) >= 0)
    assert np.max(np.abs(observed - expected)) < 0.05
    e, o = calibration_curve(y, mean, std, np.array([0.5, 0.9]))
    assert e.tolist() == [0.5, 0.9] and o == pytest.approx([0.5, 0.9], abs=0.03)


def test_calibration_curve_counts_points_inside_intervals():
    # |errors| in units of std: 0, 0.5, 1.5, 3; the 68.27 % interval (±1σ) holds two of four
    y = np.array([0.0, 0.5, 1.5, 3.0])
    p68 = float(stats.norm.cdf(1) - stats.norm.cdf(-1))
    _, observed = calibration_curve(y, np.zeros(4), np.ones(4), np.array([0.0, p68 - 1e-9, 0.999, 1.0]))
    assert observed.tolist() == [0.25, 0.5, 1.0, 1.0]


def test_miscalibration_of_zero_std():
    y = np.array([0.0, 1.0, 2.0, 3.0])
    assert miscalibration_area(y, y, np.zeros(4)) == pytest.approx(0.5)  # always inside: all above diagonal
    assert miscalibration_area(y, y + 1, np.zeros(4)) == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([1.0, 2.0], [1.0], None), "equal lengths"),
        (([1.0, np.nan], [1.0, 2.0], None), "y has 1 NaN"),
        (([1.0, 2.0], [1.0, 2.0], [0.1, -0.1]), "non-negative"),
        ((np.ones((2, 2)), np.ones((2, 2)), None), "shape"),
    ],
)
def test_invalid_inputs_are_clear_errors(args, match):
    with pytest.raises(MetricsError, match=match):
        evaluate(*args)


def test_evaluate_merges_both_sets():
    y, mean, std = _synthetic(500)
    assert set(evaluate(y, mean)) == {"rmse", "mae", "r2", "spearman"}
    assert set(evaluate(y, mean, std)) == {
        "rmse",
        "mae",
        "r2",
        "spearman",
        "spearman_abs_error_std",
        "nll",
        "miscalibration_area",
    }
