"""The prediction log: every prediction molops makes, one row per molecule, in a Delta table.

The service, batch prediction and campaigns append here (``source`` says which), and monitoring
reads it back, so drift and live performance cover every path. Appends are blind Delta commits, so
several server workers may write at once. :class:`LogWriter` buffers rows and writes them from a
background thread: a request never waits for storage, however slow or broken it is. A write that
fails is retried with capped, jittered exponential backoff; rows beyond the writer's memory bound,
and what cannot be written at close, are spilled to Parquet files beside the table
(:mod:`molops.data.log_spill`) and appended by the next writer that finds them, never dropped.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import TableNotFoundError

from molops._types import StrPath
from molops.data import log_spill
from molops.errors import InputFileError
from molops.storage import Storage

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


def _table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
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


def conform(table: pa.Table) -> pa.Table:
    """*table* with exactly :data:`SCHEMA`'s columns: a spill file written before a column was added
    gets nulls for it (and one written by a newer molops loses what this one does not know)."""
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type)
        for f in SCHEMA
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


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

    def __init__(self, uri: StrPath | Storage, spill_dir: Path | None = None) -> None:
        self.storage = uri if isinstance(uri, Storage) else Storage.at(uri)
        self.uri = self.storage.root
        self._spill_dir = spill_dir

    @classmethod
    def of(cls, ws: Workspace) -> PredictionLog:
        return cls(ws.storage.child("predictions"), ws.prediction_spill_dir)

    @property
    def spill_dir(self) -> Path:
        """Where a :class:`LogWriter` keeps rows the table could not take (local: beside the table)."""
        return self._spill_dir or Path(self.uri).parent / "predictions-spill"

    def append(
        self, rows: Sequence[Mapping[str, Any]] | pa.Table, *, txn: log_spill.Txn | None = None
    ) -> int:
        """Write *rows* (mappings, or a table of :data:`SCHEMA`) in one Delta commit; returns how many.

        *txn* ``(app_id, version)`` is recorded in the same commit, so a retry can ask
        :meth:`committed` whether an earlier try landed.
        """
        table = rows if isinstance(rows, pa.Table) else _table(rows)
        if not table.num_rows:
            return 0
        props = CommitProperties(app_transactions=[Transaction(*txn)]) if txn is not None else None
        # schema_mode merge: a log written before a column was added takes the new column
        write_deltalake(
            self.uri,
            table,
            mode="append",
            schema_mode="merge",
            commit_properties=props,
            storage_options=self.storage.options,
        )
        return int(table.num_rows)

    def committed(self, app_id: str) -> int | None:
        """The highest version of *app_id* an :meth:`append` committed, or None."""
        try:
            return DeltaTable(self.uri, storage_options=self.storage.options).transaction_version(app_id)
        except TableNotFoundError:
            return None

    def _dataset(self) -> Any:
        """The current version's files as a pyarrow dataset (read directly: deltalake's own scanner
        leaves native threads behind that can abort the interpreter at exit, delta-rs #2184)."""
        try:
            files = DeltaTable(self.uri, storage_options=self.storage.options).file_uris()
        except TableNotFoundError:
            return None
        return self.storage.dataset(files, SCHEMA)

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
            empty: pd.DataFrame = SCHEMA.empty_table().to_pandas()
            return empty
        expr = pc.scalar(True)
        if start is not None:
            expr &= pc.field("time") >= pa.scalar(start, pa.timestamp("us", tz="UTC"))
        if end is not None:
            expr &= pc.field("time") < pa.scalar(end, pa.timestamp("us", tz="UTC"))
        for name, value in (("model_name", model), ("source", source), ("role", role)):
            if value is not None:
                expr &= pc.field(name) == value
        table = dataset.to_table(filter=expr, columns=columns)
        order = [("time", "ascending")] if "time" in table.column_names else []
        frame: pd.DataFrame = table.sort_by(order).to_pandas()
        return frame

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


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry *attempt* (1, 2, …): exponential from *base_s*, capped at *max_s*,
    with equal jitter (between half and all of it) so that workers do not retry in step."""
    ceiling = min(max_s, base_s * 2.0 ** min(attempt - 1, 62))
    return ceiling * (0.5 + 0.5 * (rng.random() if rng is not None else random.random()))


def _ignore(*_: Any) -> None:
    return None


@dataclass(frozen=True)
class WriterHooks:
    """What a :class:`LogWriter` reports as it goes (the service feeds its metrics with them).

    Called from the writer's threads and from ``submit``; they must be quick and never raise.
    ``pending`` is called under the writer's counter lock, so the last value set is the current one.
    """

    written: Callable[[int], None] = _ignore  # rows committed to the table (spilled rows when replayed)
    failed: Callable[[], None] = _ignore  # one failed write (it will be retried)
    spilled: Callable[[int], None] = _ignore  # rows moved from memory to a spill file
    pending: Callable[[int], None] = _ignore  # rows in memory, not yet written or spilled


@dataclass
class _Batch:
    """Rows cut for one write; retried as they are, under the same Delta transaction, until written."""

    rows: list[Mapping[str, Any]]
    txn: log_spill.Txn
    tries: int = 0


class LogWriter:
    """Buffers log rows and appends them from a background thread (every *interval_s*, or sooner
    once *max_rows* are waiting), so that a caller never waits for storage.

    ``submit`` only appends a list to a buffer under a lock that no I/O ever holds. The writing
    thread cuts the buffer into a batch, writes it with no lock held and retries a failed one with
    backoff (:func:`backoff_delay`) until it is written. A second thread keeps memory bounded: when
    more than *max_pending* rows are held, the waiting ones go to a spill file (rows that arrive while
    it is written pass the bound for that long: ``submit`` never writes), which the writing thread
    appends (:func:`log_spill.replay`) once the table takes writes again, as it does with any spill
    file it finds at start.
    """

    def __init__(
        self,
        log: PredictionLog,
        *,
        interval_s: float = 1.0,
        max_rows: int = 5000,
        max_pending: int = 1_000_000,
        retry_base_s: float = 0.5,
        retry_max_s: float = 30.0,
        close_timeout_s: float = 20.0,
        hooks: WriterHooks | None = None,
    ) -> None:
        self.log = log
        self.interval_s, self.max_rows, self.max_pending = interval_s, max_rows, max_pending
        self.retry_base_s, self.retry_max_s, self.close_timeout_s = retry_base_s, retry_max_s, close_timeout_s
        self.hooks = hooks or WriterHooks()
        self.written = 0  # rows committed, replayed spill files included
        self.failures = 0  # failed writes
        self.spilled = 0  # rows moved to spill files
        self.retry_delays: list[float] = []  # the backoff waits chosen, newest last (the last 100)
        self._lock = threading.Lock()  # guards the buffer and counters; never held during I/O
        self._buffer: list[list[Mapping[str, Any]]] = []  # submitted lists, not yet cut into a batch
        self._buffered = 0  # rows in _buffer
        self._unwritten = 0  # rows submitted and not yet written or spilled, wherever they are
        self._batch: _Batch | None = None  # owned by whoever holds _io (the writing thread, flush)
        self._io = threading.Lock()  # one write or replay at a time
        self._app_id = f"molops-log-{uuid.uuid4().hex}"
        self._versions = 0
        self._due, self._over, self._stop = threading.Event(), threading.Event(), threading.Event()
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="molops-prediction-log", daemon=True)
        self._spiller = threading.Thread(target=self._spill_loop, name="molops-prediction-spill", daemon=True)
        self._writer.start()
        self._spiller.start()

    @property
    def pending(self) -> int:
        """Rows in memory: submitted, not yet written or spilled."""
        return self._unwritten

    def submit(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Queue *rows* for writing; returns at once (no I/O, O(1) under the buffer lock)."""
        batch = list(rows)
        if not batch:
            return
        with self._lock:
            self._buffer.append(batch)
            self._buffered += len(batch)
            self._unwritten += len(batch)
            self.hooks.pending(self._unwritten)
            full, over = self._buffered >= self.max_rows, self._unwritten > self.max_pending
        if full:
            self._due.set()
        if over:
            self._over.set()

    # --- the buffer -------------------------------------------------------------------------------

    def _take(self) -> list[Mapping[str, Any]]:
        with self._lock:
            lists, self._buffer, self._buffered = self._buffer, [], 0
        return [row for rows in lists for row in rows]

    def _settle(self, written: int = 0, spilled: int = 0, replayed: int = 0) -> None:
        """Count rows that left memory (written from a batch, or spilled) and rows replayed."""
        with self._lock:
            self._unwritten -= written + spilled
            self.written += written + replayed
            self.spilled += spilled
            self.hooks.pending(self._unwritten)
        if written + replayed:
            self.hooks.written(written + replayed)
        if spilled:
            self.hooks.spilled(spilled)

    # --- writing ----------------------------------------------------------------------------------

    def _write_batch(self) -> None:
        """Write the current batch (cut from the buffer if there is none); raises if the store fails."""
        if self._batch is None:
            rows = self._take()
            if not rows:
                return
            self._versions += 1
            self._batch = _Batch(rows, (self._app_id, self._versions))
        batch = self._batch
        batch.tries += 1
        done = self.log.committed(batch.txn[0]) if batch.tries > 1 else None
        if done is None or done < batch.txn[1]:  # an earlier try that failed after its commit counts
            self.log.append(batch.rows, txn=batch.txn)
        if self._batch is not batch:
            return  # a hung write that close() gave up on: it spilled the batch, with its transaction
        self._batch = None
        self._settle(written=len(batch.rows))

    def _replay(self) -> None:
        replayed = log_spill.replay(self.log, self.log.spill_dir, conform)
        if replayed:
            self._settle(replayed=replayed)

    def _round(self, *, replay: bool) -> bool:
        """Replay spill files (when asked), then write what is buffered; False if the store failed."""
        with self._io:
            try:
                if replay:
                    self._replay()
                self._write_batch()
                if self._batch is None and self._buffered:  # a retried batch went; the rest follows
                    self._write_batch()
            except Exception as exc:  # storage down, disk full: kept for the next try
                self.failures += 1
                self.hooks.failed()
                log.warning("could not write prediction-log rows (%s); will retry", exc, exc_info=True)
                return False
        return True

    def _write_loop(self) -> None:
        attempt = 0
        replay = True  # spill files left by an earlier run go first
        while True:
            if attempt:
                delay = backoff_delay(attempt, self.retry_base_s, self.retry_max_s)
                self.retry_delays = [*self.retry_delays[-99:], delay]
                self._stop.wait(delay)
            else:
                self._due.wait(self.interval_s)
            self._due.clear()
            if self._stop.is_set():
                return  # close() writes the rest
            ok = self._round(replay=replay or bool(log_spill.spill_files(self.log.spill_dir)))
            replay, attempt = False, (0 if ok else attempt + 1)

    def flush(self) -> bool:
        """Write everything submitted so far now, once (blocks); False if the store failed."""
        return self._round(replay=False)

    # --- the memory bound -------------------------------------------------------------------------

    def _spill(self, rows: list[Mapping[str, Any]], origin: log_spill.Txn | None = None) -> bool:
        try:
            path = log_spill.write_spill(self.log.spill_dir, _table(rows), origin)
        except Exception:  # the local disk too: keep the rows in memory rather than lose them
            log.exception("could not spill %d prediction-log rows; keeping them in memory", len(rows))
            return False
        log.warning("%d prediction-log rows spilled to %s", len(rows), path)
        self._settle(spilled=len(rows))
        return True

    def _spill_loop(self) -> None:
        attempt = 0
        while True:
            self._over.wait()
            self._over.clear()
            if self._stop.is_set():
                return
            if self._unwritten <= self.max_pending:
                continue
            rows = self._take()  # the buffer, not the batch being written: that one stays in order
            if rows and not self._spill(rows):
                with self._lock:  # back in front, to be written or spilled later
                    self._buffer.insert(0, rows)
                    self._buffered += len(rows)
                attempt += 1
                self._stop.wait(backoff_delay(attempt, self.retry_base_s, self.retry_max_s))
                self._over.set()
            else:
                attempt = 0

    # --- shutdown ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Write what is held and stop; what still cannot be written is spilled, never dropped.

        Waits at most *close_timeout_s* for a write in progress: a store that hangs does not hold
        shutdown, and the batch it holds is spilled with its transaction, so it is appended later
        only if that write did not land.
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._due.set()
        self._over.set()
        deadline = time.monotonic() + self.close_timeout_s
        self._spiller.join()
        self._writer.join(self.close_timeout_s)  # it stops after the round in progress, if any
        if self._io.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            try:
                self._round_at_close()
            finally:
                self._io.release()
        else:  # a write hangs: its batch is spilled with its transaction, the rest too
            batch, self._batch = self._batch, None
            if batch is not None:
                self._spill(batch.rows, batch.txn)
            if rows := self._take():
                self._spill(rows)

    def _round_at_close(self) -> None:
        try:
            self._write_batch()
            self._write_batch()
        except Exception as exc:
            self.failures += 1
            self.hooks.failed()
            log.error("could not write prediction-log rows at close (%s); spilling them", exc)
        batch, self._batch = self._batch, None
        if batch is not None:
            self._spill(batch.rows, batch.txn)
        if rows := self._take():
            self._spill(rows)
