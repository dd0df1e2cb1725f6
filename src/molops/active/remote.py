"""A campaign's state on an object store, updated only by conditional writes.

On a shared workspace (``[storage] uri = "s3://…"``) a campaign lives under
``{storage}/campaigns/NAME/``: ``state`` is a tiny Delta table holding one row, the
``campaign.json`` document, rewritten by each change; ``proposals/`` and ``results/`` hold the
Parquet files the state names. Two processes on two machines share no file lock, so each change is
committed *exactly on top of* the Delta version its state was read from (deltalake's commit is an
S3 conditional put, ``aws_conditional_put = etag``, and commit retries are off): when another
writer committed in between, the commit fails and the change is refused with
:class:`CampaignChangedError`; nothing it wrote is named by the state, so it stays invisible.

Why a Delta table rather than a raw ``PutObject`` with ``If-Match``: pyarrow's S3 filesystem cannot
send conditional puts and boto3 is not a runtime dependency, while deltalake's conditional commit
is already the workspace's tested safe path for datasets (``molops.data.store``), and it brings
server-side encryption and the credentials from the environment for free. Each proposals or
results file is a one-commit Delta table for the same reasons, named with a random suffix so that a
writer that loses its race leaves a file no state names. The loser then deletes that file, best
effort, through deltalake's object-store handler (pyarrow's delete would leave an unencrypted folder
marker behind); should the delete fail too, the file is garbage that nothing ever reads.
"""

from __future__ import annotations

import logging
import uuid

import pandas as pd
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake._internal import DeltaFileSystemHandler
from deltalake.exceptions import CommitFailedError, DeltaError

from molops.errors import ConcurrentWriteError
from molops.storage import Storage

log = logging.getLogger("molops.campaign")

_SCHEMA = pa.schema([pa.field("state", pa.string(), nullable=False)])


class StateConflictError(ConcurrentWriteError):
    """Another writer committed the state since it was read (or created it first)."""


class CampaignChangedError(ConcurrentWriteError):
    """A campaign's state changed on the object store while a command was working on it."""


def unique_name(stem: str) -> str:
    """*stem* with a random suffix: a writer that loses its race leaves a file no state names."""
    return f"{stem}-{uuid.uuid4().hex[:12]}"


class RemoteState:
    """One campaign's folder on an object store: its state document and its data files."""

    def __init__(self, storage: Storage, name: str, table: str = "state") -> None:
        self.storage = storage.child("campaigns", name)
        self.table = table  # "state"; "run-lease" holds campaign run's lease the same way
        self.state_uri = self.storage.uri(table)

    def exists(self) -> bool:
        return self.storage.is_table(self.table)

    def read(self) -> tuple[str, int]:
        """The state document and the Delta version it was read at (the token for :meth:`write`)."""
        table = DeltaTable(self.state_uri, storage_options=self.storage.options)
        data = self.storage.read_parquet(table.file_uris(), _SCHEMA)
        return str(data.column("state")[data.num_rows - 1].as_py()), table.version()

    def write(self, document: str, base: int | None) -> int:
        """Commit *document* as the next state: the first one when *base* is None, else exactly the
        version after *base*; :class:`StateConflictError` when another writer got there first."""
        options = self.storage.options
        table = pa.table({"state": [document]}, schema=_SCHEMA)
        props = CommitProperties(max_commit_retries=0)  # a commit not right after *base* must fail
        try:
            if base is None:
                write_deltalake(self.state_uri, table, mode="error", storage_options=options,
                                commit_properties=props)  # fmt: skip
            else:
                current = DeltaTable(self.state_uri, version=base, storage_options=options)
                write_deltalake(current, table, mode="overwrite", commit_properties=props)
        except CommitFailedError:
            raise StateConflictError(f"{self.state_uri} changed since version {base}") from None
        except DeltaError as exc:
            if "already exists" not in str(exc):
                raise
            raise StateConflictError(f"{self.state_uri} already exists") from None
        return 0 if base is None else base + 1

    # -- data files ------------------------------------------------------------------------------
    def write_frame(self, rel: str, frame: pd.DataFrame) -> None:
        """*frame* as the campaign's file *rel*: a one-commit Delta table there, so it is whole or
        absent and encrypted like every object (deltalake's handler cannot stream plain files)."""
        table = pa.Table.from_pandas(frame, preserve_index=False)
        write_deltalake(self.storage.uri(rel), table, mode="error", storage_options=self.storage.options)

    def discard(self, rel: str) -> bool:
        """Delete the campaign's file *rel*, which a writer that lost its race wrote and no state
        names; best effort (True when deleted): a failure only leaves garbage, so it is logged."""
        try:
            DeltaFileSystemHandler(self.storage.root, self.storage.options).delete_dir(rel)
        except Exception as exc:  # any failure of a clean-up must not hide the lost race itself
            log.warning("could not delete %s, which no campaign state names: %s", self.storage.uri(rel), exc)
            return False
        return True

    def read_frame(self, rel: str) -> pd.DataFrame:
        table = DeltaTable(self.storage.uri(rel), storage_options=self.storage.options)
        schema = pa.schema(table.schema().to_arrow())
        frame: pd.DataFrame = self.storage.read_parquet(table.file_uris(), schema).to_pandas()
        return frame


def list_remote(storage: Storage) -> list[str]:
    """Names of the campaigns under ``{storage}/campaigns``."""
    return [n for n in storage.list_dirs("campaigns") if storage.is_table("campaigns", n, "state")]


__all__ = [
    "CampaignChangedError",
    "RemoteState",
    "StateConflictError",
    "list_remote",
    "unique_name",
]
