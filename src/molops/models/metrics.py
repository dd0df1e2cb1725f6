"""Accuracy and uncertainty metrics of a surrogate's (mean, std) predictions, as plain floats.

Every metric is a Python float so it can go straight into a run log; a metric that is undefined
for the input (Spearman or R² of a constant, anything of an empty set) is NaN, never a warning.

Uncertainty is judged three ways, as in Tran et al. (2020) and chemprop's uncertainty evaluation:
does the std *rank* the errors (Spearman of |error| vs std), is the predictive Gaussian likely
(negative log-likelihood), and are its central intervals *calibrated* (miscalibration area).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from molops.errors import MolopsError

#: The std used in the NLL is floored at this fraction of the targets' standard deviation.
NLL_STD_FLOOR = 1e-3
#: Confidence levels 0, 0.01, …, 1 of the calibration curve, as in chemprop.
DEFAULT_LEVELS = 101


class MetricsError(MolopsError):
    """Predictions and targets cannot be compared: shapes differ, or values are missing or invalid."""

    exit_code = 2


def _vector(values: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 2 and arr.shape[1] == 1:  # a column vector, as some regressors return
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise MetricsError(f"{name} must be one value per molecule; got an array of shape {arr.shape}")
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise MetricsError(f"{name} has {bad} NaN or infinite values of {arr.size}; drop them before scoring")
    return arr


def _inputs(
    y: np.ndarray, mean: np.ndarray, std: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y_, mean_ = _vector(y, "y"), _vector(mean, "mean")
    std_ = _vector(std, "std") if std is not None else np.zeros_like(mean_)
    if not len(y_) == len(mean_) == len(std_):
        lengths = f"{len(y_)}, {len(mean_)}, {len(std_)}"
        raise MetricsError(f"y, mean and std must have equal lengths; got {lengths}")
    if (std_ < 0).any():
        raise MetricsError(f"std must be non-negative; {int((std_ < 0).sum())} values are below 0")
    return y_, mean_, std_


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho, NaN (silently) when a side is constant or has fewer than two points."""
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    from scipy import stats  # ~0.4 s to import: only Spearman's rho needs it

    return float(stats.spearmanr(a, b).statistic)


def regression_metrics(y: np.ndarray, mean: np.ndarray) -> dict[str, float]:
    """``rmse``, ``mae``, ``r2`` (coefficient of determination) and ``spearman`` of mean vs y."""
    y, mean, _ = _inputs(y, mean)
    if y.size == 0:
        return {"rmse": math.nan, "mae": math.nan, "r2": math.nan, "spearman": math.nan}
    err = mean - y
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": 1.0 - float((err**2).sum()) / ss_tot if ss_tot > 0 else math.nan,
        "spearman": _spearman(y, mean),
    }


def gaussian_nll(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    """Mean negative log-likelihood of y under N(mean, std²), including the ½·log 2π constant.

    A std of 0 would make the NLL infinite (or undefined at zero error), so std is floored at
    ``NLL_STD_FLOOR`` × the standard deviation of y (1 when y is constant): a model claiming more
    precision than 0.1 % of the targets' spread is scored as if it claimed that much.
    """
    y, mean, std = _inputs(y, mean, std)
    if y.size == 0:
        return math.nan
    scale = float(y.std()) or 1.0
    var = np.maximum(std, NLL_STD_FLOOR * scale) ** 2
    return float(np.mean(0.5 * np.log(2 * np.pi * var) + (y - mean) ** 2 / (2 * var)))


def _levels(levels: int | np.ndarray) -> np.ndarray:
    if isinstance(levels, int | np.integer):
        if levels < 2:
            raise MetricsError(f"a calibration curve needs at least 2 levels; got {levels}")
        return np.linspace(0.0, 1.0, int(levels))
    arr = _vector(levels, "levels")
    if arr.size < 2 or (arr < 0).any() or (arr > 1).any() or (np.diff(arr) <= 0).any():
        raise MetricsError("calibration levels must be at least 2 increasing values in [0, 1]")
    return arr


def calibration_curve(
    y: np.ndarray, mean: np.ndarray, std: np.ndarray, levels: int | np.ndarray = DEFAULT_LEVELS
) -> tuple[np.ndarray, np.ndarray]:
    """Expected vs observed fraction of points inside the central Gaussian prediction intervals.

    For a confidence level p the interval is mean ± z·std with z = Φ⁻¹((1 + p) / 2); a calibrated
    model has p of its points inside. Each point's smallest covering level is erf(|error| / (std·√2)),
    so the curve is that level's empirical CDF — no n × levels table. Returns (expected, observed);
    observed is NaN for an empty set.
    """
    y, mean, std = _inputs(y, mean, std)
    expected = _levels(levels)
    if y.size == 0:
        return expected, np.full_like(expected, math.nan)
    abs_err = np.abs(y - mean)
    safe = np.where(std > 0, std, 1.0)
    z = np.where(std > 0, abs_err / safe, np.where(abs_err == 0, 0.0, np.inf))
    needed = np.sort(special.erf(z / np.sqrt(2)))
    observed = np.searchsorted(needed, expected, side="right") / y.size
    return expected, observed.astype(float)


def miscalibration_area(
    y: np.ndarray, mean: np.ndarray, std: np.ndarray, levels: int | np.ndarray = DEFAULT_LEVELS
) -> float:
    """Area between the calibration curve and the diagonal: 0 is calibrated, 0.5 the worst.

    Over- and under-confidence both count (the absolute gap is integrated by the trapezoid rule
    over the levels, 0…1 by default), as chemprop's ``miscalibration_area`` evaluator does.
    """
    expected, observed = calibration_curve(y, mean, std, levels)
    if np.isnan(observed).any():
        return math.nan
    gap = np.abs(observed - expected)
    return float(np.sum(0.5 * (gap[1:] + gap[:-1]) * np.diff(expected)))


def uncertainty_metrics(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> dict[str, float]:
    """``spearman_abs_error_std``, ``nll`` and ``miscalibration_area`` of a (mean, std) prediction."""
    y, mean, std = _inputs(y, mean, std)
    return {
        "spearman_abs_error_std": _spearman(np.abs(y - mean), std),
        "nll": gaussian_nll(y, mean, std),
        "miscalibration_area": miscalibration_area(y, mean, std),
    }


def evaluate(y: np.ndarray, mean: np.ndarray, std: np.ndarray | None = None) -> dict[str, float]:
    """The regression metrics, plus the uncertainty metrics when *std* is given."""
    out = regression_metrics(y, mean)
    if std is not None:
        out |= uncertainty_metrics(y, mean, std)
    return out
