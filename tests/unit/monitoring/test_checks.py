"""The checks detect drift and do not cry wolf: another chemistry alerts every input check, random
same-distribution windows alert at most 5% of the time; live error, calibration and processing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from molops.config import MonitorSection
from molops.models.reference import TrainingReference
from molops.monitoring.checks import (
    descriptor_drift,
    live_performance,
    new_scaffolds,
    out_of_domain,
    prediction_drift,
    processing,
    similarity_drift,
    worst,
)

from .conftest import spaces

pytestmark = pytest.mark.slow
CFG = MonitorSection()
INPUT_CHECKS = (descriptor_drift, similarity_drift, out_of_domain, new_scaffolds)


def test_another_chemistry_alerts():
    ref, _, freesolv = spaces()
    window = freesolv.subset(np.random.default_rng(0).choice(len(freesolv), 100, replace=False))
    verdicts = {check.__name__: check(window, ref, CFG) for check in INPUT_CHECKS}
    assert (
        verdicts["descriptor_drift"].verdict == "alert"
        and "largest shift" in verdicts["descriptor_drift"].detail
    )
    assert verdicts["similarity_drift"].verdict == "alert"
    assert verdicts["out_of_domain"].verdict == "alert" and verdicts["out_of_domain"].statistic > 0.3
    # FreeSolv's rings (benzene, pyridine, cyclohexane) are ChEMBL scaffolds too: no new-scaffold alarm
    assert verdicts["new_scaffolds"].verdict == "ok"


def test_new_scaffolds_adapt_to_how_diverse_the_training_set_is():
    chembl_ref, held_out, freesolv = spaces()
    window = held_out.subset(np.arange(100))
    # trained on FreeSolv (few, shared scaffolds: a new one is rare), ChEMBL's scaffolds are news
    narrow = TrainingReference.build(
        freesolv.molecules["inchikey"], freesolv.molecules["canonical_smiles"], np.zeros(len(freesolv))
    )
    verdict = new_scaffolds(window, narrow, CFG)
    assert verdict.verdict == "alert" and verdict.figures["expected_rate"] < 0.2
    # trained on diverse ChEMBL, where most molecules have a scaffold of their own, they are not
    assert new_scaffolds(window, chembl_ref, CFG).verdict == "ok"


def test_same_distribution_windows_rarely_alert():
    """The false-alarm rate over 200 random held-out windows of 60 molecules (goal ≤ 5%)."""
    ref, held_out, _ = spaces()
    rng = np.random.default_rng(7)
    alarms = 0
    for _ in range(200):
        window = held_out.subset(rng.choice(len(held_out), 60, replace=False))
        alarms += worst([check(window, ref, CFG).verdict for check in INPUT_CHECKS]) == "alert"
    assert alarms / 200 <= 0.05, f"{alarms} false alarms in 200 windows"


def test_too_few_molecules_is_insufficient_data_not_an_alarm():
    ref, _, freesolv = spaces()
    window = freesolv.subset(np.arange(10))
    for check in INPUT_CHECKS:
        result = check(window, ref, CFG)
        assert result.verdict == "insufficient_data" and "at least 30" in result.detail


def test_prediction_drift_against_the_previous_window():
    _, held_out, _ = spaces()
    rng = np.random.default_rng(3)
    before = held_out.subset(rng.choice(len(held_out), 200, replace=False))
    now = held_out.subset(rng.choice(len(held_out), 200, replace=False))
    before.molecules["mean"], now.molecules["mean"] = rng.normal(size=200), rng.normal(size=200)
    assert prediction_drift(now, before, CFG).verdict == "ok"
    now.molecules["mean"] = rng.normal(2.0, 1.0, size=200)
    assert prediction_drift(now, before, CFG).verdict == "alert"
    assert prediction_drift(now, None, CFG).verdict == "insufficient_data"
    no_baseline = prediction_drift(now, None, CFG).detail
    assert no_baseline == "0 distinct molecules in the previous window (the baseline); at least 30 needed"


def _joined(n: int, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=n)
    return pd.DataFrame({"mean": mean, "std": np.ones(n), "label": mean + rng.normal(size=n) + shift})


def test_live_performance_and_calibration():
    perf, calib = live_performance(_joined(200), test_rmse=1.0, cfg=CFG)
    assert (perf.verdict, calib.verdict) == ("ok", "ok")
    assert perf.statistic == pytest.approx(1.0, abs=0.15) and calib.statistic == pytest.approx(0.95, abs=0.04)
    perf, calib = live_performance(_joined(200, shift=3.0), test_rmse=1.0, cfg=CFG)
    assert (perf.verdict, calib.verdict) == ("alert", "alert")
    assert "× the held-out test RMSE" in perf.detail
    few = live_performance(_joined(5, shift=3.0), test_rmse=1.0, cfg=CFG)
    assert [c.verdict for c in few] == ["insufficient_data", "insufficient_data"]


def test_processing_checks():
    rows = pd.DataFrame(
        {
            "source": ["api"] * 100,
            "request_id": [f"r{i}" for i in range(100)],
            "latency_ms": [5.0] * 98 + [1000.0, 1000.0],
            "error": [None] * 70 + ["unparsable_structure: x"] * 30,
        }
    )
    latency, errors = processing(rows, CFG)
    assert latency.verdict == "warn" and latency.figures["p50_ms"] == 5.0
    assert errors.verdict == "alert" and errors.figures["reasons"] == {"unparsable_structure": 30}


def test_worst_orders_verdicts():
    assert worst(["ok", "insufficient_data"]) == "insufficient_data"
    assert worst(["warn", "alert", "ok"]) == "alert"
    assert worst([]) == "insufficient_data"
