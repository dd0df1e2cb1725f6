"""The prediction log: every prediction molops makes, one row per molecule, in a Delta table.

The service, batch prediction and campaigns append here (``source`` says which), and monitoring
reads it back, so drift and live performance cover every path. Appends are blind Delta commits, so
several server workers may write at once. Callers that must never wait for storage write through
:class:`molops.data.log_writer.LogWriter`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
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


#: Compacted log files are cut at this size: a compaction rewrites at most the files below it, so
#: its cost stays bounded however long the log grows.
COMPACT_TARGET_BYTES = 32 * 2**20
#: Files a compaction replaced are deleted only this long after, so a reader that listed them
#: before (monitoring, a notebook) can still read them.
VACUUM_RETENTION_HOURS = 168


class PredictionLog:
    """The workspace's prediction log table (``WS/predictions``)."""

    def __init__(self, uri: StrPath | Storage, spill_dir: Path | None = None) -> None:
        self.storage = uri if isinstance(uri, Storage) else Storage.at(uri)
        self.uri = self.storage.root
        self._spill_dir = spill_dir
        # An open table for appends: opening one by its URI replays the log from the last checkpoint
        # and lists every file, a cost per commit that grows with the table (docs/benchmarks.md).
        self._handle: DeltaTable | None = None
        self._handle_lock = threading.Lock()

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
        with self._handle_lock:
            target: str | DeltaTable = self._handle or self.uri
            try:
                if self._handle is not None:  # only the commits since this handle's version are read
                    self._handle.update_incremental()
                # schema_mode merge: a log written before a column was added takes the new column
                write_deltalake(
                    target,
                    table,
                    mode="append",
                    schema_mode="merge",
                    commit_properties=props,
                    storage_options=self.storage.options,
                )
            except Exception:
                self._handle = None  # the next try opens the table afresh (it may have been replaced)
                raise
            if self._handle is None:  # blind appends commit on any newer version, so it stays valid
                self._handle = DeltaTable(self.uri, storage_options=self.storage.options)
        return int(table.num_rows)

    def compact(
        self, target_bytes: int = COMPACT_TARGET_BYTES, retention_hours: int = VACUUM_RETENTION_HOURS
    ) -> dict[str, int] | None:
        """Rewrite the small files appends leave (one per commit) into files of up to *target_bytes*,
        then delete files compactions removed more than *retention_hours* ago; what it did, or None
        when there is no table yet. The rows and their order of arrival are unchanged; a concurrent
        compaction committing first makes this one raise (appends never conflict with it)."""
        try:
            table = DeltaTable(self.uri, storage_options=self.storage.options)
        except TableNotFoundError:
            return None
        metrics = table.optimize.compact(target_size=target_bytes)
        vacuumed = table.vacuum(retention_hours, dry_run=False, enforce_retention_duration=False)
        return {
            "files_removed": int(metrics.get("numFilesRemoved", 0)),
            "files_added": int(metrics.get("numFilesAdded", 0)),
            "files_vacuumed": len(vacuumed),
        }

    def files(self) -> int:
        """How many data files the current version holds (each uncompacted commit adds one)."""
        with self._handle_lock:
            try:
                table = self._handle or DeltaTable(self.uri, storage_options=self.storage.options)
            except TableNotFoundError:
                return 0
            return len(table.file_uris())

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
