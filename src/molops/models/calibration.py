"""Recalibrating a model's predictive std on held-out predictions, so its intervals mean what they say.

Two methods, both fitted on out-of-fold (validation) predictions in the user's units:

* ``scale`` (variance scaling, Levi et al. 2019): one factor s with std' = s·std, where s² is the
  maximum-likelihood variance of the held-out z-scores (y − mean)/std under N(0, s²), i.e. their
  mean square. One parameter cannot over-fit a small validation part and it keeps the ranking of
  the uncertainties, but a maximum-likelihood factor is pulled by the few largest errors: with the
  heavy-tailed errors of real models it fixes the NLL and can leave the intervals worse.
* ``isotonic`` (Kuleshov et al. 2018): an isotonic map R from each central interval's nominal level
  to the fraction of held-out points it really covered. The recalibrated predictive distribution is
  mean + std·ε with ε symmetric and P(|ε| ≤ Φ⁻¹((1+p)/2)) = R(p); its intervals come from R⁻¹, and
  the std that consumers see is that distribution's standard deviation, std·√E[ε²]. It corrects
  each confidence level on its own, so heavy tails do not spoil the central intervals. On held-out
  test parts it lowered the miscalibration area of every badly calibrated model kind, where
  ``scale`` often did not (docs/benchmarks.md, "Std recalibration"). Both keep the ranking of the
  uncertainties.

``auto`` (the default of ``molops train --recalibrate``) picks one of ``none``, ``scale`` and
``isotonic`` per model, because a few dozen validation molecules are too few for either method to
improve an already calibrated model: fitting on them mostly adds noise. See :func:`choose`.

A :class:`Calibrator` is plain data (JSON), so it lives in the model bundle's ``bundle.json`` and
every consumer of the bundle (batch predict, serving, the pyfunc model) applies it the same way.
"""

from __future__ import annotations

import math
from typing import Any, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import special

from molops.errors import MolopsError
from molops.models.base import Surrogate
from molops.models.metrics import (
    DEFAULT_LEVELS,
    NLL_STD_FLOOR,
    _inputs,
    _levels,
    gaussian_nll,
    miscalibration_area,
)

#: A method a :class:`Calibrator` is fitted with.
Fitted = Literal["none", "scale", "isotonic"]
#: What ``--recalibrate`` accepts: a fitted method, or ``auto`` to choose one (see :func:`choose`).
Method = Literal["none", "scale", "isotonic", "auto"]
METHODS: tuple[Method, ...] = ("none", "scale", "isotonic", "auto")
#: The default of ``molops train --recalibrate``: see the module docstring for why.
DEFAULT_METHOD: Method = "auto"
#: Fewer held-out predictions than this leave the std as the model gave it (a note says why).
MIN_POINTS = 10
#: ``auto``: random halvings of the held-out predictions (each scored both ways) and the
#: miscalibration area a candidate must beat ``none`` by, averaged over them (see :func:`choose`).
CROSS_FIT_REPEATS = 5
MARGIN = 0.01


class CalibrationError(MolopsError):
    """A recalibration method is unknown, or the held-out predictions cannot fit one."""

    exit_code = 2


def check_method(method: str) -> Method:
    """*method* as a :data:`Method`, or a one-sentence error naming the choices."""
    if method not in METHODS:
        raise CalibrationError(
            f"--recalibrate {method!r} is not supported; expected one of: {', '.join(METHODS)}"
        )
    return method


