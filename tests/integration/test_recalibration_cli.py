"""Std recalibration through the real CLI: ``train --recalibrate`` reports before/after, ``predict``
publishes the recalibrated std, and the service answers with the very same std."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from ._cli import molops, read_csv, write_csv
from .test_serve_cli import serving

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARAMS = '{"n_estimators": 20}'
SMILES = ["CCO", "c1ccccc1O", "CC(=O)O", "CCCCCCCC", "OCC(O)CO"]


def _train(ws, name: str, method: str) -> dict:
    args = ("train", "-d", "freesolv", "-m", "rf", "--params", PARAMS, "--name", name)
    return molops(*args, "--recalibrate", method, "-w", ws, "--json").json()


def _std(ws, name: str, src, out) -> np.ndarray:
    molops("predict", "-m", name, src, out, "-w", ws, "--no-log", "--json").json()
    return np.array([float(r["std"]) for r in read_csv(out)])


def test_train_reports_and_predict_and_serve_apply_the_recalibration(workspace, tmp_path):
    molops("data", "ingest", "--builtin", "freesolv", "-w", workspace, "--json").json()
    plain, scaled = _train(workspace, "plain", "none"), _train(workspace, "scaled", "scale")
    report = scaled["calibration"]
    assert (report["method"], report["applied"], report["fitted_on"]) == ("scale", True, "valid")
    for part in ("valid", "test"):
        assert set(report[part]) == {"before", "after"}
        for when in ("before", "after"):
            assert set(report[part][when]) == {"miscalibration_area", "nll"}
    # the maximum-likelihood factor minimises the held-out NLL over every factor, 1 included
    assert report["valid"]["after"]["nll"] <= report["valid"]["before"]["nll"]
    assert plain["calibration"]["applied"] is False
    assert molops("train", "-d", "freesolv", "--recalibrate", "platt", "-w", workspace).returncode == 2

    src = write_csv(tmp_path / "in.csv", ["smiles"], [[s] for s in SMILES])
    own = _std(workspace, "plain", src, tmp_path / "plain.csv")
    published = _std(workspace, "scaled", src, tmp_path / "scaled.csv")
    # same split, seed and forest: the only difference is the fitted factor
    np.testing.assert_allclose(published, own * report["factor"], rtol=1e-9)

    with serving(workspace, tmp_path, "--model", "scaled", "--no-log") as server:
        body = httpx.post(server.url + "/v1/predict", json={"smiles": SMILES}, timeout=60).json()
        server.stop()
    np.testing.assert_allclose([r["std"] for r in body["results"]], published, rtol=1e-12)


def test_train_auto_reports_what_it_chose_and_why(workspace):
    """The default method, asked for by name: the JSON says which method cross-fitting chose, each
    candidate's cross-fitted area, and the published std follows the choice."""
    molops("data", "ingest", "--builtin", "freesolv", "-w", workspace, "--json").json()
    report = _train(workspace, "auto", "auto")["calibration"]
    assert report["method"] == "auto"
    assert report["chosen"] in ("none", "scale", "isotonic")
    assert set(report["cross_fitted"]) == {"none", "scale", "isotonic"}  # 64 validation molecules
    assert report["applied"] is (report["chosen"] != "none")
    assert report["reason"]
    best = min(report["cross_fitted"], key=report["cross_fitted"].get)
    if report["chosen"] != "none":
        assert report["chosen"] == best
