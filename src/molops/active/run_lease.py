"""One ``campaign run`` per campaign on a shared workspace: a lease on the object store.

A file lock only keeps out the other processes of one machine; two machines whose workspaces
share a bucket would both answer the same batch. So on an object store ``campaign run`` also holds
a lease, ``campaigns/NAME/run-lease``: a one-row Delta table like the campaign's state, each change
a conditional commit on the version it was read at (:class:`~molops.active.remote.RemoteState`),
so two runs taking it at once cannot both win. The lease names its holder (user, host, process,
since when) and expires ``ttl_s`` seconds after its last renewal; the holder renews it from a
thread while it runs and releases it when it ends. A run that finds a live lease held by someone
else refuses, naming the holder; one that finds it expired (its holder died without releasing it)
takes it over. A holder whose renewal finds the lease taken over has lost it and stops (its
results so far are journaled, so the new holder loses nothing).

Expiry compares the holder's clock with the reader's, so machines' clocks should agree to well
within ``ttl_s``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from molops.active.remote import RemoteState, StateConflictError
from molops.errors import ConcurrentWriteError
from molops.storage import Storage

log = logging.getLogger("molops.campaign")

#: How long a lease lives after its last renewal; it is renewed every quarter of that.
TTL_S = 120.0


class RunLeaseHeldError(ConcurrentWriteError):
    """Another ``campaign run`` (on this machine or another) holds the campaign's lease."""


class RunLeaseLostError(ConcurrentWriteError):
    """The lease expired while this run held it and another run took it over."""


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


class RunLease:
    """Campaign *name*'s run lease on *storage*, held by *user* on this host."""

    def __init__(self, storage: Storage, name: str, user: str, ttl_s: float = TTL_S) -> None:
        self.name = name
        self.table = RemoteState(storage, name, table="run-lease")
        self.ttl_s = ttl_s
        self.holder = {"user": user, "host": socket.gethostname(), "pid": os.getpid(), "id": uuid.uuid4().hex}
        self.since = time.time()
        self._base: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def _document(self, released: bool = False) -> str:
        now = time.time()
        return json.dumps(
            self.holder
            | {"since": self.since, "renewed": now, "expires": now + self.ttl_s, "released": released}
        )

    def acquire(self) -> None:
        """Take the lease, or raise :class:`RunLeaseHeldError` naming whoever holds it."""
        for _ in range(5):  # a lost race: read again, and the winner's lease refuses us
            base = None
            if self.table.exists():
                text, base = self.table.read()
                held: dict[str, Any] = json.loads(text)
                if (
                    not held.get("released")
                    and held["expires"] > time.time()
                    and held["id"] != self.holder["id"]
                ):
                    raise RunLeaseHeldError(
                        f"campaign {self.name!r} is already running on {held['host']} (user {held['user']}, "
                        f"process {held['pid']}) since {_iso(held['since'])}; wait for it or stop it (its "
                        f"lease expires {self.ttl_s:g} s after its holder last renewed it)"
                    )
            try:
                self._base = self.table.write(self._document(), base)
                return
            except StateConflictError:
                continue
        raise RunLeaseHeldError(f"campaign {self.name!r}: another campaign run keeps taking its lease; retry")

    def renew(self, released: bool = False) -> None:
        """Write the lease again on top of the version this holder wrote last; a conflict means
        another run took it over after it expired (:attr:`lost`)."""
        try:
            self._base = self.table.write(self._document(released), self._base)
        except StateConflictError:
            self.lost = True

    def check(self) -> None:
        """Raise :class:`RunLeaseLostError` once the lease was taken over."""
        if self.lost:
            raise RunLeaseLostError(
                f"campaign {self.name!r}: this campaign run's lease expired and another run took it over; "
                "this one stops (its journaled results are kept)"
            )

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl_s / 4) and not self.lost:
            try:
                self.renew()
            except Exception as exc:  # a network hiccup: the next beat tries again before expiry
                log.warning("could not renew the run lease of campaign %r: %s", self.name, exc)

    def __enter__(self) -> RunLease:
        self.acquire()
        self._thread = threading.Thread(target=self._beat, name="molops-run-lease", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if not self.lost:
            try:
                self.renew(released=True)
            except Exception as error:  # the lease then simply expires
                log.warning("could not release the run lease of campaign %r: %s", self.name, error)


__all__ = ["TTL_S", "RunLease", "RunLeaseHeldError", "RunLeaseLostError"]
