"""The audit log: who changed what in a workspace, one row per change, in an append-only Delta table.

Ingests, trainings, alias moves, campaign steps and retraining decisions each append a row with the
acting user and the time, so a team sharing a workspace can ask ``molops audit`` who did what, and
when. Appends are blind Delta commits, so two processes recording at once both land. Recording
never costs the change it describes: a failed append is logged and counted, not raised.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from pydantic import BaseModel, Field

from molops._types import StrPath
from molops.errors import UsageError
from molops.storage import Storage

log = logging.getLogger("molops.audit")

#: Names the person acting, over the configured ``[tracking] user`` and the login name.
USER_ENV = "MOLOPS_USER"
#: The actions molops records (``details`` says more about each).
ACTIONS = (
    "dataset.ingest",
    "dataset.rollback",
    "model.train",
    "model.promote",
    "model.rollback",
    "campaign.create",
    "campaign.propose",
    "campaign.ingest",
    "campaign.review",
    "retrain.decision",
)

#: What an action filter may name: an action, or a group of them (its part before the dot).
ACTION_GROUPS = tuple(sorted({a.split(".")[0] for a in ACTIONS}))

SCHEMA = pa.schema(
    [
        pa.field("time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("user", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("subject", pa.string(), nullable=False),  # dataset, model or campaign name
        pa.field("version", pa.string()),  # dataset version, model version or iteration
        pa.field("details", pa.string(), nullable=False),  # a JSON object
    ]
)

_failures = 0
_failures_lock = threading.Lock()


def _check_action(action: str) -> None:
    if action not in ACTIONS and action not in ACTION_GROUPS:
        raise UsageError(
            f"action {action!r} is not one molops records; expected a group ({', '.join(ACTION_GROUPS)}) "
            f"or one of: {', '.join(ACTIONS)}"
        )


def acting_user(configured: str = "") -> str:
    """Who is acting: ``$MOLOPS_USER``, else *configured* (``[tracking] user``), else the login name.

    ``getpass.getuser`` raises where no login variable is set and the uid has no passwd entry (a
    container started with an arbitrary uid); such a process is recorded as ``unknown``.
    """
    for name in (os.environ.get(USER_ENV, ""), configured):
        if name.strip():
            return name.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):
        return "unknown"


def failed_writes() -> int:
    """How many audit rows this process could not write (each was logged as a warning)."""
    return _failures


class AuditEntry(BaseModel):
    """One recorded change."""

    time: datetime
    user: str
    action: str
    subject: str
    version: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class AuditLog:
    """A workspace's audit table (``audit/`` under its storage root; a path, URL or
    :class:`~molops.storage.Storage`), writing as *user*."""

    def __init__(self, where: StrPath | Storage, user: str) -> None:
        self.storage = where if isinstance(where, Storage) else Storage.at(where)
        self.uri = self.storage.root
        self.user = user

    def as_user(self, user: str) -> AuditLog:
        """The same table, recording as *user* (a service would record the API key's name)."""
        return AuditLog(self.storage, user)

    def record(self, action: str, subject: str, version: int | str | None = None, **details: Any) -> bool:
        """Append one row now, as :attr:`user`; True when it landed.

        Called after the change has happened, so an append that fails must not turn a done change
        into an error: it is logged as a warning and counted (:func:`failed_writes`) instead.
        """
        entry = AuditEntry(
            time=datetime.now(UTC),
            user=self.user,
            action=action,
            subject=subject,
            version=None if version is None else str(version),
            details=details,
        )
        try:
            self.append([entry])
        except Exception as exc:  # any storage failure: the change itself stands
            global _failures
            with _failures_lock:
                _failures += 1
            log.warning("could not record %s of %s in the audit log %s: %s", action, subject, self.uri, exc)
            return False
        return True

    def append(self, entries: Sequence[AuditEntry]) -> int:
        """Write *entries* in one Delta commit (raises on failure); returns how many."""
        if not entries:
            return 0
        columns: dict[str, list[Any]] = {
            "time": [e.time.astimezone(UTC) for e in entries],
            "user": [e.user for e in entries],
            "action": [e.action for e in entries],
            "subject": [e.subject for e in entries],
            "version": [e.version for e in entries],
            "details": [json.dumps(e.details, sort_keys=True, default=str) for e in entries],
        }
        table = pa.Table.from_pydict(columns, schema=SCHEMA)
        write_deltalake(self.uri, table, mode="append", storage_options=self.storage.options)
        return len(entries)

    def _table(self) -> pa.Table:
        if not self.storage.is_table():
            return SCHEMA.empty_table()
        files = DeltaTable(self.uri, storage_options=self.storage.options).file_uris()
        # the files read directly, as the other tables do: deltalake's own scanner can abort the
        # interpreter at exit (delta-rs #2184)
        return self.storage.read_parquet(files, SCHEMA)

    def read(
        self,
        *,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        user: str | None = None,
        action: str | None = None,
        subject: str | None = None,
    ) -> list[AuditEntry]:
        """Rows matching the filters, oldest first. *action* ``model`` matches every ``model.*``.

        An *action* molops never records is refused rather than answered with no rows, so a typo in a
        filter (the CLI's ``--action``, the web app's audit page) is not mistaken for an empty log.
        """
        if action is not None:
            _check_action(action)
        # here, not at the top: the prediction log imports pandas, which opening a workspace never needs
        from molops.data.prediction_log import parse_time

        start, end = parse_time(since), parse_time(until)  # a bad time is an error even when empty
        table = self._table()
        mask = pa.array([True] * table.num_rows, pa.bool_())
        stamp = pa.timestamp("us", tz="UTC")
        if start is not None:
            mask = pc.and_(mask, pc.greater_equal(table["time"], pa.scalar(start, stamp)))
        if end is not None:
            mask = pc.and_(mask, pc.less(table["time"], pa.scalar(end, stamp)))
        if user is not None:
            mask = pc.and_(mask, pc.equal(table["user"], user))
        if subject is not None:
            mask = pc.and_(mask, pc.equal(table["subject"], subject))
        if action is not None:
            exact = pc.equal(table["action"], action)
            mask = pc.and_(mask, pc.or_(exact, pc.starts_with(table["action"], action + ".")))
        rows = table.filter(mask).sort_by([("time", "ascending")]).to_pylist()
        return [AuditEntry(**(row | {"details": json.loads(row["details"])})) for row in rows]
