"""The D-MPNN's ONNX export through the real CLI (issue 18): ``models export --onnx --json`` on a
trained D-MPNN reports its parity on held-back molecules, and ``serve --onnx`` answers over a real
socket with the native model's predictions, invalid molecules turned away as natively."""

from __future__ import annotations

import math

import httpx
import onnxruntime
import pytest

from ._cli import molops, read_csv, write_csv
from .test_serve_cli import serving

pytestmark = [pytest.mark.integration, pytest.mark.slow]

pytest.importorskip("chemprop")

NAME = "freesolv-expt"
#: a tiny network (a few seconds per member): parity does not need a good model
TINY = '{"n_members": 2, "epochs": 1, "hidden": 16, "ffn_hidden": 16, "accelerator": "cpu"}'
#: one heavy atom, a salt (served as its parent), an unparsable SMILES, an aromatic ring
SMILES = ["CCO", "C", "CC(=O)[O-].[Na+]", "xyz", "c1ccccc1O"]


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
