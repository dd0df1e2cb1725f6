"""The recalibration step of a training: fit the std calibrator on held-out predictions, score it
before and after (held-out, and test when there is one), draw it, and record it on the MLflow run.

The held-out predictions are the validation part's (the model fitted on train only, which the
training computes anyway), or, when the split has no validation part, k-fold out-of-fold
predictions over the rows the final model is fitted on. The "after" scores on held-out data are
in-sample for the calibrator; the test scores are the honest ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from molops.models.base import MODELS
from molops.models.calibration import (
    MIN_POINTS,
    Calibrator,
    Choice,
    Method,
    choose,
    fit_calibrator,
    scores,
)
from molops.models.crossval import FitPredict, out_of_fold
from molops.models.plots import recalibration_plot
from molops.models.splits import kfold
from molops.tracking._mlflow import Quiet
from molops.tracking.store import Tracking

Triple = tuple[np.ndarray, np.ndarray, np.ndarray]

#: Folds of the out-of-fold predictions when the split has no validation part.
OOF_FOLDS = 5


class Recalibration(BaseModel):
    """The fitted calibrator (None: the std is published as the model gives it) and its report."""

    calibrator: Calibrator | None
    report: dict[str, Any]

    def metrics(self) -> dict[str, float]:
        """Flat MLflow metrics, e.g. ``calibration_valid_miscalibration_area_after``."""
        out: dict[str, float] = {}
        for part in ("valid", "test"):
            for when in ("before", "after"):
                for key, value in self.report.get(part, {}).get(when, {}).items():
                    if math.isfinite(value):
                        out[f"calibration_{part}_{key}_{when}"] = float(value)
        if self.calibrator is not None:
            out["calibration_factor"] = self.calibrator.factor
        return out


def skipped(method: Method, note: str) -> Recalibration:
    """No calibrator, and the one-sentence *note* saying why (a model without std, too few points)."""
    report = {"method": method, "chosen": "none", "applied": False, "note": note}
    return Recalibration(calibrator=None, report=report)


def recalibrate(
    method: Method,
    held_out: Triple,
    source: str,
    test: Triple | None,
    seed: int = 0,
) -> Recalibration:
    """Fit *method* on *held_out* (y, mean, std of the model's own std) from *source* (``valid`` or
    ``out-of-fold``) and score before/after on it and on *test* (also the model's own std).

    ``auto`` first picks the method by cross-fitting on *held_out* (seeded with *seed*; see
    :func:`molops.models.calibration.choose`); the report's ``chosen``, ``cross_fitted`` and
    ``reason`` say what it picked and why. A forced method is its own ``chosen``."""
    y, mean, std = held_out
    if len(y) < MIN_POINTS:
        return skipped(
            method,
            f"only {len(y)} held-out predictions (at least {MIN_POINTS} are needed to fit a "
            "recalibration); the std is the model's own",
        )
    if method == "auto":
        choice = choose(y, mean, std, seed)
    else:
        choice = Choice(chosen=method, cross_fitted=None, reason=f"--recalibrate {method} was asked for")
    calibrator = fit_calibrator(choice.chosen, y, mean, std)
    report: dict[str, Any] = {
        "method": method,
        "chosen": choice.chosen,
        "cross_fitted": choice.cross_fitted,
        "reason": choice.reason,
        "applied": choice.chosen != "none",
        "fitted_on": source,
        "n": len(y),
        "factor": calibrator.factor,
        "valid": {"before": scores(y, mean, std), "after": scores(y, mean, std, calibrator)},
    }
    if test is not None and len(test[0]):
        report["test"] = {"before": scores(*test), "after": scores(*test, calibrator)}
    if choice.chosen == "none":
        report["note"] = choice.reason
    return Recalibration(calibrator=None if choice.chosen == "none" else calibrator, report=report)


def plot(recal: Recalibration, held_out: Triple, folder: Path, name: str) -> Path | None:
    """The before/after calibration plot on the held-out predictions, or None without a calibrator."""
    if recal.calibrator is None:
        return None
    return recalibration_plot(
        *held_out,
        recal.calibrator,
        folder / "recalibration.png",
        title=f"{name}: recalibration ({recal.report['fitted_on']})",
    )


def log_to_run(tracking: Tracking, run_id: str, recal: Recalibration, png: Path | None) -> None:
    """Add the before/after metrics (and the plot, under ``plots/``) to the training's MLflow run."""
    with Quiet():
        for key, value in recal.metrics().items():
            tracking.client.log_metric(run_id, key, value)
        tracking.client.set_tag(run_id, "molops.recalibrate", str(recal.report.get("method")))
        # what was fitted (auto's pick, or the forced method; none when skipped)
        tracking.client.log_param(run_id, "calibration_chosen", str(recal.report.get("chosen", "none")))
        if png is not None:
            tracking.client.log_artifact(run_id, str(png), "plots")


def for_training(
    method: Method,
    model: str,
    fit_predict: FitPredict,
    fit_data: tuple[Any, np.ndarray],
    held_out: Triple | None,
    test: Triple | None,
    seed: int,
    log: Callable[[str], None],
) -> tuple[Recalibration, Triple | None]:
    """The training's calibrator and the held-out (y, mean, std) it was fitted on: the validation
    part's predictions, or without one, out-of-fold predictions over *fit_data* (the rows the
    final model is fitted on). A model without std is skipped with a note, not an error."""
    if "std" not in MODELS.get(model).provides:
        return skipped(method, f"model {model!r} gives no std to recalibrate"), None
    source = "valid"
    if held_out is None:
        X, y = fit_data
        if method == "none" or len(y) < 2 * OOF_FOLDS:
            return skipped(method, "no validation part to recalibrate the std on"), None
        source = "out-of-fold"
        log(f"recalibration: {OOF_FOLDS}-fold out-of-fold predictions")
        rows, oof_mean, oof_std = out_of_fold(fit_predict, X, y, list(kfold(len(y), OOF_FOLDS, seed)))
        held_out = (y[rows], oof_mean, oof_std)
    recal = recalibrate(method, held_out, source, test, seed)
    if recal.calibrator is not None:
        before = recal.report["valid"]["before"]["miscalibration_area"]
        after = recal.report["valid"]["after"]["miscalibration_area"]
        log(
            f"recalibration {recal.report['chosen']}: std × {recal.calibrator.factor:.3g}, "
            f"miscalibration area {before:.3f} → {after:.3f} ({source})"
        )
    return recal, held_out
