"""The demo as a library: ``run_demo`` called from Python, on its data part (steps 1–7; the whole
demo, through the CLI, is tests/integration/test_demo.py)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import pytest

from molops.data import IngestReport
from molops.demo import DemoReporter, TextReporter, run_demo
from molops.errors import UsageError

pytestmark = pytest.mark.slow

BUILTIN_ROWS = {"freesolv": 642, "solubility": 1025, "solubility-test": 257}


class Recorder:
    """A reporter that keeps what it is told, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def step(self, number: int, title: str, detail: str = "") -> None:
        self.events.append(("step", number, title))

    def note(self, text: str) -> None:
        self.events.append(("note", text))

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.events.append(("table", title, len(rows)))

    def ingest(self, report: IngestReport) -> None:
        self.events.append(("ingest", report.dataset, report.version))

    def log(self, text: str) -> None:
        self.events.append(("log", text))


def test_run_demo_reports_each_step_and_returns_what_it_did(tmp_path):
    recorder = Recorder()
    reporter: DemoReporter = recorder  # the protocol is structural: any object with these methods
    result = run_demo(tmp_path / "demo", reporter, through="data")

    assert result.workspace == str((tmp_path / "demo").resolve())
    assert {r.dataset: (r.version, r.rows_in) for r in result.ingests} == {
        name: (1, rows) for name, rows in BUILTIN_ROWS.items()
    }
    assert (result.update.dataset, result.update.version, result.update.unchanged) == ("solubility", 2, False)
    assert result.versions == [1, 2] and result.diff is not None
    assert result.diff["added"] == result.update.added
    assert (tmp_path / "demo" / "exports" / "solubility.csv").is_file()
    assert [t["target"] for t in result.targets] == ["SOL"]
    assert [b.cached for b in result.features][:2] == [0, result.features[0].n]  # the second is all cache
    assert (result.models, result.campaign, result.serve, result.monitor) == (None, None, None, None)
    steps = [e[1:] for e in recorder.events if e[0] == "step"]
    assert [n for n, _ in steps] == [1, 2, 3, 4, 5, 6, 7]
    assert steps[3] == (4, "Versions of solubility")
    assert ("ingest", "solubility", 2) in recorder.events  # the lab's update, shown in full
    tables = [e[1] for e in recorder.events if e[0] == "table"]
    assert tables == ["Built-in datasets", "Rejected rows", "Feature builds"]
    assert ("table", "Rejected rows", result.update.quarantined) in recorder.events

    # a second run reuses the workspace and changes nothing; plain text for a notebook
    text = io.StringIO()
    again = run_demo(tmp_path / "demo", TextReporter(text), through="data")
    assert again.update.unchanged and again.versions == [1, 2]
    assert all(r.unchanged for r in again.ingests)
    assert all(b.computed == 0 for b in again.features)
    printed = text.getvalue()
    assert "1. Workspace " in printed and "7. Features: computed once per molecule" in printed
    assert "solubility: unchanged (no new version) from lab_results.csv" in printed


def test_a_part_the_demo_does_not_have_is_refused_before_anything_runs(tmp_path):
    expected = r"through='serving' is not a part of the demo; expected one of: data, models"
    with pytest.raises(UsageError, match=expected):
        run_demo(tmp_path / "demo", through="serving")  # type: ignore[arg-type]
    assert not (tmp_path / "demo").exists()
