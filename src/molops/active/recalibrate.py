"""A campaign surrogate fitted with its std recalibrated (issue 17), so acquisition scores, and
proposals publish, a std whose intervals mean what they say.

The calibrator (:mod:`molops.models.calibration`) is fitted on held-out predictions, preferably of
the kind acquisition makes: once earlier batches have at least :data:`MIN_ANSWERED` answered
proposals, on their predictions made before the labels (measured value, predicted mean, and the
model's own std, i.e. the published std divided by that iteration's factor). Those molecules were
picked by acquisition, often away from the training data, where errors are larger than
cross-validation on the training set shows; and they cost no extra fit. Before that, on held-out
predictions of the training set, whose cross-fitting costs extra fits on every propose:

* up to :data:`OOF_MAX_ROWS` training molecules, :data:`OOF_FOLDS`-fold out-of-fold predictions
  (every molecule held out once; 5 extra fits on 80 % of the rows), since a small set needs every
  point to fit a calibrator that is more than noise;
* above it, one fold as a single holdout (1 extra fit on 80 %): already
  ``OOF_MAX_ROWS / OOF_FOLDS`` held-out points, plenty for one factor or an isotonic curve.

Fewer than :data:`~molops.models.calibration.MIN_POINTS` molecules, ``none``, or a model without a
std: the model is fitted once and its own std is used. Docs/benchmarks.md ("Std recalibration in
campaigns") gives the measured cost and effect.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from molops.active.state import Iteration
from molops.models.base import Surrogate
from molops.models.calibration import (
    MIN_POINTS,
    CalibratedSurrogate,
    Method,
    choose,
    fit_calibrator,
    scores,
)
from molops.models.crossval import out_of_fold
from molops.models.splits import kfold

Triple = tuple[np.ndarray, np.ndarray, np.ndarray]

OOF_FOLDS = 5
#: Answered proposals of earlier batches needed to fit on them (``auto`` compares on halves of 10).
MIN_ANSWERED = 2 * MIN_POINTS
#: Above this many training molecules the calibrator is fitted on a single holdout fold.
OOF_MAX_ROWS = 2000


def answered_predictions(
    proposals: pd.DataFrame, values: dict[str, float], iterations: list[Iteration]
) -> Triple:
    """(measured value, predicted mean, the model's own std) of every earlier proposal with a value
    in *values* (InChIKey → value): its published std divided by its iteration's calibration factor.
    A molecule swapped in during review has no prediction and is left out."""
    factors = {it.number: float((it.calibration or {}).get("factor", 1.0)) for it in iterations}
    rows = proposals[proposals["predicted_mean"].notna() & proposals["predicted_std"].notna()]
    measured = rows["inchikey"].map(values).astype(np.float64)
    rows, measured = rows[measured.notna()], measured[measured.notna()]
    factor = rows["iteration"].map(factors).fillna(1.0).to_numpy(np.float64)
    std = rows["predicted_std"].to_numpy(np.float64) / factor
    return measured.to_numpy(np.float64), rows["predicted_mean"].to_numpy(np.float64), std


def fit_surrogate(
    surrogate: Surrogate,
    X: Any,
    y: np.ndarray,
    method: Method,
    seed: int = 0,
    answered: Triple | None = None,
) -> tuple[Surrogate, dict[str, Any]]:
    """*surrogate* fitted on (X, y), wrapped in a :class:`CalibratedSurrogate` when *method* (or
    ``auto``'s pick) recalibrates its std, and a report for the iteration: method, chosen, factor,
    held-out part, and the held-out miscalibration area and NLL before/after (in-sample for the
    calibrator). *answered*: earlier batches' predictions (:func:`answered_predictions`), used
    instead of cross-fitting once there are :data:`MIN_ANSWERED` of them."""
    y = np.asarray(y, dtype=float)
    report: dict[str, Any] = {"method": method, "chosen": "none", "factor": 1.0}
    if method == "none":
        return surrogate.fit(X, y), report | {"note": "recalibrate none: the model's own std"}
    if "std" not in surrogate.provides:
        return surrogate.fit(X, y), report | {"note": f"model {surrogate.name!r} gives no std"}
    n = len(y)
    if n < max(MIN_POINTS, 2 * OOF_FOLDS):
        note = f"only {n} training molecules (at least {max(MIN_POINTS, 2 * OOF_FOLDS)} are needed)"
        return surrogate.fit(X, y), report | {"note": note + "; the std is the model's own"}
    if answered is not None and len(answered[0]) >= MIN_ANSWERED:
        held, fitted_on = answered, f"{len(answered[0])} answered proposals of earlier batches"
    else:
        held, fitted_on = _held_out(surrogate, X, y, seed)
    choice = choose(*held, seed=seed) if method == "auto" else None
    chosen = choice.chosen if choice is not None else method
    calibrator = fit_calibrator(chosen, *held)
    report |= {
        "chosen": chosen,
        "factor": calibrator.factor,
        "fitted_on": fitted_on,
        "n": len(held[0]),
        "before": scores(*held),
        "after": scores(*held, calibrator),
    }
    if choice is not None:
        report["reason"] = choice.reason
    model = surrogate.fit(X, y)
    return (model if chosen == "none" else CalibratedSurrogate(model, calibrator)), report


def _held_out(surrogate: Surrogate, X: Any, y: np.ndarray, seed: int) -> tuple[Triple, str]:
    """Out-of-fold predictions of the training set (one fold only above :data:`OOF_MAX_ROWS`)."""
    folds = list(kfold(len(y), OOF_FOLDS, seed))
    holdout = len(y) > OOF_MAX_ROWS
    if holdout:
        folds = folds[:1]

    def fit_predict(X_train: Any, y_train: np.ndarray, X_test: Any) -> tuple[np.ndarray, np.ndarray]:
        return surrogate.clone().fit(X_train, y_train).predict(X_test)

    rows, mean, std = out_of_fold(fit_predict, X, y, folds)
    where = f"{OOF_FOLDS}-fold out-of-fold" if not holdout else f"1 of {OOF_FOLDS} folds held out"
    return (y[rows], mean, std), where
