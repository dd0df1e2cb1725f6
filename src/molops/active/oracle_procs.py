"""Finding and ending the oracle processes a killed ``campaign run`` left behind.

Every oracle call of a campaign carries ``MOLOPS_ORACLE_OWNER=<token>`` in its environment (its
children inherit it), the token naming the campaign in its workspace. The guard
(:mod:`~molops.active.oracle_guard`) ends a call when its ``campaign run`` dies; should the guard
itself have been killed (an OOM kill of the whole group's parent, a ``kill -9`` of the guard),
the next ``campaign run`` of the campaign, once it holds the campaign's lock, kills every process
of this user that still carries the campaign's token. The environment is the mark, rather than a
recorded process id, because a process id is reused once its process is gone and the mark is not.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import time
from pathlib import Path

#: The environment variable that marks a campaign's oracle processes.
OWNER = "MOLOPS_ORACLE_OWNER"


def owner_token(where: str, campaign: str) -> str:
    """The mark of campaign *campaign* of the workspace at *where* (a folder or a storage URL)."""
    return hashlib.sha256(f"{where}|{campaign}".encode()).hexdigest()[:16]


def marked(token: str) -> list[int]:
    """The processes of this user whose environment carries *token* (Linux ``/proc``; elsewhere none)."""
    needle = f"{OWNER}={token}".encode()
    found = []
    me = os.getpid()
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):  # gone meanwhile, or another user's
            if int(entry.name) != me and needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def reap(token: str, deadline_s: float = 5.0) -> int:
    """SIGKILL every process marked with *token* until none is left (or *deadline_s* passed, since
    a process can fork while it is being killed); how many were killed."""
    killed: set[int] = set()
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        pids = [p for p in marked(token) if not _zombie(p)]
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        time.sleep(0.02)
    return len(killed)


def _zombie(pid: int) -> bool:
    """A dead process its parent has not waited for yet: killing it again does nothing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


__all__ = ["OWNER", "marked", "owner_token", "reap"]
