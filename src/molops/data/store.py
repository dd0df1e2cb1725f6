"""Versioned storage of one dataset as Delta Lake tables.

Two tables per dataset: ``table`` holds one row per molecule and is rewritten as a whole by
each change, in one atomic Delta commit whose metadata carries the version's lineage; ``quarantine``
is append-only and holds every rejected input row. Quarantine rows are written *before* the data
commit and tagged with an ingest id; they become visible only once a committed version names that
id, so a crash between the two writes leaves no trace a reader can see.

Dataset versions are numbered 1, 2, 3, … by molops and recorded in the commit metadata, so
maintenance commits (compaction, vacuum) never show up as dataset versions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError
from filelock import FileLock, Timeout
from pydantic import BaseModel

from molops.errors import ConcurrentWriteError, DatasetNotFoundError, VersionNotFoundError

CORE_FIELDS: list[pa.Field] = [
    pa.field("inchikey", pa.string(), nullable=False),
    pa.field("smiles", pa.string(), nullable=False),
    pa.field("order", pa.int64(), nullable=False),
    pa.field("first_version", pa.int64(), nullable=False),
    pa.field("updated_version", pa.int64(), nullable=False),
    pa.field("source", pa.string()),
]
CORE_COLUMNS = [f.name for f in CORE_FIELDS]
#: Per-target columns: the aggregate value, then replicate statistics with these suffixes.
TARGET_SUFFIXES = {"_std": pa.float64(), "_n": pa.int64(), "_replicates": pa.list_(pa.float64()),
                   "_disagree": pa.bool_()}

QUARANTINE_SCHEMA = pa.schema([
    pa.field("ingest_id", pa.string(), nullable=False),
    pa.field("dataset_version", pa.int64(), nullable=False),
    pa.field("time", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("source", pa.string()),
    pa.field("row", pa.int64()),
    pa.field("target", pa.string()),
    pa.field("reason", pa.string(), nullable=False),
    pa.field("detail", pa.string()),
    pa.field("raw", pa.string()),
    pa.field("hash", pa.string(), nullable=False),
])

_LINEAGE_KEY = "molops.lineage"
_VERSION_KEY = "molops.version"


def target_columns(target: str) -> list[str]:
    return [target] + [target + suffix for suffix in TARGET_SUFFIXES]


def snapshot_schema(targets: list[str]) -> pa.Schema:
    fields = list(CORE_FIELDS)
    for t in targets:
        fields.append(pa.field(t, pa.float64()))
        fields.extend(pa.field(t + s, typ) for s, typ in TARGET_SUFFIXES.items())
    return pa.schema(fields)


def targets_of(columns: list[str]) -> list[str]:
    """Target names in a snapshot's columns (those with a ``_replicates`` companion)."""
    return [c for c in columns if c + "_replicates" in columns]


class VersionInfo(BaseModel):
    """One dataset version and the lineage recorded with it."""

    version: int
    delta_version: int
    time: str
    operation: str
    molecules: int
    lineage: dict[str, Any]


def _read_delta(table: DeltaTable) -> pa.Table:
    # Read the version's files with pyarrow.parquet directly: deltalake's own dataset scanner
    # leaves native threads behind that abort the interpreter at exit (delta-rs #2184).
    files = table.file_uris()
    schema = pa.schema(table.schema().to_arrow())
    if not files:
        return schema.empty_table()
    return pq.read_table(files, schema=schema)


