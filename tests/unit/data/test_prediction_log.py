"""The prediction log: rows in, filters, export, summary; the background writer loses nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from molops.data.prediction_log import LogWriter, PredictionLog, parse_time, rows_from_frame
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


def test_writer_buffers_then_writes_everything_on_close(ws):
    log = PredictionLog.of(ws)
    writer = LogWriter(log, interval_s=60)
    threads = [
        threading.Thread(target=lambda i=i: writer.submit(_rows(5, request_id=f"r{i}"))) for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.count() == 0 and writer.pending == 40
    writer.close()
    assert log.count() == 40 and writer.written == 40 and writer.pending == 0
    writer.close()  # idempotent


def test_writer_flushes_by_interval_and_size(ws):
    log = PredictionLog.of(ws)
    writer = LogWriter(log, interval_s=0.05, max_rows=10)
    writer.submit(_rows(3))
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while log.count() < 3:
        assert datetime.now(UTC) < deadline
    writer.flush()
    writer.close()
    assert log.count() == 3


def _broken(self, rows):
    raise OSError("disk full")


def test_a_failed_write_is_retried_and_at_worst_spilled(ws, monkeypatch):
    log = PredictionLog.of(ws)
    writer = LogWriter(log, interval_s=60)
    real = PredictionLog.append
    monkeypatch.setattr(
        PredictionLog, "append", lambda self, rows: (_ for _ in ()).throw(OSError("disk full"))
    )
    writer.submit(_rows(4))
    writer.flush()
    assert writer.failures == 1 and writer.pending == 4  # kept for the next try
    monkeypatch.setattr(PredictionLog, "append", real)
    writer.flush()
    assert log.count() == 4 and writer.pending == 0
    monkeypatch.setattr(
        PredictionLog, "append", lambda self, rows: (_ for _ in ()).throw(OSError("disk full"))
    )
    writer.submit(_rows(2, request_id="late"))
    writer.close()
    (spilled,) = (ws.root / "predictions-spill").glob("*.parquet")
    assert pd.read_parquet(spilled)["request_id"].tolist() == ["late", "late"]
