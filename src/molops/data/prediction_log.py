"""The prediction log: every prediction molops makes, one row per molecule, in a Delta table.

The service, batch prediction and campaigns append here (``source`` says which), and monitoring
reads it back, so drift and live performance cover every path. Appends are blind Delta commits, so
several server workers may write at once. :class:`LogWriter` buffers rows and writes them from a
background thread: a request never waits for storage, and :meth:`LogWriter.close` (run on graceful
shutdown) writes whatever is still buffered. A write that fails is retried on the next flush; what
cannot be written at close is spilled to a Parquet file beside the table, never dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from molops._types import StrPath
from molops.errors import InputFileError

if TYPE_CHECKING:
    from molops.workspace import Workspace

log = logging.getLogger("molops.prediction_log")

SCHEMA = pa.schema(
    [
        pa.field("time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("date", pa.string(), nullable=False),  # YYYY-MM-DD of ``time``, for users' queries
        pa.field("source", pa.string(), nullable=False),  # api | batch | campaign
        pa.field("role", pa.string(), nullable=False),  # primary | shadow | canary
        pa.field("request_id", pa.string()),
        pa.field("position", pa.int32()),  # index of the molecule in its request
        pa.field("smiles", pa.string()),
        pa.field("canonical_smiles", pa.string()),
        pa.field("inchikey", pa.string()),
        pa.field("mean", pa.float64()),
        pa.field("std", pa.float64()),
        pa.field("similarity", pa.float64()),
        pa.field("in_domain", pa.bool_()),
        pa.field("model_name", pa.string()),
        pa.field("model_version", pa.int64()),
        pa.field("model_alias", pa.string()),
        pa.field("error", pa.string()),
        pa.field("latency_ms", pa.float64()),  # of the whole request
        pa.field("client", pa.string()),  # API key name, or empty
        pa.field("client_request_id", pa.string()),  # the caller's X-Request-ID, if it sent one
    ]
)
COLUMNS = SCHEMA.names


def rows_from_columns(columns: Mapping[str, list[Any]], **fields: Any) -> list[dict[str, Any]]:
    """Log rows for a prediction table given as column lists (``ModelBundle.predict_columns``).

    *fields* fills the columns the table lacks (``source``, ``request_id``, ``model_name``, …);
    ``time`` defaults to now and ``position`` to the row's place in the table.
    """
    now = fields.pop("time", None) or datetime.now(UTC)
    names = list(columns)
    records = []
    for pos, values in enumerate(zip(*columns.values(), strict=True)):
        record = {"position": pos, **fields, **dict(zip(names, values, strict=True))}
        record["time"] = now
        records.append(record)
    return records


def rows_from_frame(frame: pd.DataFrame, **fields: Any) -> list[dict[str, Any]]:
    """:func:`rows_from_columns` for a prediction DataFrame (``ModelBundle.predict``)."""
    return rows_from_columns({c: frame[c].tolist() for c in frame.columns}, **fields)


def _table(rows: list[Mapping[str, Any]]) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for row in rows:
        when = row.get("time") or datetime.now(UTC)
        for name in COLUMNS:
            value = row.get(name)
            if name == "time":
                value = when
            elif name == "date":
                value = when.astimezone(UTC).strftime("%Y-%m-%d")
            elif name == "role":
                value = value or "primary"
            elif name == "source":
                value = value or "api"
            elif value is pd.NA or (isinstance(value, float) and value != value):
                value = None  # NaN/NA (an error row's mean, an unknown domain flag) → null
            columns[name].append(value)
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def parse_time(text: str | datetime | None) -> datetime | None:
    """A datetime from ``30m``/``2h``/``7d``/``45s`` (before now) or an ISO time (UTC if naive)."""
    if text is None or isinstance(text, datetime):
        return text
    text = text.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if text[:-1].replace(".", "", 1).isdigit() and text[-1:] in units:
        return datetime.now(UTC) - pd.Timedelta(seconds=float(text[:-1]) * units[text[-1]])
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InputFileError(
            f"time {text!r} is not valid; expected a duration such as 30m, 2h, 7d or an ISO time "
            "such as 2026-11-27T09:00"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class PredictionLog:
    """The workspace's prediction log table (``WS/predictions``)."""

    def __init__(self, uri: StrPath) -> None:
        self.uri = str(uri)

    @classmethod
    def of(cls, ws: Workspace) -> PredictionLog:
        return cls(ws.prediction_log_uri)

    def append(self, rows: list[Mapping[str, Any]]) -> int:
        """Write *rows* in one Delta commit; returns how many."""
        if not rows:
            return 0
        write_deltalake(self.uri, _table(rows), mode="append", schema_mode="merge")  # adds new columns
        return len(rows)

    def _dataset(self) -> Any:
        """The current version's files as a pyarrow dataset (read directly: deltalake's own scanner
        leaves native threads behind that can abort the interpreter at exit, delta-rs #2184)."""
        try:
            files = DeltaTable(self.uri).file_uris()
        except TableNotFoundError:
            return None
        return ds.dataset(files, schema=SCHEMA, format="parquet")

    def read(
        self,
        *,
        model: str | None = None,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        source: str | None = None,
        role: str | None = "primary",
        columns: list[str] | None = None,
    ) -> pd.DataFrame:
        """Rows matching the filters, oldest first (an empty table when nothing was logged yet)."""
        start, end = parse_time(since), parse_time(until)  # a bad time is an error even on an empty log
        dataset = self._dataset()
        if dataset is None:
            return SCHEMA.empty_table().to_pandas()
        expr = pc.scalar(True)
        if start is not None:
            expr &= pc.field("time") >= pa.scalar(start, pa.timestamp("us", tz="UTC"))
        if end is not None:
            expr &= pc.field("time") < pa.scalar(end, pa.timestamp("us", tz="UTC"))
        for name, value in (("model_name", model), ("source", source), ("role", role)):
            if value is not None:
                expr &= pc.field(name) == value
        table = dataset.to_table(filter=expr, columns=columns)
        return table.sort_by([("time", "ascending")] if "time" in table.column_names else []).to_pandas()

    def summary(self, since: str | datetime | None = None) -> list[dict[str, Any]]:
        """Per model, version, source and role: molecules, errors, requests, request latency, last time."""
        frame = self.read(since=since, role=None)
        keys = ["model_name", "model_version", "source", "role"]
        rows = []
        for group, part in frame.groupby(keys, dropna=False, sort=True):
            requests = part.drop_duplicates("request_id")["latency_ms"].dropna()
            rows.append(
                {
                    **dict(zip(keys, group, strict=True)),
                    "molecules": len(part),
                    "errors": int(part["error"].notna().sum()),
                    "requests": int(part["request_id"].nunique()),
                    "latency_p50_ms": round(float(requests.quantile(0.5)), 2) if len(requests) else None,
                    "latency_p99_ms": round(float(requests.quantile(0.99)), 2) if len(requests) else None,
                    "last": part["time"].max().isoformat(timespec="seconds"),
                }
            )
        return rows

    def count(self) -> int:
        dataset = self._dataset()
        return 0 if dataset is None else dataset.count_rows()

    def export(self, out: StrPath, **filters: Any) -> int:
        """Write the matching rows to *out* (.csv or .parquet); returns how many."""
        out = Path(out)
        if out.suffix.lower() not in (".csv", ".parquet"):
            raise InputFileError(
                f"{out}: cannot export the prediction log to {out.suffix or 'a file without suffix'}; "
                "expected .csv or .parquet"
            )
        frame = self.read(**filters).drop(columns=["date"])
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".csv":
            frame.to_csv(out, index=False)
        else:
            frame.to_parquet(out, index=False)
        return len(frame)


