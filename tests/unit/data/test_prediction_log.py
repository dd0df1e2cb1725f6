"""The prediction log: rows in, filters, export, summary; the background writer never makes its
caller wait, keeps memory bounded, and loses and duplicates nothing, whatever the store does."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from molops.data import log_spill
from molops.data.log_writer import LogWriter, WriterHooks, backoff_delay
from molops.data.prediction_log import (
    SCHEMA,
    PredictionLog,
    _table,
    conform,
    parse_time,
    rows_from_frame,
)
from molops.errors import InputFileError


def _frame(n: int, error_at: int | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "smiles": [f"C{i}" for i in range(n)],
            "canonical_smiles": [f"C{i}" for i in range(n)],
            "inchikey": [f"KEY{i}" for i in range(n)],
            "mean": [float(i) for i in range(n)],
            "std": [0.5] * n,
            "similarity": [0.7] * n,
            "in_domain": pd.array([True] * n, dtype="boolean"),
            "error": [None] * n,
        }
    )
    if error_at is not None:
        frame.loc[error_at, ["mean", "std", "similarity", "canonical_smiles", "inchikey"]] = None
        frame.loc[error_at, "in_domain"] = pd.NA
        frame.loc[error_at, "error"] = "unparsable_structure: not a valid SMILES"
    return frame


def _rows(n: int, **fields):
    defaults = {"source": "api", "request_id": "r1", "model_name": "m", "model_version": 1}
    return rows_from_frame(_frame(n, error_at=0 if n > 1 else None), **(defaults | fields))


def test_append_and_read_back(ws):
    log = PredictionLog.of(ws)
    assert log.count() == 0 and log.read().empty
    log.append(_rows(3))
    log.append(_rows(2, model_name="other", request_id="r2", source="batch"))
    frame = log.read()
    assert len(frame) == 5 and log.count() == 5
    first = frame.iloc[0]
    assert first["error"].startswith("unparsable") and pd.isna(first["mean"]) and pd.isna(first["in_domain"])
    assert frame.iloc[1]["in_domain"] == True  # noqa: E712
    assert frame["position"].tolist() == [0, 1, 2, 0, 1]
    assert (frame["date"] == datetime.now(UTC).strftime("%Y-%m-%d")).all()
    assert len(log.read(model="other")) == 2 and len(log.read(source="batch")) == 2
    assert log.read(role="shadow").empty


def test_time_filters(ws):
    log = PredictionLog.of(ws)
    old = datetime.now(UTC) - timedelta(days=3)
    log.append(_rows(2, time=old, request_id="old"))
    log.append(_rows(2, request_id="new"))
    assert set(log.read(since="1d")["request_id"]) == {"new"}
    assert set(log.read(until="2d")["request_id"]) == {"old"}
    assert set(log.read(since=(old - timedelta(hours=1)).isoformat())["request_id"]) == {"old", "new"}
    assert len(log.read(since="4d")) == 4


@pytest.mark.parametrize("text", ["yesterday", "5x", "", "2026-13-01"])
def test_bad_times_are_one_sentence(text):
    with pytest.raises(InputFileError, match="expected a duration such as 30m"):
        parse_time(text)


@given(st.integers(0, 10_000), st.sampled_from("smhdw"))
def test_durations_reach_back(amount, unit):
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit] * amount
    assert abs((datetime.now(UTC) - parse_time(f"{amount}{unit}")).total_seconds() - seconds) < 5


def test_export_and_summary(ws, tmp_path):
    log = PredictionLog.of(ws)
    log.append([{**r, "latency_ms": 10.0} for r in _rows(3)])
    log.append([{**r, "latency_ms": 30.0} for r in _rows(3, request_id="r2")])
    assert log.export(tmp_path / "out.csv") == 6
    assert log.export(tmp_path / "out.parquet", model="nope") == 0
    exported = pd.read_csv(tmp_path / "out.csv")
    assert "date" not in exported and len(exported) == 6
    with pytest.raises(InputFileError, match=r"\.txt.*expected \.csv or \.parquet"):
        log.export(tmp_path / "out.txt")
    (group,) = log.summary()
    assert (group["model_name"], group["molecules"], group["errors"], group["requests"]) == ("m", 6, 2, 2)
    assert group["latency_p50_ms"] == 20.0


class Flaky(PredictionLog):
    """The real log with faults injected into ``append``: the next *fail* calls raise before
    writing, the next *fail_after_commit* write and then raise (a reply lost after the commit),
    and every call waits while ``gate`` is clear (a store that hangs)."""

    def __init__(self, uri: str | Path, *, fail: int = 0, fail_after_commit: int = 0) -> None:
        super().__init__(uri)
        self.fail, self.fail_after_commit = fail, fail_after_commit
        self.gate, self.entered = threading.Event(), threading.Event()
        self.gate.set()
        self.calls: list[float] = []

    def append(self, rows, *, txn=None) -> int:
        self.calls.append(time.monotonic())
        self.entered.set()
        self.gate.wait()
        if self.fail > 0:
            self.fail -= 1
            raise OSError("store unavailable")
        n = super().append(rows, txn=txn)
        if self.fail_after_commit > 0:
            self.fail_after_commit -= 1
            raise OSError("connection reset after the commit")
        return n


def _until(predicate: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def _ids(log: PredictionLog) -> list[str]:
    return sorted(log.read(role=None)["request_id"])


def _expected(batches: dict[str, int]) -> list[str]:
    return sorted(rid for rid, n in batches.items() for _ in range(n))


class Recorder:
    """Real callbacks that keep what the writer reported."""

    def __init__(self) -> None:
        self.written = self.failed = self.spilled = 0
        self.pending: list[int] = []

    def hooks(self) -> WriterHooks:
        def written(n: int) -> None:
            self.written += n

        def failed() -> None:
            self.failed += 1

        def spilled(n: int) -> None:
            self.spilled += n

        return WriterHooks(written=written, failed=failed, spilled=spilled, pending=self.pending.append)


def test_writer_buffers_then_writes_everything_on_close(ws):
    log = PredictionLog.of(ws)
    seen = Recorder()
    writer = LogWriter(log, interval_s=60, hooks=seen.hooks())
    threads = [
        threading.Thread(target=lambda i=i: writer.submit(_rows(5, request_id=f"r{i}"))) for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.count() == 0 and writer.pending == 40 and seen.pending[-1] == 40
    writer.close()
    assert log.count() == 40 and writer.written == 40 and writer.pending == 0
    assert (seen.written, seen.failed, seen.spilled, seen.pending[-1]) == (40, 0, 0, 0)
    writer.close()  # idempotent


def test_writer_flushes_by_interval_and_size(ws):
    log = PredictionLog.of(ws)
    writer = LogWriter(log, interval_s=0.05, max_rows=10)
    writer.submit(_rows(3))
    _until(lambda: log.count() == 3, "the interval's write")
    big = LogWriter(log, interval_s=60, max_rows=10)
    big.submit(_rows(12, request_id="big"))  # over max_rows: written without waiting 60 s
    _until(lambda: log.count() == 15, "the write of a full buffer")
    writer.close()
    big.close()
    assert log.count() == 15


def test_submit_never_waits_for_a_store_that_hangs(ws):
    """The defect: the writer held the buffer's lock across the Delta commit, so ``submit`` (on the
    service's event loop) waited as long as the store did."""
    log = Flaky(ws.prediction_log_uri)
    log.gate.clear()
    writer = LogWriter(log, interval_s=0.01, close_timeout_s=0.1)
    try:
        writer.submit(_rows(3, request_id="first"))
        assert log.entered.wait(10)  # the writer is inside append, and stays there
        done = threading.Event()
        took: list[float] = []
        batches = [_rows(2, request_id=f"r{i}") for i in range(200)]

        def burst() -> None:
            started = time.perf_counter()
            for rows in batches:
                writer.submit(rows)
            took.append(time.perf_counter() - started)
            done.set()

        threading.Thread(target=burst, daemon=True).start()
        assert done.wait(5), "submit waited for the store"
        assert took[0] < 1.0 and writer.pending == 403  # a hung store would hold submit for good
    finally:
        log.gate.set()
        writer.close()
    assert _ids(log) == _expected({"first": 3} | {f"r{i}": 2 for i in range(200)})


