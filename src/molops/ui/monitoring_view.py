"""The monitoring page's numbers: a model's checks over consecutive windows (verdicts over time,
with each check's drift statistic), computed on request and kept for a few minutes.

Each window is one :func:`~molops.monitoring.monitor.monitor` run (the same checks as ``molops
monitor``); it loads the model's bundle, so the first look at a model takes seconds and a look
within :data:`KEEP_S` of it none.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from molops.monitoring.checks import worst
from molops.monitoring.monitor import monitor
from molops.workspace import Workspace

KEEP_S = 300.0
MAX_WINDOWS = 14

_cache: dict[tuple[str, str, int, int], tuple[float, list[dict[str, Any]]]] = {}
_lock = threading.Lock()


def windows_of(ws: Workspace, model: str, windows: int, hours: int) -> list[dict[str, Any]]:
    """The checks of *model* on *windows* consecutive windows of *hours* each, oldest first, ending now
    (rounded to the minute, so repeated looks share the cache)."""
    windows = min(max(1, windows), MAX_WINDOWS)
    key = (str(ws.root), model, windows, hours)
    with _lock:
        hit = _cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < KEEP_S:
            return hit[1]
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    step = timedelta(hours=hours)
    rows = []
    for i in reversed(range(windows)):
        until = end - i * step
        report, _ = monitor(ws, model, since=until - step, until=until)
        rows.append(
            {
                "from": report.window["from"],
                "to": report.window["to"],
                "n": report.window["n"],
                "labels": report.window["labels"],
                "verdict": report.verdict,
                "version": report.version,
                "checks": {c["name"]: c for c in report.checks},
            }
        )
    with _lock:
        _cache[key] = (time.monotonic(), rows)
    return rows


def check_names(rows: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for row in rows:
        names += [n for n in row["checks"] if n not in names]
    return names


def overall(rows: list[dict[str, Any]]) -> str:
    return worst([r["verdict"] for r in rows])
