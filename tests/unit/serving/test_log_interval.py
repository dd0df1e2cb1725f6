"""With N workers each commits the prediction log (and runs the monitoring checks) every N intervals,
the first time at a random point of that span, so the service keeps one commit per
``log_interval_s`` and one monitoring run per ``monitor_interval_s`` (issue 19: a commit's CPU does
not shrink with its rows, and N workers committing every interval made each worker added cost more)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from molops.config import ServeSection
from molops.data.log_writer import LogWriter
from molops.data.prediction_log import PredictionLog
from molops.serving import app
from molops.serving.server import build_context
from molops.workspace import Workspace


def _rows(n: int, request_id: str) -> list[dict[str, object]]:
    return [{"request_id": request_id, "position": i, "smiles": "CCO", "model_name": "m"} for i in range(n)]


def _until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("processes", "first", "every"), [(1, 300.0, 300.0), (2, 150.0, 600.0), (4, 300.0, 1200.0)]
)
def test_workers_take_turns_at_a_periodic_job(monkeypatch, processes, first, every):
    monkeypatch.setattr(app.random, "random", lambda: 0.25)  # a quarter into the turn
    assert app.turns(300.0, processes) == (first, every)  # one process: every interval, as before


@pytest.mark.parametrize(("workers", "every"), [(1, 0.5), (2, 1.0), (4, 2.0)])
def test_a_workers_log_writer_commits_every_workers_intervals(tmp_path, workers, every):
    ws = Workspace.init(tmp_path / "ws")
    ctx = build_context(ws, ServeSection(workers=workers, log_interval_s=0.5), [], workers=workers)
    assert ctx.writer is not None
    try:
        assert ctx.writer.interval_s == every
        assert 0 <= ctx.writer._first_wait_s <= every
    finally:
        ctx.writer.close()


def test_a_staggered_writer_commits_first_after_its_first_wait_then_every_interval(tmp_path):
    log = PredictionLog(tmp_path / "predictions")
    staggered = LogWriter(log, interval_s=30, first_wait_s=0.3)
    try:
        staggered.submit(_rows(3, "first"))
        _until(lambda: log.count() == 3, "the staggered first write")
        staggered.submit(_rows(2, "second"))
        time.sleep(1.0)
        assert log.count() == 3  # the next write waits the whole interval
    finally:
        staggered.close()
    assert log.count() == 5  # close writes the rest


def test_rows_submitted_during_a_write_wait_for_the_next_turn(tmp_path, monkeypatch):
    # the writer is held right after its first commit while more rows arrive: they used to follow at
    # once (meant only for rows queued behind a retried batch), which a loaded machine hit
    log = PredictionLog(tmp_path / "predictions")
    committed, submitted = threading.Event(), threading.Event()
    append = log.append

    def held_append(*args, **kwargs):
        append(*args, **kwargs)
        committed.set()
        assert submitted.wait(20)

    monkeypatch.setattr(log, "append", held_append)
    writer = LogWriter(log, interval_s=30, first_wait_s=0.1)
    try:
        writer.submit(_rows(3, "first"))
        assert committed.wait(20)
        writer.submit(_rows(2, "during the write"))
        submitted.set()
        time.sleep(0.5)
        assert log.count() == 3
    finally:
        writer.close()
    assert log.count() == 5


def test_an_unstaggered_writer_waits_its_whole_first_interval(tmp_path):
    log = PredictionLog(tmp_path / "predictions")
    writer = LogWriter(log, interval_s=30)
    try:
        writer.submit(_rows(3, "first"))
        time.sleep(1.0)
        assert log.count() == 0
    finally:
        writer.close()
    assert log.count() == 3
