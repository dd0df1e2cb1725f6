"""The std calibrator in the bundle (kept on a round trip, applied by every predict path) and in a
tracked training (fitted, scored before/after, logged to MLflow, skipped with a note when it cannot be)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from molops.cli import train as train_cli
from molops.models.calibration import METHODS, Calibrator
from molops.tracking._mlflow import Quiet, client
from molops.tracking.bundle import ModelBundle

from .conftest import small_bundle

SMILES = ["CCO", "c1ccccc1O", "CC(=O)O", "not a smiles", "CCCCCCCC"]


def _with(calibration: Calibrator | None) -> ModelBundle:
    base = small_bundle()
    info = base.info.model_copy(update={"calibration": calibration})
    return ModelBundle(copy.deepcopy(base.surrogate), info, base.reference)


def test_a_bundle_without_calibration_predicts_the_models_own_std():
    bundle = small_bundle()
    assert bundle.info.calibration is None
    frame = bundle.predict(SMILES)
    X = bundle.preparation().batch(SMILES[:3], "smiles").values
    _, own = bundle.info.transform.inverse(*bundle.surrogate.predict(X))
    np.testing.assert_allclose(frame["std"][:3], own)


def test_the_calibrator_survives_a_round_trip_and_scales_every_predicted_std(tmp_path):
    calibrator = Calibrator(method="scale", factor=2.5, n=40)
    plain, calibrated = small_bundle().predict(SMILES), _with(calibrator)
    loaded = ModelBundle.load(calibrated.save(tmp_path / "b"))
    assert loaded.info.calibration == calibrator
    for frame in (calibrated.predict(SMILES), loaded.predict(SMILES)):
        np.testing.assert_allclose(frame["std"], plain["std"] * 2.5)  # NaN where the input is bad
        np.testing.assert_allclose(frame["mean"], plain["mean"])
    columns = loaded.predict_columns(SMILES)  # what the service answers with
    np.testing.assert_allclose(columns["std"], plain["std"] * 2.5)


def test_the_cli_offers_exactly_the_library_methods():
    assert train_cli.RECALIBRATE_NAMES == METHODS


@pytest.mark.slow
def test_a_training_with_a_validation_part_recalibrates_and_logs_it(tracked):
    r = tracked.runs["scaffold"]  # 14 validation molecules, --recalibrate isotonic forced
    report = r.calibration
    assert (report["method"], report["applied"], report["fitted_on"]) == ("isotonic", True, "valid")
    assert (report["chosen"], report["cross_fitted"]) == ("isotonic", None)
    assert report["n"] == r.split["sizes"]["valid"]
    for part in ("valid", "test"):
        assert set(report[part]) == {"before", "after"}
        assert set(report[part]["after"]) == {"miscalibration_area", "nll"}
    # the held-out test metrics are those of the published (recalibrated) std
    assert r.metrics["nll"] == pytest.approx(report["test"]["after"]["nll"])
    with Quiet():
        run = client(tracked.uri).get_run(r.run_id)
        artifacts = [a.path for a in client(tracked.uri).list_artifacts(r.run_id, "plots")]
    metrics = run.data.metrics
    assert metrics["calibration_factor"] == pytest.approx(report["factor"])
    for part in ("valid", "test"):
        for when in ("before", "after"):
            value = report[part][when]["miscalibration_area"]
            assert metrics[f"calibration_{part}_miscalibration_area_{when}"] == pytest.approx(value)
    assert run.data.tags["molops.recalibrate"] == "isotonic"
    assert run.data.params["calibration_chosen"] == "isotonic"
    assert "plots/recalibration.png" in artifacts
    bundle, _ = _registry_bundle(tracked, "tiny-scaffold")
    assert bundle.info.calibration is not None
    assert bundle.info.calibration.factor == pytest.approx(report["factor"])


@pytest.mark.slow
def test_too_few_held_out_predictions_leave_the_std_alone_with_a_note(tracked):
    r = tracked.runs["v1"]  # 7 validation molecules, the default auto
    assert (r.calibration["method"], r.calibration["chosen"], r.calibration["applied"]) == (
        "auto",
        "none",
        False,
    )
    assert "held-out predictions" in r.calibration["note"]
    bundle, _ = _registry_bundle(tracked, "tiny-expt")
    assert bundle.info.calibration is None


def _registry_bundle(tracked, name: str):
    from molops.tracking.registry import ModelRegistry

    return ModelRegistry(tracked.uri, "tester").load(f"{name}@champion")


def test_the_human_summary_has_one_line_on_the_recalibration():
    report = {
        "method": "isotonic",
        "chosen": "isotonic",
        "applied": True,
        "fitted_on": "valid",
        "factor": 2.5,
        "valid": {"before": {"miscalibration_area": 0.3}, "after": {"miscalibration_area": 0.01}},
        "test": {"before": {"miscalibration_area": 0.25}, "after": {"miscalibration_area": 0.05}},
    }
    line = train_cli._calibration_line(report)
    assert line.startswith("std recalibration isotonic (× 2.5")
    assert "valid 0.3" in line and "test 0.25" in line and "0.05" in line
    auto = report | {"method": "auto", "reason": "lowest cross-fitted miscalibration area (none 0.3)"}
    line = train_cli._calibration_line(auto)
    assert line.startswith("std recalibration auto chose isotonic (× 2.5")
    assert line.endswith("; lowest cross-fitted miscalibration area (none 0.3)")
    note = {"method": "isotonic", "applied": False, "note": "only 7 held-out predictions"}
    assert train_cli._calibration_line(note) == "std recalibration: none (only 7 held-out predictions)"
    kept = {"method": "auto", "chosen": "none", "applied": False, "note": "no recalibration beat it"}
    assert train_cli._calibration_line(kept) == "std recalibration: auto kept none (no recalibration beat it)"
