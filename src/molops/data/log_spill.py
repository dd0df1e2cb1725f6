"""Spill files: prediction-log rows kept on local disk while the table cannot take them.

:class:`~molops.data.log_writer.LogWriter` spills rows beyond its memory bound, and what it
still holds at close, to ``predictions-spill/`` beside the table; the next writer to find the
files (the next start, or a running writer once the store answers again) appends them first.

Exactly once, through Delta's application transactions: a spill file is appended with the
transaction ``(molops-spill-NAME, 1)`` and deleted only after that commit, so a process that dies
between the two finds the transaction in the table the next time and deletes the file without a
second append. Rows of a batch whose write may have landed before it was spilled (a write that
was still running, or failed after its commit, at close) carry that write's transaction in the
file's metadata, and are skipped when it landed. The price: one transaction id per spill file
stays in the table's state, and one process at a time replays (a file lock beside the files).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

log = logging.getLogger("molops.prediction_log")

#: The schema-metadata key of a spilled batch's earlier write: b"APP_ID VERSION".
ORIGIN_KEY = b"molops.txn"
APP_PREFIX = "molops-spill-"

Txn = tuple[str, int]


class Appender(Protocol):
    """What replaying needs of the prediction log."""

    def append(self, rows: pa.Table, *, txn: Txn | None = None) -> int: ...

    def committed(self, app_id: str) -> int | None: ...


def spill_files(directory: Path) -> list[Path]:
    """The complete spill files in *directory*, oldest name first (a file being written has a
    temporary name until it is complete)."""
    try:
        return sorted(p for p in directory.iterdir() if p.suffix == ".parquet" and not p.name.startswith("."))
    except FileNotFoundError:
        return []


def write_spill(directory: Path, table: pa.Table, origin: Txn | None = None) -> Path:
    """Write *table* to a new spill file, synced before it takes its final name."""
    directory.mkdir(parents=True, exist_ok=True)
    name = uuid.uuid4().hex
    if origin is not None:
        metadata = {**(table.schema.metadata or {}), ORIGIN_KEY: f"{origin[0]} {origin[1]}".encode()}
        table = table.replace_schema_metadata(metadata)
    temporary, final = directory / f".{name}.tmp", directory / f"{name}.parquet"
    with temporary.open("wb") as fh:
        pq.write_table(table, fh)
        fh.flush()
        os.fsync(fh.fileno())
    temporary.replace(final)
    return final


def _landed(target: Appender, path: Path, table: pa.Table) -> bool:
    """Whether the rows of *path* are in the table already (its replay, or its batch's first
    write, committed before the file could be deleted)."""
    if target.committed(APP_PREFIX + path.stem) is not None:
        return True
    origin = (table.schema.metadata or {}).get(ORIGIN_KEY)
    if origin is None:
        return False
    app_id, version = origin.decode().rsplit(" ", 1)
    done = target.committed(app_id)
    return done is not None and done >= int(version)


def replay(target: Appender, directory: Path, conform: Callable[[pa.Table], pa.Table]) -> int:
    """Append every spill file in *directory* to *target* and delete it; returns the rows appended.

    A store failure propagates and leaves the remaining files for the next try. A file that
    cannot be read is renamed ``*.bad`` (and logged) so that it never blocks the others. When
    another process is replaying, this one returns 0 at once.
    """
    if not spill_files(directory):
        return 0
    lock = FileLock(directory / ".replay.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return 0
    appended = 0
    try:
        for path in spill_files(directory):  # listed again under the lock: another replay may have ended
            try:
                table = pq.read_table(path)
            except (OSError, pa.ArrowInvalid) as exc:
                log.error("spill file %s cannot be read (%s); renamed to .bad", path, exc)
                path.rename(path.with_suffix(".bad"))
                continue
            if not _landed(target, path, table):
                appended += target.append(conform(table), txn=(APP_PREFIX + path.stem, 1))
            path.unlink()
            log.info("prediction-log rows replayed from %s", path)
    finally:
        lock.release()
    return appended
