"""The D-MPNN's ONNX export through the real CLI (issue 18): ``models export --onnx --json`` on a
trained D-MPNN reports its parity on held-back molecules, and ``serve --onnx`` answers over a real
socket with the native model's predictions, invalid molecules turned away as natively, also where
torch and chemprop cannot be imported (only the onnx extra installed); an export recorded before
its serving files existed then fails to load with a sentence saying what to do."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import httpx
import onnxruntime
import pytest

from ._cli import clean_env, molops, read_csv, write_csv
from .test_serve_cli import failed_readiness, serving

pytestmark = [pytest.mark.integration, pytest.mark.slow]

pytest.importorskip("chemprop")

NAME = "freesolv-expt"
#: a tiny network (a few seconds per member): parity does not need a good model
TINY = '{"n_members": 2, "epochs": 1, "hidden": 16, "ffn_hidden": 16, "accelerator": "cpu"}'
#: one heavy atom, a salt (served as its parent), an unparsable SMILES, an aromatic ring
SMILES = ["CCO", "C", "CC(=O)[O-].[Na+]", "xyz", "c1ccccc1O"]
#: a sitecustomize that makes torch, chemprop and lightning unimportable in every process that
#: reads it (the service and its children), as on a machine with only the onnx extra
NO_TORCH = """
import sys


class _Hidden:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {"torch", "chemprop", "lightning"}:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)", name=name)
        return None


sys.meta_path.insert(0, _Hidden())
"""


def test_dmpnn_export_and_serve_onnx_answer_as_native(tmp_path):
    ws = tmp_path / "ws"
    molops("init", ws).ok()
    molops("data", "ingest", "--builtin", "freesolv", "-w", ws, "--json").json()
    trained = molops(
        "train", "-d", "freesolv", "-m", "dmpnn", "--params", TINY, "-w", ws, "--json", timeout=600
    )
    assert trained.json()["model_uri"] == f"models:/{NAME}/1"
    src = write_csv(tmp_path / "in.csv", ["smiles"], [[s] for s in SMILES])
    out = tmp_path / "out.csv"
    molops("predict", "-m", f"{NAME}:1", src, out, "-w", ws, "--json").json()
    native = {row["smiles"]: row for row in read_csv(out)}

    path = tmp_path / "dmpnn.onnx"
    report = molops("models", "export", f"{NAME}:1", "--onnx", path, "-w", ws, "--json", timeout=300).json()
    assert (report["model"], report["molecules"], report["quantize"]) == ("dmpnn", 200, None)
    assert 0 <= report["max_abs_diff"] < 1e-3 and report["within_tolerance"] and not report["forced"]
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == [
        "V",
        "E",
        "edge_index",
        "rev_edge_index",
        "batch",
        "atoms",
    ]
    assert [o.name for o in session.get_outputs()] == ["mean", "std", "members"]

    with serving(ws, tmp_path, "-m", f"{NAME}:1", "--onnx", "--no-log") as server:
        models = httpx.get(server.url + "/v1/models", timeout=10).json()["models"]
        answer = httpx.post(server.url + "/v1/predict", json={"smiles": SMILES}, timeout=120)
        server.stop()
    assert models[0]["runtime"] == "onnx"
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["smiles"] for r in results] == SMILES
    for result in results:
        want = native[result["smiles"]]
        if want["error"]:  # the same sentence as the native batch prediction
            assert (result["mean"], result["error"]) == (None, want["error"]), result
            continue
        assert result["error"] is None, result
        assert math.isclose(result["mean"], float(want["mean"]), rel_tol=1e-5, abs_tol=1e-4)
        assert math.isclose(result["std"], float(want["std"]), rel_tol=1e-5, abs_tol=1e-4)

    _served_without_torch(ws, tmp_path, results)


def _served_without_torch(ws: Path, tmp_path: Path, results: list[dict]) -> None:
    """``serve --onnx`` where torch and chemprop cannot be imported answers exactly as above; with
    the export's serving files forgotten (as an older molops recorded it) it is not ready, and says why."""
    hook = tmp_path / "no_torch"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(NO_TORCH, encoding="utf-8")
    env = {"PYTHONPATH": str(hook)}
    probe = subprocess.run(
        [sys.executable, "-c", "import chemprop"], env=clean_env(**env), capture_output=True, text=True
    )
    assert probe.returncode == 1 and "hidden by the test" in probe.stderr, probe.stderr

    with serving(ws, tmp_path, "-m", f"{NAME}:1", "--onnx", "--no-log", env=env) as server:
        models = httpx.get(server.url + "/v1/models", timeout=10).json()["models"]
        answer = httpx.post(server.url + "/v1/predict", json={"smiles": SMILES}, timeout=120)
        server.stop()
    assert models[0]["runtime"] == "onnx"
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"] == results

    from molops import Workspace
    from molops.tracking.onnx_export import TAG
    from molops.tracking.registry import ModelRegistry
    from molops.tracking.store import Tracking

    registry = ModelRegistry(Tracking.of(Workspace.open(ws)).uri)
    tag = json.loads(registry.resolve(f"{NAME}:1").tags[TAG])
    del tag["serving"]
    registry.client.set_model_version_tag(NAME, "1", TAG, json.dumps(tag))
    body = failed_readiness(ws, tmp_path, "-m", f"{NAME}:1", "--onnx", "--no-log", env=env)
    assert f"model {NAME!r} version 1's ONNX export was recorded by an older molops" in body["detail"]
    assert "needs torch and chemprop" in body["detail"]
    assert f"molops models export {NAME}:1 --onnx PATH" in body["detail"], body
