"""Std recalibration: variance scaling recovers a known inflation, isotonic straightens a curve,
``auto`` keeps a calibrated std and fixes an over-confident one, calibrators survive JSON,
out-of-fold predictions cover every row once, the plot is drawn."""

from __future__ import annotations

import numpy as np
import pytest

from molops.models.calibration import (
    CalibrationError,
    Calibrator,
    check_method,
    choose,
    curve,
    fit_calibrator,
    fit_scale,
    scores,
)
from molops.models.crossval import out_of_fold
from molops.models.metrics import calibration_curve, miscalibration_area
from molops.models.plots import recalibration_plot
from molops.models.splits import kfold


def _gaussian(n: int, inflation: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictions whose true errors are *inflation* times the std they claim."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=n)
    std = rng.uniform(0.2, 2.0, n)
    return mean + inflation * std * rng.standard_normal(n), mean, std


def _heavy_tailed(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Student-t (3 degrees of freedom) errors: no single std factor calibrates every level."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=n)
    std = rng.uniform(0.2, 2.0, n)
    return mean + std * rng.standard_t(3, n), mean, std


@pytest.mark.parametrize("inflation", [0.5, 1.0, 3.0])
def test_scale_recovers_a_known_inflation(inflation):
    y, mean, std = _gaussian(20_000, inflation, seed=1)
    assert fit_scale(y, mean, std) == pytest.approx(inflation, rel=0.02)
    calibrator = fit_calibrator("scale", y, mean, std)
    assert calibrator.factor == pytest.approx(inflation, rel=0.02)
    np.testing.assert_allclose(calibrator.apply(std), std * calibrator.factor)


def test_scale_lowers_area_and_nll_on_fresh_data_from_the_same_model():
    calibrator = fit_calibrator("scale", *_gaussian(2_000, 3.0, seed=2))
    fresh = _gaussian(2_000, 3.0, seed=3)
    before, after = scores(*fresh), scores(*fresh, calibrator)
    assert before["miscalibration_area"] > 0.2
    assert after["miscalibration_area"] < 0.02
    assert after["nll"] < before["nll"] - 1


def test_isotonic_makes_the_curve_monotone_and_closer_to_the_diagonal():
    fit, fresh = _heavy_tailed(3_000, seed=4), _heavy_tailed(3_000, seed=5)
    calibrator = fit_calibrator("isotonic", *fit)
    assert calibrator.knots is not None and calibrator.coverage is not None
    assert np.all(np.diff(calibrator.coverage) >= 0)
    assert (calibrator.coverage[0], calibrator.coverage[-1]) == (0.0, 1.0)
    _expected, observed = curve(*fresh, calibrator)
    assert np.all(np.diff(observed) >= 0)
    before = miscalibration_area(*fresh)
    after = scores(*fresh, calibrator)["miscalibration_area"]
    assert before > 0.03
    assert after < before / 3
    # the uncalibrated curve of the same data is the metrics module's own
    np.testing.assert_allclose(curve(*fresh)[1], calibration_curve(*fresh)[1])
    # better than one std factor can do on heavy tails
    assert after < scores(*fresh, fit_calibrator("scale", *fit))["miscalibration_area"]


def test_isotonic_std_factor_matches_a_known_inflation():
    """For Gaussian errors the recalibrated distribution's std is the inflation itself."""
    calibrator = fit_calibrator("isotonic", *_gaussian(20_000, 2.0, seed=6))
    assert calibrator.factor == pytest.approx(2.0, rel=0.03)


def test_none_changes_nothing_and_unknown_methods_are_refused():
    y, mean, std = _gaussian(100, 2.0, seed=7)
    calibrator = fit_calibrator("none", y, mean, std)
    np.testing.assert_array_equal(calibrator.apply(std), std)
    assert scores(y, mean, std, calibrator) == scores(y, mean, std)
    assert check_method("isotonic") == "isotonic"
    assert check_method("auto") == "auto"
    with pytest.raises(CalibrationError, match=r"--recalibrate 'platt' is not supported; expected one of"):
        check_method("platt")


@pytest.mark.parametrize("seed", range(5))
def test_auto_keeps_the_std_of_a_calibrated_predictor(seed):
    """Gaussian errors with exactly the stated std: no calibrator can earn its place."""
    y, mean, std = _gaussian(200, 1.0, seed=20 + seed)
    choice = choose(y, mean, std)
    assert choice.chosen == "none", choice.reason
    assert choice.cross_fitted is not None and set(choice.cross_fitted) == {"none", "scale", "isotonic"}
    assert "no recalibration beat" in choice.reason
    assert fit_calibrator("auto", y, mean, std).method == "none"


def test_auto_recalibrates_an_overconfident_predictor_and_the_held_out_area_falls():
    """Stated std 0.3 × the true one: auto picks a recalibration, and on fresh predictions of the
    same model its calibrator lowers the area."""
    y, mean, true_std = _gaussian(100, 1.0, seed=30)
    choice = choose(y, mean, 0.3 * true_std)
    assert choice.chosen in ("scale", "isotonic"), choice.reason
    assert choice.cross_fitted is not None
    assert choice.cross_fitted[choice.chosen] < choice.cross_fitted["none"]
    calibrator = fit_calibrator("auto", y, mean, 0.3 * true_std)
    assert calibrator.method == choice.chosen
    fresh_y, fresh_mean, fresh_true = _gaussian(2_000, 1.0, seed=31)
    fresh = (fresh_y, fresh_mean, 0.3 * fresh_true)
    before = scores(*fresh)["miscalibration_area"]
    after = scores(*fresh, calibrator)["miscalibration_area"]
    assert before > 0.3
    assert after < before / 4


def test_auto_is_deterministic_for_a_seed_and_keeps_none_on_too_few_points():
    y, mean, std = _gaussian(80, 1.5, seed=40)
    assert choose(y, mean, std, seed=3) == choose(y, mean, std, seed=3)
    assert fit_calibrator("auto", y, mean, std, seed=3) == fit_calibrator("auto", y, mean, std, seed=3)
    few = choose(*_gaussian(15, 3.0, seed=41))
    assert (few.chosen, few.cross_fitted) == ("none", None)
    assert "only 15 held-out predictions" in few.reason


@pytest.mark.parametrize("method", ["scale", "isotonic"])
def test_a_calibrator_survives_json(method):
    calibrator = fit_calibrator(method, *_heavy_tailed(500, seed=8))
    again = Calibrator.model_validate_json(calibrator.model_dump_json())
    assert again == calibrator
    y, mean, std = _heavy_tailed(200, seed=9)
    np.testing.assert_array_equal(again.levels(y, mean, std), calibrator.levels(y, mean, std))


def test_out_of_fold_predicts_every_row_once_from_a_model_that_did_not_see_it():
    X = np.arange(50, dtype=float)[:, None]
    y = X[:, 0] * 2
    seen: list[set[float]] = []

    def fit_predict(X_train, y_train, X_test):
        seen.append(set(X_train[:, 0]))
        return X_test[:, 0] * 2, np.ones(len(X_test))

    rows, mean, _std = out_of_fold(fit_predict, X, y, list(kfold(50, 5, seed=0)))
    assert sorted(rows.tolist()) == list(range(50))
    np.testing.assert_array_equal(mean, y[rows])
    for train_rows, test_rows in zip(seen, np.split(rows, 5), strict=True):
        assert not train_rows & set(X[test_rows, 0])


def test_recalibration_plot_is_a_png(tmp_path):
    y, mean, std = _heavy_tailed(300, seed=10)
    path = recalibration_plot(y, mean, std, fit_calibrator("isotonic", y, mean, std), tmp_path / "r.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_recalibrated_scales_the_std_a_campaign_scores_with(tmp_path):
    """The wrapper a campaign's own fit can use: predict (and a saved copy) gives the inner model's
    std times the factor fitted on out-of-fold predictions, and the mean unchanged."""
    from molops.models import get_model
    from molops.models.base import Surrogate
    from molops.models.calibration import CalibratedSurrogate, fit_recalibrated

    rng = np.random.default_rng(11)
    X = rng.normal(size=(120, 5))
    y = X[:, 0] + 3.0 * rng.standard_normal(120)  # noise the forest's spread does not show
    plain = get_model("rf", n_estimators=10, n_jobs=1).fit(X, y)
    model = fit_recalibrated(get_model("rf", n_estimators=10, n_jobs=1), X, y, "scale")
    assert isinstance(model, CalibratedSurrogate) and model.calibrator.n == 120
    (mean, std), (own_mean, own_std) = model.predict(X[:7]), plain.predict(X[:7])
    np.testing.assert_allclose(mean, own_mean)
    np.testing.assert_allclose(std, own_std * model.calibrator.factor)
    assert abs(model.calibrator.factor - 1) > 0.1  # a factor of 1 would not show it is applied
    loaded = Surrogate.load(model.save(tmp_path / "m"))
    np.testing.assert_allclose(loaded.predict(X[:7])[1], std)
    draws = model.sample(X[:7], 64, seed=0)
    np.testing.assert_allclose(
        draws.std(axis=0), plain.sample(X[:7], 64, seed=0).std(axis=0) * model.calibrator.factor
    )
    assert fit_recalibrated(get_model("rf", n_estimators=10, n_jobs=1), X, y, "none").predict(X[:7])[
        1
    ] == pytest.approx(own_std)
