"""A campaign surrogate fitted with its std recalibrated (issue 17), so acquisition scores, and
proposals publish, a std whose intervals mean what they say.

The calibrator (:mod:`molops.models.calibration`) is fitted on held-out predictions of the
training set, whose cross-fitting costs extra fits on every propose, so the held-out part depends
on the size:

* up to :data:`OOF_MAX_ROWS` training molecules, :data:`OOF_FOLDS`-fold out-of-fold predictions
  (every molecule held out once; 5 extra fits on 80 % of the rows), since a small set needs every
  point to fit a calibrator that is more than noise;
* above it, one fold as a single holdout (1 extra fit on 80 %): already
  ``OOF_MAX_ROWS / OOF_FOLDS`` held-out points, plenty for one factor or an isotonic curve.

Earlier batches' predictions made before their labels (the molecules acquisition picks, at no
extra fit) were tried as the held-out part instead and did no better than the model's own std
(docs/benchmarks.md, "Std recalibration in campaigns"). Fewer than
:data:`~molops.models.calibration.MIN_POINTS` molecules, ``none``, or a model without a std: the
model is fitted once and its own std is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

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
#: Above this many training molecules the calibrator is fitted on a single holdout fold.
OOF_MAX_ROWS = 2000


def fit_surrogate(
    surrogate: Surrogate,
    X: Any,
    y: np.ndarray,
    method: Method,
    seed: int = 0,
) -> tuple[Surrogate, dict[str, Any]]:
    """*surrogate* fitted on (X, y), wrapped in a :class:`CalibratedSurrogate` when *method* (or
    ``auto``'s pick) recalibrates its std, and a report for the iteration: method, chosen, factor,
    held-out part, and the held-out miscalibration area and NLL before/after (in-sample for the
    calibrator, in the transformed target's units)."""
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
