"""``molops models export --onnx`` and ``molops serve --onnx`` (issue 18) through the real CLI: the
export's parity report, its refusal above the tolerance, the ONNX variant served over a real socket
with the native model's predictions, and one-sentence errors."""

from __future__ import annotations

import math

import httpx
import onnxruntime
import pytest

from ._cli import assert_one_line_error, molops, read_csv
from .conftest import NAME
from .test_serve_cli import failed_readiness, serving

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPORT_KEYS = {
    "name", "version", "path", "model", "quantize", "molecules", "max_abs_diff", "max_abs_diff_mean",
    "max_abs_diff_std", "max_scaled_diff", "tolerance", "within_tolerance", "forced", "bytes", "native_bytes",
}  # fmt: skip


def _export(ws, path, *extra):
    return molops("models", "export", f"{NAME}:1", "--onnx", path, "-w", ws, *extra)


def test_export_serve_onnx_answers_as_native(trained, copy, tmp_path):
    path = tmp_path / "out" / "rf.onnx"
    report = _export(copy, path, "--json").json()
    assert set(report) == REPORT_KEYS
    assert (report["name"], report["version"], report["model"], report["quantize"]) == (NAME, 1, "rf", None)
    assert report["molecules"] == 200  # the last 200 molecules of the training dataset version
    assert 0 <= report["max_abs_diff"] < 1e-3 and report["within_tolerance"] and not report["forced"]
    assert path.stat().st_size == report["bytes"] > 0
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["mean", "std"]

    native = {row["smiles"]: row for row in read_csv(trained.out)}  # the champion v1's batch predictions
    with serving(copy, tmp_path, "-m", f"{NAME}:1", "--onnx", "--no-log") as server:
        models = httpx.get(server.url + "/v1/models", timeout=10).json()["models"]
        assert models[0]["runtime"] == "onnx"
        answer = httpx.post(server.url + "/v1/predict", json={"smiles": ["CCO", "c1ccccc1O"]}, timeout=60)
        server.stop()
    assert answer.status_code == 200, answer.text
    for result in answer.json()["results"]:
        want = native[result["smiles"]]
        assert math.isclose(result["mean"], float(want["mean"]), abs_tol=1e-4)
        assert math.isclose(result["std"], float(want["std"]), abs_tol=1e-4)
        assert result["applicability"]["in_domain"] == (want["in_domain"] == "True")


def test_export_refused_above_tolerance_unless_forced(copy, tmp_path):
    path = tmp_path / "rf.onnx"
    # float32 leaves differ from sklearn's float64 by ~1e-7: a tolerance of 0 cannot be met
    line = assert_one_line_error(
        _export(copy, path, "--tolerance", "0"),
        "the ONNX export of 'rf' differs from the model by up to",
        "above the tolerance 0; nothing was written",
        code=2,
    )
    assert "--force" in line
    assert not path.exists()
    report = _export(copy, path, "--tolerance", "0", "--force", "--json").json()
    assert report["forced"] and not report["within_tolerance"] and path.is_file()


def test_export_errors_are_one_sentence(copy, tmp_path):
    path = tmp_path / "x.onnx"
    assert_one_line_error(
        molops("models", "export", "nope:1", "--onnx", path, "-w", copy), "no registered model 'nope'"
    )
    assert_one_line_error(
        _export(copy, path, "--quantize", "int8"), "model kind 'rf' has no weight matrices for int8", code=2
    )
    assert_one_line_error(
        _export(copy, path, "--molecules", tmp_path / "missing.csv"), "missing.csv: no such file"
    )
    assert not path.exists()


def test_serve_onnx_without_export_is_not_ready(copy, tmp_path):
    body = failed_readiness(copy, tmp_path, "-m", f"{NAME}:2", "--onnx", "--no-log")
    assert f"model '{NAME}' version 2 has no ONNX export" in body["detail"]
    assert f"molops models export {NAME}:2 --onnx PATH" in body["detail"]