def _levels_of(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Each point's smallest covering central level erf(|z|/√2), as in the calibration curve."""
    scale = float(np.std(y)) or 1.0
    z = np.abs(y - mean) / np.maximum(std, NLL_STD_FLOOR * scale)
    return np.asarray(special.erf(z / math.sqrt(2)), dtype=float)


class Calibrator(BaseModel):
    """A fitted recalibration: ``apply(std)`` gives the std consumers see."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Fitted
    #: std multiplier (scale: s; isotonic: the recalibrated distribution's √E[ε²])
    factor: float = Field(1.0, gt=0)
    #: isotonic only: nominal levels p (0 … 1, increasing) and their observed coverage R(p)
    knots: list[float] | None = None
    coverage: list[float] | None = None
    #: held-out predictions it was fitted on
    n: int = 0

    def apply(self, std: np.ndarray) -> np.ndarray:
        """The recalibrated std: the model's std times :attr:`factor`."""
        return np.asarray(std, dtype=float) * self.factor

    def levels(self, y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        """Each point's smallest covering level under the recalibrated distribution (*std* is the
        model's own, uncalibrated): what the calibration curve and miscalibration area use."""
        y, mean, std = _inputs(y, mean, std)
        raw = _levels_of(y, mean, std)
        if self.method == "isotonic" and self.knots is not None and self.coverage is not None:
            return np.asarray(np.interp(raw, self.knots, self.coverage), dtype=float)
        return _levels_of(y, mean, std * self.factor)


def fit_scale(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    """The maximum-likelihood s of N(0, s²) for the z-scores (y − mean)/std: √mean(z²).

    std is floored as in :func:`~molops.models.metrics.gaussian_nll`, so a zero std cannot make s
    infinite.
    """
    y, mean, std = _inputs(y, mean, std)
    if y.size == 0:
        raise CalibrationError("cannot fit a std scale on no held-out predictions")
    floor = NLL_STD_FLOOR * (float(np.std(y)) or 1.0)
    z = (y - mean) / np.maximum(std, floor)
    s = float(np.sqrt(np.mean(z**2)))
    return s if s > 0 else 1.0


def fit_isotonic(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> tuple[list[float], list[float], float]:
    """(nominal levels, their observed coverage R, std factor √E[ε²]) of Kuleshov's isotonic
    recalibration.

    R is the isotonic regression of the empirical CDF of the points' covering levels on those
    levels, pinned to R(0) = 0 and R(1) = 1, kept as its breakpoints (exact where the points
    crowd near level 1, as they do for an over-confident model). The factor integrates t² against
    the recalibrated law of |ε|, P(|ε| ≤ t) = R(erf(t/√2)), on a fine grid of t.
    """
    y, mean, std = _inputs(y, mean, std)
    if y.size == 0:
        raise CalibrationError("cannot fit an isotonic recalibration on no held-out predictions")
    from sklearn.isotonic import IsotonicRegression  # scikit-learn: only fitting a recalibration needs it

    raw = np.sort(_levels_of(y, mean, std))
    empirical = np.arange(1, raw.size + 1) / raw.size
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    iso.fit(np.concatenate([[0.0], raw, [1.0]]), np.concatenate([[0.0], empirical, [1.0]]))
    knots = np.asarray(iso.X_thresholds_, dtype=float)
    coverage = np.maximum.accumulate(np.clip(np.asarray(iso.y_thresholds_, dtype=float), 0.0, 1.0))
    # the pins may be pooled with their neighbours: every interval covers nothing at level 0, all at 1
    if knots[0] > 0.0:
        knots, coverage = np.concatenate([[0.0], knots]), np.concatenate([[0.0], coverage])
    if knots[-1] < 1.0:
        knots, coverage = np.concatenate([knots, [1.0]]), np.concatenate([coverage, [1.0]])
    coverage[0], coverage[-1] = 0.0, 1.0
    # E[|ε|²] = Σ t² ΔG over a t grid reaching past the largest finite knot, where G is already 1
    finite = knots[knots < 1.0]
    t_max = float(math.sqrt(2) * special.erfinv(finite.max())) if finite.size else 1.0
    t = np.linspace(0.0, max(t_max, 1.0) * 1.05, 20001)
    cdf = np.interp(special.erf(t / math.sqrt(2)), knots, coverage)
    cdf[-1] = 1.0
    mids = 0.5 * (t[1:] + t[:-1])
    second_moment = float(np.sum(mids**2 * np.diff(cdf)))
    factor = math.sqrt(second_moment) if second_moment > 0 else 1.0
    return knots.tolist(), coverage.tolist(), factor


def fit_calibrator(
    method: Method, y: np.ndarray, mean: np.ndarray, std: np.ndarray, seed: int = 0
) -> Calibrator:
    """A :class:`Calibrator` of *method* fitted on held-out (y, mean, std); ``auto`` fits the method
    :func:`choose` picks (with *seed*)."""
    y, mean, std = _inputs(y, mean, std)
    if method == "auto":
        method = choose(y, mean, std, seed).chosen
    if method == "none":
        return Calibrator(method="none", n=int(y.size))
    if method == "scale":
        return Calibrator(method="scale", factor=fit_scale(y, mean, std), n=int(y.size))
    knots, coverage, factor = fit_isotonic(y, mean, std)
    return Calibrator(method="isotonic", factor=factor, knots=knots, coverage=coverage, n=int(y.size))


def curve(
    y: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    calibrator: Calibrator | None = None,
    levels: int | np.ndarray = DEFAULT_LEVELS,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected vs observed proportion inside central intervals, of the model's own std or, with
    *calibrator*, of its recalibrated distribution (*std* is always the model's own)."""
    expected = _levels(levels)
    y, mean, std = _inputs(y, mean, std)
    if y.size == 0:
        return expected, np.full_like(expected, math.nan)
    needed = np.sort(_levels_of(y, mean, std) if calibrator is None else calibrator.levels(y, mean, std))
    return expected, (np.searchsorted(needed, expected, side="right") / y.size).astype(float)


def scores(
    y: np.ndarray, mean: np.ndarray, std: np.ndarray, calibrator: Calibrator | None = None
) -> dict[str, float]:
    """``miscalibration_area`` and ``nll`` before (no *calibrator*) or after recalibration.

    After an isotonic recalibration the area is that of its own intervals (R⁻¹), and the NLL is the
    Gaussian one of the published std: the number a consumer of (mean, std) gets.
    """
    if calibrator is None or calibrator.method == "none":
        return {"miscalibration_area": miscalibration_area(y, mean, std), "nll": gaussian_nll(y, mean, std)}
    expected, observed = curve(y, mean, std, calibrator)
    if np.isnan(observed).any():
        area = math.nan
    else:
        gap = np.abs(observed - expected)
        area = float(np.sum(0.5 * (gap[1:] + gap[:-1]) * np.diff(expected)))
    return {"miscalibration_area": area, "nll": gaussian_nll(y, mean, calibrator.apply(std))}


class Choice(BaseModel):
    """What ``auto`` picked, each candidate's cross-fitted held-out miscalibration area (None: too
    few points to compare), and the reason in one sentence."""

    model_config = ConfigDict(frozen=True)

    chosen: Fitted
    cross_fitted: dict[str, float] | None
    reason: str


def choose(y: np.ndarray, mean: np.ndarray, std: np.ndarray, seed: int = 0, margin: float = MARGIN) -> Choice:
    """The recalibration ``auto`` fits on these held-out predictions, by cross-fitting.

    Rule: the points are split into random halves :data:`CROSS_FIT_REPEATS` times (a generator
    seeded with *seed*, so the same data and seed give the same choice); each candidate (``scale``,
    ``isotonic``) is fitted on one half and its miscalibration area scored on the other, both ways,
    and ``none`` (the model's own std) is scored on the same halves. The candidate with the lowest
    mean area is chosen only if it beats ``none``'s by more than *margin* (absolute area), since a
    calibrator fitted on few points must earn its place; otherwise ``none``. With fewer than
    2 × :data:`MIN_POINTS` points the halves are too small to compare and ``none`` is kept. Fitting
    on halves penalises a calibrator a little more than fitting on all points will, which errs
    toward keeping the model's own std.
    """
    y, mean, std = _inputs(y, mean, std)
    if y.size < 2 * MIN_POINTS:
        return Choice(
            chosen="none",
            cross_fitted=None,
            reason=f"only {y.size} held-out predictions, too few to compare recalibrations on halves "
            f"(at least {2 * MIN_POINTS})",
        )
    rng = np.random.default_rng(seed)
    candidates: tuple[Fitted, ...] = ("none", "scale", "isotonic")
    areas: dict[str, list[float]] = {c: [] for c in candidates}
    for _ in range(CROSS_FIT_REPEATS):
        order = rng.permutation(y.size)
        halves = (order[: y.size // 2], order[y.size // 2 :])
        for fit_rows, score_rows in (halves, halves[::-1]):
            held = (y[score_rows], mean[score_rows], std[score_rows])
            for c in candidates:
                calibrator = fit_calibrator(c, y[fit_rows], mean[fit_rows], std[fit_rows])
                areas[c].append(scores(*held, calibrator)["miscalibration_area"])
    cross_fitted = {c: float(np.mean(a)) for c, a in areas.items()}
    fitted: tuple[Fitted, ...] = ("scale", "isotonic")
    best = min(fitted, key=lambda c: cross_fitted[c])
    listed = ", ".join(f"{c} {a:.3f}" for c, a in cross_fitted.items())
    if cross_fitted[best] < cross_fitted["none"] - margin:
        return Choice(
            chosen=best,
            cross_fitted=cross_fitted,
            reason=f"lowest cross-fitted miscalibration area ({listed}), "
            f"beating none by more than {margin:g}",
        )
    return Choice(
        chosen="none",
        cross_fitted=cross_fitted,
        reason=f"no recalibration beat the model's own std by more than {margin:g} in cross-fitted "
        f"miscalibration area ({listed})",
    )


class CalibratedSurrogate(Surrogate):
    """A fitted surrogate whose std is recalibrated: for code that fits its own model rather than
    loading a bundle (a campaign's propose), so its acquisition sees the calibrated std too.

    Made by :func:`fit_recalibrated`; scaling the std commutes with every target transform's inverse
    (each maps a std linearly), so the calibrator may be fitted on transformed or user units alike.
    """

    name = "calibrated"

    def __init__(self, inner: Surrogate, calibrator: Calibrator) -> None:
        self.inner, self.calibrator = inner, calibrator
        self.params = inner.params
        self.fitted = inner.fitted

    def fit(self, X: np.ndarray, y: np.ndarray) -> Self:
        self.inner.fit(X, y)
        self.fitted = True
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self.inner.predict(X)
        return mean, self.calibrator.apply(std)

    def sample(self, X: np.ndarray, n_samples: int, seed: int = 0) -> np.ndarray:
        """The inner model's draws, spread about their mean by the std factor."""
        draws = self.inner.sample(X, n_samples, seed)
        centre = draws.mean(axis=0, keepdims=True)
        return np.asarray(centre + (draws - centre) * self.calibrator.factor)

    def clone(self) -> Self:
        return type(self)(self.inner.clone(), self.calibrator)

    def describe(self) -> dict[str, Any]:
        return self.inner.describe() | {"calibration": self.calibrator.model_dump()}


def fit_recalibrated(
    surrogate: Surrogate,
    X: Any,
    y: np.ndarray,
    method: Method = DEFAULT_METHOD,
    folds: int = 5,
    seed: int = 0,
) -> Surrogate:
    """*surrogate* fitted on (X, y) with its std recalibrated on *folds*-fold out-of-fold predictions
    (it is fitted folds + 1 times); unchanged (just fitted) for ``none``, a model without std, or
    fewer than :data:`MIN_POINTS` rows."""
    from molops.models.crossval import out_of_fold
    from molops.models.splits import kfold

    y = np.asarray(y, dtype=float)
    if method == "none" or "std" not in surrogate.provides or len(y) < max(MIN_POINTS, 2 * folds):
        return surrogate.fit(X, y)

    def fit_predict(X_train: Any, y_train: np.ndarray, X_test: Any) -> tuple[np.ndarray, np.ndarray]:
        return surrogate.clone().fit(X_train, y_train).predict(X_test)

    rows, mean, std = out_of_fold(fit_predict, X, y, list(kfold(len(y), folds, seed)))
    calibrator = fit_calibrator(method, y[rows], mean, std, seed)
    if calibrator.method == "none":
        return surrogate.fit(X, y)
    return CalibratedSurrogate(surrogate.fit(X, y), calibrator)