class LogWriter:
    """Buffers log rows and appends them from a background thread (every *interval_s* or *max_rows*)."""

    def __init__(self, log: PredictionLog, *, interval_s: float = 1.0, max_rows: int = 5000) -> None:
        self.log = log
        self.interval_s = interval_s
        self.max_rows = max_rows
        self.written = 0
        self.failures = 0
        self._queue: queue.SimpleQueue[list[Mapping[str, Any]]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._pending: list[Mapping[str, Any]] = []
        self._unwritten = 0  # submitted and not yet written or spilled, wherever the rows are
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="molops-prediction-log", daemon=True)
        self._closed = False
        self._thread.start()

    @property
    def pending(self) -> int:
        # A counter, not len(queue) + len(buffer): rows the thread is moving between the two count too.
        return self._unwritten

    def submit(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Queue *rows* for writing; returns at once."""
        batch = list(rows)
        if batch:
            with self._lock:
                self._unwritten += len(batch)
            self._queue.put(batch)

    def _drain(self, timeout: float) -> None:
        """Move queued rows into the pending buffer (waiting up to *timeout* for the first)."""
        items = []
        try:
            items.append(self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait())
            while True:
                items.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        with self._lock:
            for item in items:
                self._pending.extend(item)

    def _flush(self) -> None:
        with self._lock:
            if not self._pending:
                return
            rows, self._pending = self._pending, []
            try:
                self.written += self.log.append(rows)
                self._unwritten -= len(rows)
            except Exception:  # storage down, disk full: keep the rows and try again next time
                self.failures += 1
                log.exception("could not write %d prediction-log rows; will retry", len(rows))
                self._pending = rows + self._pending

    def _run(self) -> None:
        deadline = time.monotonic() + self.interval_s
        while not self._stop.is_set():
            self._drain(max(deadline - time.monotonic(), 0.01))
            if len(self._pending) >= self.max_rows or time.monotonic() >= deadline:
                self._flush()
                deadline = time.monotonic() + self.interval_s

    def flush(self) -> None:
        """Write everything submitted so far (blocks until done)."""
        self._drain(0)
        self._flush()

    def close(self) -> None:
        """Write what is buffered and stop; what still cannot be written is spilled to Parquet."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._queue.put([])  # wakes the thread
        self._thread.join()
        self._drain(0)
        self._flush()
        if self._pending:
            spill = Path(self.log.uri).parent / "predictions-spill" / f"{uuid.uuid4().hex}.parquet"
            spill.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(_table(self._pending), spill)
            log.error("prediction-log rows spilled to %s (the table could not be written)", spill)
            with self._lock:
                self._unwritten -= len(self._pending)
                self._pending = []