def test_backoff_is_exponential_jittered_and_capped():
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(4.0, 0.25 * 2 ** (attempt - 1))
        delays = [backoff_delay(attempt, 0.25, 4.0, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) == 50  # jittered: workers do not retry in step
    assert backoff_delay(10_000, 0.25, 4.0, rng) <= 4.0  # no overflow for a store down for days


def test_failed_writes_are_retried_after_growing_waits(ws):
    log = Flaky(ws.prediction_log_uri, fail=4)
    seen = Recorder()
    writer = LogWriter(log, interval_s=0.01, retry_base_s=0.04, retry_max_s=0.1, hooks=seen.hooks())
    writer.submit(_rows(3, request_id="a"))
    _until(lambda: writer.written == 3, "the write after four failures")
    assert writer.failures == seen.failed == 4 and writer.pending == 0
    delays = writer.retry_delays
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(0.1, 0.04 * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
    gaps = [b - a for a, b in zip(log.calls, log.calls[1:], strict=False)]
    assert len(gaps) == 4 and all(gap >= 0.95 * delay for gap, delay in zip(gaps, delays, strict=True))
    writer.close()
    assert _ids(log) == ["a"] * 3


def test_a_write_that_failed_after_its_commit_is_not_repeated(ws):
    log = Flaky(ws.prediction_log_uri, fail_after_commit=1)
    writer = LogWriter(log, interval_s=0.01, retry_base_s=0.01)
    writer.submit(_rows(4, request_id="once"))
    _until(lambda: writer.pending == 0, "the retried write")
    writer.close()
    assert writer.failures == 1 and len(log.calls) == 1  # the retry asked the table, found its commit
    assert _ids(log) == ["once"] * 4 and writer.written == 4


def test_rows_beyond_the_bound_spill_and_are_appended_once_the_store_recovers(ws):
    log = Flaky(ws.prediction_log_uri)
    log.gate.clear()  # hangs: the first batch stays in flight, everything after it waits
    seen = Recorder()
    writer = LogWriter(log, interval_s=0.01, max_pending=50, retry_base_s=0.01, hooks=seen.hooks())
    writer.submit(_rows(10, request_id="first"))
    assert log.entered.wait(10)
    sent = {"first": 10}
    for i in range(20):
        writer.submit(_rows(9, request_id=f"r{i}"))
        sent[f"r{i}"] = 9
    _until(lambda: writer.pending <= 50, "the overflow to be spilled")  # submit itself never writes
    assert log_spill.spill_files(log.spill_dir) and writer.spilled == seen.spilled > 0
    assert writer.spilled + writer.pending == 190
    log.gate.set()  # the store answers again: the batch, the rest and the spill files go in
    _until(lambda: log.count() == 190 and not log_spill.spill_files(log.spill_dir), "every row")
    writer.close()
    assert _ids(log) == _expected(sent) and writer.written == seen.written == 190
    assert seen.pending[-1] == writer.pending == 0


def test_what_cannot_be_written_at_close_is_appended_at_the_next_start(ws):
    log = Flaky(ws.prediction_log_uri, fail=10**9)  # down for good
    writer = LogWriter(log, interval_s=60)
    writer.submit(_rows(4, request_id="late"))
    writer.close()
    (spilled,) = log_spill.spill_files(log.spill_dir)
    assert pd.read_parquet(spilled)["request_id"].tolist() == ["late"] * 4
    assert log.count() == 0 and writer.pending == 0 and writer.spilled == 4
    # a spill file from before a column was added takes nulls for it
    old = _table(_rows(2, request_id="old")).drop_columns(["client"])
    log_spill.write_spill(log.spill_dir, old)
    healthy = PredictionLog.of(ws)
    seen = Recorder()
    again = LogWriter(healthy, interval_s=0.01, hooks=seen.hooks())
    _until(lambda: not log_spill.spill_files(healthy.spill_dir), "the replay at start")
    again.close()
    assert _ids(healthy) == ["late"] * 4 + ["old"] * 2
    assert healthy.read(role=None)["client"].isna().all()
    assert again.written == seen.written == 6 and again.pending == 0


def test_a_replay_interrupted_after_its_commit_does_not_duplicate(ws):
    directory = PredictionLog.of(ws).spill_dir
    log_spill.write_spill(directory, _table(_rows(3, request_id="spilled")))
    crashing = Flaky(ws.prediction_log_uri, fail_after_commit=1)  # dies between commit and unlink
    with pytest.raises(OSError, match="after the commit"):
        log_spill.replay(crashing, directory, conform)
    assert len(log_spill.spill_files(directory)) == 1 and crashing.count() == 3
    assert log_spill.replay(crashing, directory, conform) == 0  # the table holds its transaction
    assert not log_spill.spill_files(directory) and _ids(crashing) == ["spilled"] * 3


def test_a_batch_spilled_with_its_landed_write_is_not_appended_again(ws):
    log = PredictionLog.of(ws)
    rows = _rows(3, request_id="landed")
    log.append(rows, txn=("molops-log-abc", 2))
    log_spill.write_spill(log.spill_dir, _table(rows), origin=("molops-log-abc", 2))
    log_spill.write_spill(log.spill_dir, _table(_rows(2, request_id="next")), origin=("molops-log-abc", 3))
    assert log_spill.replay(log, log.spill_dir, conform) == 2
    assert _ids(log) == ["landed"] * 3 + ["next"] * 2


def test_close_does_not_wait_for_a_store_that_hangs(ws):
    log = Flaky(ws.prediction_log_uri)
    log.gate.clear()
    writer = LogWriter(log, interval_s=0.01, close_timeout_s=0.2)
    writer.submit(_rows(3, request_id="stuck"))
    assert log.entered.wait(10)
    writer.submit(_rows(2, request_id="after"))
    started = time.monotonic()
    writer.close()
    assert time.monotonic() - started < 5
    assert len(log_spill.spill_files(log.spill_dir)) == 2  # the batch in flight (with its txn), the rest
    log.gate.set()  # the hung write lands after all
    _until(lambda: log.count() == 3, "the hung write")
    assert writer.pending == 0 and writer.spilled == 5 and writer.written == 0
    assert log_spill.replay(log, log.spill_dir, conform) == 2  # only the rows it did not hold
    assert _ids(log) == ["after"] * 2 + ["stuck"] * 3


def test_an_unreadable_spill_file_is_set_aside(ws):
    directory = PredictionLog.of(ws).spill_dir
    directory.mkdir()
    (directory / "broken.parquet").write_bytes(b"not parquet")
    log_spill.write_spill(directory, _table(_rows(2, request_id="good")))
    log = PredictionLog.of(ws)
    assert log_spill.replay(log, directory, conform) == 2
    assert (directory / "broken.bad").exists() and not log_spill.spill_files(directory)


def test_conform_keeps_the_schema():
    assert conform(_table(_rows(2))).schema == SCHEMA


def _log_files(log: PredictionLog) -> int:
    from deltalake import DeltaTable

    return len(DeltaTable(log.uri).file_uris())


def test_appends_keep_one_open_table_that_sees_other_writers(ws):
    """Opening the table by its URI on every append replays its log and lists every file, a cost
    that grew with the table; the open handle must still see commits made by other writers."""
    mine, other = PredictionLog.of(ws), PredictionLog.of(ws)
    mine.append(_rows(2, request_id="a"))
    handle = mine._handle
    assert handle is not None
    other.append(_rows(3, request_id="b"))
    other.append(_rows(1, request_id="c"))
    mine.append(_rows(4, request_id="d"))
    assert mine._handle is handle and handle.version() == 3  # caught up, then committed on top
    assert _ids(mine) == _expected({"a": 2, "b": 3, "c": 1, "d": 4})


def test_compaction_keeps_the_rows_and_bounds_the_files(ws):
    log = PredictionLog.of(ws)
    assert log.compact() is None  # no table yet
    for i in range(12):
        log.append(_rows(3, request_id=f"r{i}"))
    before = log.read()
    assert _log_files(log) == 12
    done = log.compact()
    assert done is not None and done["files_removed"] == 12 and done["files_added"] == 1
    assert _log_files(log) == 1
    log.append(_rows(2, request_id="after"))  # the open handle commits on top of the compaction
    pd.testing.assert_frame_equal(log.read().iloc[: len(before)].reset_index(drop=True), before)
    assert _ids(log) == _expected({f"r{i}": 3 for i in range(12)} | {"after": 2})


@pytest.mark.parametrize(("earlier_commits", "compacted"), [(7, True), (2, False)])
def test_a_writer_compacts_a_table_earlier_writers_left_with_many_files(ws, earlier_commits, compacted):
    """Short-lived services never reach *compact_every* commits of their own; the next writer's
    first commit finds their files and compacts them."""
    log = PredictionLog.of(ws)
    for i in range(earlier_commits):
        log.append(_rows(1, request_id=f"old{i}"))
    assert log.files() == _log_files(log) == earlier_commits
    writer = LogWriter(PredictionLog.of(ws), interval_s=0.01, compact_every=6)
    writer.submit(_rows(2, request_id="new"))
    _until(lambda: log.count() == earlier_commits + 2, "the new rows")
    _until(lambda: writer._files_checked, "the file count")
    writer.close()
    assert writer.compactions == (1 if compacted else 0)
    assert _log_files(log) == (1 if compacted else earlier_commits + 1)
    assert _ids(log) == _expected({f"old{i}": 1 for i in range(earlier_commits)} | {"new": 2})


def test_the_writer_compacts_every_so_many_commits(ws):
    log = PredictionLog.of(ws)
    writer = LogWriter(log, interval_s=0.01, compact_every=4)
    for i in range(20):  # one commit each: the next batch waits until this one is in the table
        writer.submit(_rows(2, request_id=f"r{i}"))
        _until(lambda i=i: log.count() == 2 * (i + 1), f"batch {i}")
    _until(lambda: writer.compactions >= 3, "three compactions")  # every 3 to 5 commits (jittered)
    writer.close()
    assert _log_files(log) < 10
    assert _ids(log) == _expected({f"r{i}": 2 for i in range(20)})
