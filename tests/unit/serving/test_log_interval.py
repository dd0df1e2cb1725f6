"""With N workers each commits the prediction log (and runs the monitoring checks) every N intervals,
the first time at a random point of that span, so the service keeps one commit per
``log_interval_s`` and one monitoring run per ``monitor_interval_s`` (issue 19: a commit's CPU does
not shrink with its rows, and N workers committing every interval made each worker added cost more)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from molops.config import ServeSection
from molops.data import log_writer
from molops.data.log_writer import LogWriter
from molops.data.prediction_log import PredictionLog
from molops.serving import app
from molops.serving.server import log_interval


def _rows(n: int, request_id: str) -> list[dict[str, object]]:
    return [{"request_id": request_id, "position": i, "smiles": "CCO", "model_name": "m"} for i in range(n)]


def _until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


@pytest.mark.parametrize(("workers", "expected"), [(1, 0.5), (2, 1.0), (4, 2.0)])
def test_a_worker_commits_every_workers_intervals(workers, expected):
    settings = ServeSection(workers=workers, log_interval_s=0.5)
    assert log_interval(settings, settings.workers) == expected
    assert log_interval(settings, 1) == 0.5  # one process (serve's in-process background)


def test_a_staggered_writer_commits_first_within_its_interval_then_every_interval(tmp_path, monkeypatch):
    log = PredictionLog(tmp_path / "predictions")
    monkeypatch.setattr(log_writer.random, "random", lambda: 0.01)  # the first write at 1% of 30 s
    staggered = LogWriter(log, interval_s=30, stagger=True)
    try:
        staggered.submit(_rows(3, "first"))
        _until(lambda: log.count() == 3, "the staggered first write")
        staggered.submit(_rows(2, "second"))
        time.sleep(1.0)
        assert log.count() == 3  # the next write waits the whole interval
    finally:
        staggered.close()
    assert log.count() == 5  # close writes the rest


def test_an_unstaggered_writer_waits_its_whole_first_interval(tmp_path, monkeypatch):
    log = PredictionLog(tmp_path / "predictions")
    monkeypatch.setattr(log_writer.random, "random", lambda: 0.01)
    writer = LogWriter(log, interval_s=30)
    try:
        writer.submit(_rows(3, "first"))
        time.sleep(1.0)
        assert log.count() == 0
    finally:
        writer.close()
    assert log.count() == 3


def test_workers_take_turns_at_the_monitoring_checks(monkeypatch):
    monkeypatch.setattr(app.random, "random", lambda: 0.25)
    assert app.monitor_schedule(300.0, 1) == (300.0, 300.0)  # one process: as before
    assert app.monitor_schedule(300.0, 2) == (150.0, 600.0)  # a quarter into its 600 s turn
    assert app.monitor_schedule(300.0, 4) == (300.0, 1200.0)
