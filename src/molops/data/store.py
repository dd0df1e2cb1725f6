"""Versioned storage of one dataset as Delta Lake tables.

Two tables per dataset: ``table`` holds one row per molecule and is rewritten as a whole by
each change, in one atomic Delta commit whose metadata carries the version's lineage; ``quarantine``
is append-only and holds every rejected input row. Quarantine rows are written *before* the data
commit and tagged with an ingest id; they become visible only once a committed version names that
id, so a crash between the two writes leaves no trace a reader can see.

Dataset versions are numbered 1, 2, 3, … by molops and recorded in the commit metadata, so
maintenance commits (compaction, vacuum) never show up as dataset versions. A writer reads the
table at one Delta version and commits exactly on top of it (no commit retries): if another
writer, on this machine or another one sharing the object store, committed in between, the
commit fails with :class:`CommitConflictError` and :meth:`DatasetStore.retrying` merges again on
the new version. So each dataset version number is taken by exactly one Delta commit and no
ingest is lost; the local file lock only spares writers on one machine the wasted merge.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError
from filelock import FileLock, Timeout
from pydantic import BaseModel

from molops.errors import ConcurrentWriteError, DatasetNotFoundError, VersionNotFoundError
from molops.storage import Storage

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
TARGET_SUFFIXES = {
    "_std": pa.float64(),
    "_n": pa.int64(),
    "_replicates": pa.list_(pa.float64()),
    "_disagree": pa.bool_(),
}

QUARANTINE_SCHEMA = pa.schema(
    [
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
    ]
)

_LINEAGE_KEY = "molops.lineage"
_VERSION_KEY = "molops.version"
#: The pinned base of a writer when the table did not exist yet.
_ABSENT = -1

T = TypeVar("T")


class CommitConflictError(ConcurrentWriteError):
    """Another writer committed to the dataset after this one read it; merge again and retry."""


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


def _read_delta(table: DeltaTable, storage: Storage) -> pa.Table:
    # Read the version's files with pyarrow.parquet directly: deltalake's own dataset scanner
    # leaves native threads behind that abort the interpreter at exit (delta-rs #2184).
    schema = pa.schema(table.schema().to_arrow())
    return storage.read_parquet(table.file_uris(), schema)


class DatasetStore:
    """The Delta tables of one dataset under *root* (a path, URL or :class:`Storage`)."""

    def __init__(self, name: str, root: str | Storage, lock_path: Path, lock_timeout: float = 600.0) -> None:
        self.name = name
        self.storage = root if isinstance(root, Storage) else Storage.at(root.rstrip("/"))
        self.root = self.storage.root
        self.data_uri = self.storage.uri("table")
        self.quarantine_uri = self.storage.uri("quarantine")
        self._lock = FileLock(str(lock_path), timeout=lock_timeout)
        self.lock_timeout = lock_timeout
        #: While a writer holds :meth:`lock`: the Delta version its reads see and its commit
        #: builds on (None until the first read, _ABSENT when there was no table).
        self._writing = False
        self._base: int | None = None

    # -- reading -------------------------------------------------------------------------------
    def _open(self, delta_version: int | None) -> DeltaTable:
        try:
            return DeltaTable(self.data_uri, version=delta_version, storage_options=self.storage.options)
        except TableNotFoundError:
            raise DatasetNotFoundError(f"dataset {self.name!r} does not exist in this workspace") from None
        except OSError as exc:  # an unreachable or refusing store
            raise self.storage.failure("open", "table", exc) from None

    def _table(self, delta_version: int | None = None) -> DeltaTable:
        if delta_version is not None or not self._writing:
            return self._open(delta_version)
        if self._base is None:
            try:
                table = self._open(None)
            except DatasetNotFoundError:
                self._base = _ABSENT
                raise
            self._base = table.version()
            return table
        if self._base == _ABSENT:
            raise DatasetNotFoundError(f"dataset {self.name!r} does not exist in this workspace")
        return self._open(self._base)

    def exists(self) -> bool:
        if self._writing:
            if self._base is None:
                try:
                    self._table()
                except DatasetNotFoundError:
                    return False
            return self._base != _ABSENT
        return self.storage.is_table("table")  # an unreachable store: one sentence, not a trace

    def _history(self) -> tuple[int, list[dict[str, Any]]]:
        """(latest Delta version, every commit newest first) with the commits' true versions.

        ``DeltaTable.history()`` lists the log up to the newest commit but numbers the entries down
        from the version the table object was *loaded* at, so one loaded before a newer commit
        (another writer's) mislabels every entry. Labels are trusted only when a fresh load after
        the listing finds the same version.
        """
        for _ in range(20):
            table = self._open(None)
            history = table.history()
            if self._open(None).version() == table.version():
                return table.version(), history
        raise ConcurrentWriteError(
            f"dataset {self.name!r} kept changing while its history was read; try again"
        )

    def versions(self) -> list[VersionInfo]:
        """Every dataset version, oldest first (as of the pinned read while writing)."""
        limit = self._table().version() if self._writing else None  # pins; absent: not found
        latest, history = self._history()
        limit = latest if limit is None else limit
        out = []
        for commit in history:
            if _VERSION_KEY not in commit or int(commit["version"]) > limit:
                continue
            lineage = json.loads(commit.get(_LINEAGE_KEY, "{}"))
            out.append(
                VersionInfo(
                    version=int(commit[_VERSION_KEY]),
                    delta_version=int(commit["version"]),
                    time=datetime.fromtimestamp(commit["timestamp"] / 1000, UTC).isoformat(),
                    operation=str(lineage.get("operation", "unknown")),
                    molecules=int(commit.get("operationMetrics", {}).get("num_added_rows", 0)),
                    lineage=lineage,
                )
            )
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
        frame: pd.DataFrame = self.read_table(version).to_pandas()
        return frame

    def read_table(self, version: int | None = None) -> pa.Table:
        """:meth:`read` as an Arrow table (no Python object per replicate list)."""
        info = self.resolve(version)
        # The Delta writer does not keep row order (it varies run to run); ``order`` records it.
        return _read_delta(self._table(info.delta_version), self.storage).sort_by("order")

    def read_quarantine(self, version: int | None = None) -> pd.DataFrame:
        """Rejected rows of committed ingests: all of them, or those of *version*'s ingest."""
        versions = self.versions()
        if version is not None:
            versions = [self.resolve(version)]
        visible = {v.lineage.get("ingest_id") for v in versions} - {None}
        if not self.storage.is_table("quarantine"):
            empty: pd.DataFrame = QUARANTINE_SCHEMA.empty_table().to_pandas()
            return empty
        table = DeltaTable(self.quarantine_uri, storage_options=self.storage.options)
        frame: pd.DataFrame = _read_delta(table, self.storage).to_pandas()
        frame = frame[frame["ingest_id"].isin(visible)]
        return frame.sort_values(["dataset_version", "row"], kind="stable").reset_index(drop=True)

    def quarantine_hashes(self) -> set[str]:
        return set(self.read_quarantine()["hash"])

    # -- writing -------------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        """One write attempt: the local lock, and every read pinned to the Delta version the first
        read saw, which :meth:`commit` must build on (see the module docstring)."""
        try:
            with self._lock:
                self._writing, self._base = True, None
                try:
                    yield
                finally:
                    self._writing, self._base = False, None
        except Timeout:
            raise ConcurrentWriteError(
                f"dataset {self.name!r} is being written by another process; gave up after "
                f"{self.lock_timeout:g} s (ingest.lock_timeout_s)"
            ) from None

    def retrying(self, attempt: Callable[[], T]) -> T:
        """Run *attempt* (one :meth:`lock` … :meth:`commit`) again while another writer wins the
        commit, with jittered, capped backoff, for at most ``lock_timeout`` seconds."""
        deadline = time.monotonic() + self.lock_timeout
        tries = 0
        while True:
            try:
                return attempt()
            except CommitConflictError:
                tries += 1
                if time.monotonic() >= deadline:
                    raise ConcurrentWriteError(
                        f"dataset {self.name!r} kept changing under this write ({tries} tries in "
                        f"{self.lock_timeout:g} s, ingest.lock_timeout_s); run it again"
                    ) from None
                time.sleep(random.uniform(0, min(1.0, 0.02 * 2**tries)))

    def commit(
        self, snapshot: pd.DataFrame | pa.Table, lineage: dict[str, Any], quarantine: pa.Table | None = None
    ) -> int:
        """Write *snapshot* as the next version, atomically, exactly on top of the Delta version
        read under :meth:`lock`; :class:`CommitConflictError` when another writer got there first."""
        version = int(lineage["version"])
        options = self.storage.options
        base = self._base
        if base is None:  # no read under lock() before: build on the table as it is now
            try:
                base = self._open(None).version()
            except DatasetNotFoundError:
                base = _ABSENT
        if quarantine is not None and quarantine.num_rows:
            # invisible until a data commit names its ingest id: a lost race leaves no visible trace
            write_deltalake(
                self.quarantine_uri,
                quarantine.cast(QUARANTINE_SCHEMA),
                mode="append",
                storage_options=options,
            )
        if isinstance(snapshot, pa.Table):
            schema = snapshot_schema(targets_of(snapshot.column_names))
            table = snapshot.select(schema.names).cast(schema)
        else:
            schema = snapshot_schema(targets_of(list(snapshot.columns)))
            table = pa.Table.from_pandas(snapshot[schema.names], schema=schema, preserve_index=False)
        metadata = {_VERSION_KEY: str(version), _LINEAGE_KEY: json.dumps(lineage, sort_keys=True)}
        # no commit retries: a commit that is not the very next one after our read must fail
        props = CommitProperties(custom_metadata=metadata, max_commit_retries=0)
        try:
            if base == _ABSENT:
                write_deltalake(
                    self.data_uri, table, mode="error", storage_options=options, commit_properties=props
                )
            else:
                write_deltalake(
                    self._open(base),
                    table,
                    mode="overwrite",
                    schema_mode="overwrite",
                    commit_properties=props,
                )
        except CommitFailedError:
            raise CommitConflictError(self._conflict()) from None
        except DeltaError as exc:
            if "already exists" not in str(exc):
                raise
            raise CommitConflictError(self._conflict()) from None
        return version

    def _conflict(self) -> str:
        return f"dataset {self.name!r} was changed by another writer during this write; run it again"


def now_utc() -> datetime:
    return datetime.now(UTC)
