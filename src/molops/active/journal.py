"""The durable journal of one batch sent to a live oracle.

Each settled chunk of oracle answers (or each ``tell``) is committed at once, whole, before anything
else counts it, under ``campaigns/NAME/journal/BATCH/``; a process killed at any moment leaves every
commit it made whole and nothing of the one it was making. That is what ``campaign run`` resumes
on: a molecule with a row here is never sent to the oracle again, and the batch is ingested from
here once every molecule has one.

Locally each commit is one Parquet file, written to a temporary name, fsynced, renamed into place
and its folder fsynced, so it also survives a power cut (deltalake's local writes do not fsync).
On an object store the journal is a small Delta table, one append commit per chunk: a conditional
put there is durable when it returns, like the campaign's other files on the store.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

from molops.storage import Storage

#: A row's outcome: a value, a final failure, a molecule added to the batch (``--retry-failed``),
#: or an output row that names no molecule of the batch.
Outcome = Literal["value", "failed", "member", "rejected"]

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # the InChIKey (rejected rows: the id given)
        pa.field("smiles", pa.string()),
        pa.field("outcome", pa.string(), nullable=False),
        pa.field("value", pa.float64()),
        pa.field("reason", pa.string()),
        pa.field("extra", pa.string()),  # the oracle's other columns, as a JSON object
        pa.field("chunk", pa.string()),  # which call or tell recorded it
        pa.field("seconds", pa.float64()),  # that call's wall time
        pa.field("time_ns", pa.int64(), nullable=False),
    ]
)

COLUMNS = SCHEMA.names


def row(
    id: str,
    outcome: Outcome,
    *,
    smiles: str | None = None,
    value: float | None = None,
    reason: str | None = None,
    extra: dict[str, Any] | None = None,
    chunk: str | None = None,
    seconds: float | None = None,
) -> dict[str, Any]:
    """One journal row (``time_ns`` is set when it is appended)."""
    return {
        "id": id,
        "smiles": smiles,
        "outcome": outcome,
        "value": value,
        "reason": reason,
        "extra": json.dumps(extra, default=str) if extra else None,
        "chunk": chunk,
        "seconds": seconds,
        "time_ns": 0,
    }


class Journal:
    """The journal of batch *batch* of a campaign whose files live in *storage*."""

    def __init__(self, storage: Storage, batch: str) -> None:
        self.storage = storage
        self.uri = storage.uri("journal", batch)

    def exists(self) -> bool:
        if self.storage.is_local:
            return bool(self._files())
        return bool(DeltaTable.is_deltatable(self.uri, storage_options=self.storage.options))

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Commit *rows* at once: after this returns they survive any crash; before, none of them."""
        if not rows:
            return
        stamp = time.time_ns()
        table = pa.Table.from_pylist([{**r, "time_ns": stamp} for r in rows], schema=SCHEMA)
        if not self.storage.is_local:
            write_deltalake(self.uri, table, mode="append", storage_options=self.storage.options)
            return
        folder = Path(self.uri)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{stamp:020d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = folder / f".{final.name}.tmp"
        pq.write_table(table, tmp)
        _fsync(tmp)
        tmp.replace(final)
        _fsync(folder)  # the rename itself

    def read(self) -> pd.DataFrame:
        """Every committed row, in commit order."""
        if not self.exists():
            empty: pd.DataFrame = SCHEMA.empty_table().to_pandas()
            return empty
        if self.storage.is_local:
            data = pa.concat_tables([pq.read_table(f, schema=SCHEMA) for f in self._files()])
        else:
            table = DeltaTable(self.uri, storage_options=self.storage.options)
            data = self.storage.read_parquet(table.file_uris(), SCHEMA)
        frame: pd.DataFrame = data.to_pandas()
        return frame.sort_values("time_ns", kind="stable").reset_index(drop=True)

    def _files(self) -> list[Path]:
        """The committed files (a temporary one a crash left is not committed)."""
        folder = Path(self.uri)
        return sorted(folder.glob("[0-9]*.parquet")) if folder.is_dir() else []


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def settled(frame: pd.DataFrame) -> pd.DataFrame:
    """The first answer or failure recorded per molecule (the one that counts)."""
    done = frame[frame["outcome"].isin(["value", "failed"])]
    return done.drop_duplicates("id", keep="first").set_index("id")


__all__ = ["COLUMNS", "SCHEMA", "Journal", "Outcome", "row", "settled"]