class DatasetStore:
    """The Delta tables of one dataset under *root*, with a lock file for writers."""

    def __init__(self, name: str, root: str, lock_path: Path, lock_timeout: float = 600.0) -> None:
        self.name = name
        self.root = root.rstrip("/")
        self.data_uri = f"{self.root}/table"
        self.quarantine_uri = f"{self.root}/quarantine"
        self._lock = FileLock(str(lock_path), timeout=lock_timeout)
        self.lock_timeout = lock_timeout

    # -- reading -------------------------------------------------------------------------------
    def _table(self, delta_version: int | None = None) -> DeltaTable:
        try:
            return DeltaTable(self.data_uri, version=delta_version)
        except TableNotFoundError:
            raise DatasetNotFoundError(f"dataset {self.name!r} does not exist in this workspace") from None

    def exists(self) -> bool:
        return DeltaTable.is_deltatable(self.data_uri)

    def versions(self) -> list[VersionInfo]:
        """Every dataset version, oldest first."""
        out = []
        for commit in self._table().history():
            if _VERSION_KEY not in commit:
                continue
            lineage = json.loads(commit.get(_LINEAGE_KEY, "{}"))
            out.append(VersionInfo(
                version=int(commit[_VERSION_KEY]),
                delta_version=int(commit["version"]),
                time=datetime.fromtimestamp(commit["timestamp"] / 1000, UTC).isoformat(),
                operation=str(lineage.get("operation", "unknown")),
                molecules=int(commit.get("operationMetrics", {}).get("num_added_rows", 0)),
                lineage=lineage,
            ))
        return sorted(out, key=lambda v: v.version)

    def latest_version(self) -> int | None:
        """The newest dataset version, or None when the dataset does not exist yet."""
        if not self.exists():
            return None
        versions = self.versions()
        return versions[-1].version if versions else None

    def resolve(self, version: int | None) -> VersionInfo:
        versions = self.versions()
        if not versions:
            raise DatasetNotFoundError(f"dataset {self.name!r} has no versions yet")
        if version is None:
            return versions[-1]
        for info in versions:
            if info.version == version:
                return info
        have = f"1..{versions[-1].version}"
        raise VersionNotFoundError(f"dataset {self.name!r} has no version {version}; it has {have}")

    def read(self, version: int | None = None) -> pd.DataFrame:
        """One row per molecule, as of *version* (default: the latest), in ``order``."""
        info = self.resolve(version)
        frame: pd.DataFrame = _read_delta(self._table(info.delta_version)).to_pandas()
        # The Delta writer does not keep row order (it varies run to run); ``order`` records it.
        return frame.sort_values("order", kind="stable", ignore_index=True)

    def read_quarantine(self, version: int | None = None) -> pd.DataFrame:
        """Rejected rows of committed ingests: all of them, or those of *version*'s ingest."""
        versions = self.versions()
        if version is not None:
            versions = [self.resolve(version)]
        visible = {v.lineage.get("ingest_id") for v in versions} - {None}
        if not DeltaTable.is_deltatable(self.quarantine_uri):
            empty: pd.DataFrame = QUARANTINE_SCHEMA.empty_table().to_pandas()
            return empty
        frame: pd.DataFrame = _read_delta(DeltaTable(self.quarantine_uri)).to_pandas()
        frame = frame[frame["ingest_id"].isin(visible)]
        return frame.sort_values(["dataset_version", "row"], kind="stable").reset_index(drop=True)

    def quarantine_hashes(self) -> set[str]:
        return set(self.read_quarantine()["hash"])

    # -- writing -------------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise writers of this dataset (both land, one after the other)."""
        try:
            with self._lock:
                yield
        except Timeout:
            raise ConcurrentWriteError(
                f"dataset {self.name!r} is being written by another process; gave up after "
                f"{self.lock_timeout:g} s (ingest.lock_timeout_s)"
            ) from None

    def commit(self, snapshot: pd.DataFrame, lineage: dict[str, Any],
               quarantine: pa.Table | None = None) -> int:
        """Write *snapshot* as the next version, atomically. Call while holding :meth:`lock`."""
        version = int(lineage["version"])
        if quarantine is not None and quarantine.num_rows:
            write_deltalake(self.quarantine_uri, quarantine.cast(QUARANTINE_SCHEMA), mode="append")
        schema = snapshot_schema(targets_of(list(snapshot.columns)))
        table = pa.Table.from_pandas(snapshot[schema.names], schema=schema, preserve_index=False)
        metadata = {_VERSION_KEY: str(version), _LINEAGE_KEY: json.dumps(lineage, sort_keys=True)}
        write_deltalake(self.data_uri, table, mode="overwrite", schema_mode="overwrite",
                        commit_properties=CommitProperties(custom_metadata=metadata))
        return version


def now_utc() -> datetime:
    return datetime.now(UTC)
