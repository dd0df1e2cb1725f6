"""``molops train``, ``molops predict`` and ``molops models``: tracked training into the registry,
batch prediction, aliases and lineage through the CLI on the built-in FreeSolv data, and the
registered model served by MLflow's own ``mlflow models predict``.

One workspace for the run (two trainings: version 1 becomes champion, version 2 challenger), shared
by the xdist workers; tests that move aliases work on a copy of it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ._cli import MOLOPS, assert_one_line_error, clean_env, molops, read_csv, write_csv
from .conftest import NAME, ROWS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRAIN_KEYS = {
    "run_id",
    "model_name",
    "model_version",
    "alias",
    "model",
    "featurizer",
    "dataset",
    "dataset_version",
    "target",
    "params",
    "metrics",
    "valid_metrics",
    "calibration",
    "split",
    "n_train",
    "n_test",
    "dropped",
    "tuning",
    "comparison",
    "model_uri",
    "tracking_uri",
    "seconds",
}
METRICS = {"rmse", "mae", "r2", "spearman", "spearman_abs_error_std", "nll", "miscalibration_area"}


def _show(ws: Path) -> dict:
    return molops("models", "show", NAME, "-w", ws, "--json").json()


def test_train_json(trained):
    ws, first, second = trained.ws, trained.first, trained.second
    assert set(first) == TRAIN_KEYS
    assert (first["model_name"], first["model_version"], first["alias"]) == (NAME, 1, "champion")
    assert (first["dataset"], first["dataset_version"], first["target"]) == ("freesolv", 1, "expt")
    assert (first["model"], first["params"]["n_estimators"]) == ("rf", 20)
    assert set(first["metrics"]) >= METRICS
    assert first["metrics"]["r2"] > 0.3
    assert first["n_train"] + first["n_test"] == first["split"]["n"] > 600
    assert first["model_uri"] == f"models:/{NAME}/1"
    assert first["tracking_uri"] == f"sqlite:///{(ws / 'mlflow.db').resolve()}"
    # the second training of the same request: the same split, a new version, challenger
    assert (second["model_version"], second["alias"]) == (2, "challenger")
    assert second["split"] == first["split"]
    assert second["run_id"] != first["run_id"]


def test_predict_with_invalid_rows(trained, tmp_path):
    summary = trained.predicted
    assert {k: summary[k] for k in ("n", "predicted", "errors", "model_name", "model_version")} == {
        "n": 6,
        "predicted": 3,
        "errors": 3,
        "model_name": NAME,
        "model_version": 1,
    }
    rows = read_csv(trained.out)
    assert list(rows[0]) == [
        "smiles",  # the input's columns first, its smiles column shared with the predictions
        "id",
        "row",
        "canonical_smiles",
        "inchikey",
        "mean",
        "std",
        "similarity",
        "in_domain",
        "error",
        "model_name",
        "model_version",
    ]
    assert [r["error"].split(":")[0] for r in rows] == [
        "",
        "unparsable_structure",
        "",
        "empty_structure",
        "",
        "malformed_row",
    ]
    assert all(float(r["mean"]) == float(r["mean"]) and float(r["std"]) > 0 for r in rows if not r["error"])
    assert all(r["mean"] == "" for r in rows if r["error"])
    assert rows[4]["canonical_smiles"] == "CC(=O)O"
    assert [r["id"] for r in rows] == ["a", "b", "c", "d", "e", ""]  # the malformed row keeps none
    assert {r["model_version"] for r in rows} == {"1"}
    # the challenger by alias, to Parquet
    summary = molops(
        "predict", "-m", f"{NAME}@challenger", trained.src, tmp_path / "o.parquet", "-w", trained.ws, "--json"
    ).json()
    assert (summary["model_version"], summary["n"]) == (2, 6)


def test_list_and_show(trained):
    ws, first, second = trained.ws, trained.first, trained.second
    listing = molops("models", "list", "-w", ws, "--json").json()
    assert listing["tracking_uri"] == first["tracking_uri"]
    assert [(m["name"], m["versions"], m["aliases"], m["target"]) for m in listing["models"]] == [
        (NAME, 2, {"challenger": 2, "champion": 1}, "expt")
    ]
    shown = _show(ws)
    assert shown["tracking_uri"] == first["tracking_uri"]
    assert shown["model_uri"] == f"models:/{NAME}@champion"
    assert shown["aliases"] == {"challenger": 2, "champion": 1}
    versions = shown["versions"]
    assert [(v["version"], v["aliases"], v["run_id"]) for v in versions] == [
        (1, ["champion"], first["run_id"]),
        (2, ["challenger"], second["run_id"]),
    ]
    for v, trained_json in zip(versions, (first, second), strict=True):
        assert set(v["metrics"]) >= METRICS
        assert v["metrics"]["rmse"] == pytest.approx(trained_json["metrics"]["rmse"])
    assert [h["operation"] for h in shown["history"]] == ["register", "register"]
    human = molops("models", "show", NAME, "-w", ws).ok()
    assert f"champion: models:/{NAME}@champion" in human.stdout


def test_promote_and_rollback(copy):
    promoted = molops(
        "models", "promote", NAME, "2", "--alias", "champion", "--reason", "x", "-w", copy, "--json"
    ).json()
    assert {k: promoted[k] for k in ("name", "alias", "version", "previous", "operation", "reason")} == {
        "name": NAME,
        "alias": "champion",
        "version": 2,
        "previous": 1,
        "operation": "promote",
        "reason": "x",
    }
    assert promoted["by"] and promoted["at"]
    shown = _show(copy)
    assert shown["aliases"] == {"champion": 2}  # the challenger was promoted: no challenger now
    assert shown["versions"][1]["promotions"]["champion"]["reason"] == "x"

    back = molops("models", "rollback", NAME, "-w", copy, "--json").json()
    assert (back["version"], back["previous"], back["operation"]) == (1, 2, "rollback")
    res = molops("models", "rollback", NAME, "-w", copy)
    assert_one_line_error(res, "'champion' (version 1) has no earlier version to roll back to", code=2)


def test_lineage(trained):
    first = trained.first
    info = molops("models", "lineage", NAME, "1", "-w", trained.ws, "--json").json()
    assert (info["name"], info["version"], info["run_id"]) == (NAME, 1, first["run_id"])
    assert (info["dataset"], info["dataset_version"], info["target"]) == ("freesolv", 1, "expt")
    assert (info["model"], info["featurizer"]) == ("rf", first["featurizer"])
    assert info["featurizer_hash"]
    assert info["params"] == first["params"]
    assert (info["split"], info["seed"], info["tuned"]) == ("random", 0, False)
    assert info["code"]["molops_version"]
    assert info["environment"]["molops"] == info["code"]["molops_version"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bad_inputs(trained, tmp_path):
    ws = trained.ws
    before = _digest(ws / "mlflow.db")
    train = ("train", "-d", "freesolv", "-w", ws)
    res = molops(*train, "-m", "bogus")
    assert_one_line_error(res, "unknown model 'bogus'", "rf", code=2)
    res = molops(*train, "-m", "rf", "--params", "{n_estimators: 5}")
    assert_one_line_error(res, "--params", "is not valid JSON", code=2)
    res = molops(*train, "-m", "rf", "--split", "bogus")
    assert_one_line_error(res, "--split 'bogus' is not supported", "random, scaffold, time", code=2)
    res = molops("predict", "-m", "nope", trained.src, tmp_path / "out.csv", "-w", ws)
    assert_one_line_error(res, "no registered model 'nope'", NAME, code=2)
    assert not (tmp_path / "out.csv").exists()
    res = molops("models", "promote", NAME, "9", "-w", ws)
    assert_one_line_error(res, "has no version 9", "versions: 1, 2", code=2)
    assert _digest(ws / "mlflow.db") == before  # nothing was tracked or registered


def test_mlflow_models_predict(trained, tmp_path):
    """MLflow's own CLI serves the champion: the same predictions as `molops predict`."""
    mlflow = (
        Path(MOLOPS[0]).with_name("mlflow") if len(MOLOPS) == 1 else Path(sys.executable).with_name("mlflow")
    )
    assert mlflow.is_file(), mlflow
    src = write_csv(tmp_path / "in.csv", ["smiles"], [[r[0]] for r in ROWS])
    out = tmp_path / "pred.json"
    # MLflow's set_tracking_uri/set_registry_uri export MLFLOW_* variables: a test of this process
    # that tracked anything leaves them behind, and the registry URI would win over ours
    env = {k: v for k, v in clean_env().items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{(trained.ws / 'mlflow.db').resolve()}"
    command = ["models", "predict", "-m", f"models:/{NAME}@champion", "-i", src, "-t", "csv"]
    proc = subprocess.run(
        [str(mlflow), *map(str, command), "--env-manager", "local", "-o", str(out)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    predictions = json.loads(out.read_text())["predictions"]
    ours = read_csv(trained.out)[: len(ROWS)]
    assert len(predictions) == len(ROWS)
    for p, row in zip(predictions, ours, strict=True):
        if row["error"]:
            assert p["error"] == row["error"]
            assert p["mean"] != p["mean"]  # NaN
        else:
            assert p["error"] is None  # null, not a bare NaN: no error
            assert p["canonical_smiles"] == row["canonical_smiles"]
            assert p["mean"] == pytest.approx(float(row["mean"]))
            assert p["std"] == pytest.approx(float(row["std"]))
            assert p["in_domain"] == (row["in_domain"] == "True")
