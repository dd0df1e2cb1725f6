"""``--json`` prints one JSON object on one line (JSON lines), on a terminal or not."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from molops.cli._output import emit_json

from .conftest import Run, list_models


class _Window(BaseModel):
    n: int
    since: str


class _Stdout(io.StringIO):
    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
def test_emit_json_writes_one_line(monkeypatch, terminal):
    stdout = _Stdout(terminal)
    monkeypatch.setattr("sys.stdout", stdout)
    payload = {
        "model": "solubility",
        "note": "line one\nline two",  # a newline inside a value must not split the record
        "window": _Window(n=3, since="2026-12-07T00:00:00+00:00"),
        "scores": np.array([0.5, 1.5]),
        "count": np.int64(7),
        "rmse": math.nan,
        "checks": [{"name": "drift", "statistic": math.inf, "nested": {"deep": [1, 2]}}],
        "report": Path("/tmp/report.html"),
    }
    emit_json(payload)
    text = stdout.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1, text
    assert json.loads(text) == {
        "model": "solubility",
        "note": "line one\nline two",
        "window": {"n": 3, "since": "2026-12-07T00:00:00+00:00"},
        "scores": [0.5, 1.5],
        "count": 7,
        "rmse": None,
        "checks": [{"name": "drift", "statistic": None, "nested": {"deep": [1, 2]}}],
        "report": "/tmp/report.html",
    }


def test_two_records_read_back_as_json_lines(monkeypatch):
    stdout = _Stdout(False)
    monkeypatch.setattr("sys.stdout", stdout)
    emit_json({"run": 1, "nested": {"a": [1, 2]}})
    emit_json({"run": 2, "nested": {"a": []}})
    assert [json.loads(line)["run"] for line in stdout.getvalue().splitlines()] == [1, 2]


def test_a_command_prints_its_json_on_one_line(run: Run, monkeypatch):
    list_models(
        monkeypatch,
        {"name": "a", "versions": 2, "aliases": {"champion": 1}},
        {"name": "b", "versions": 1, "aliases": {}},
    )
    res = run("models", "list", "--json")
    assert res.code == 0, res.stderr
    assert res.stdout.count("\n") == 1 and res.stdout.endswith("\n"), res.stdout
    assert [m["name"] for m in json.loads(res.stdout)["models"]] == ["a", "b"]
