"""SIGKILL an ingest at awkward moments: the dataset must stay readable, and its latest version is
either the previous one, byte for byte, or the complete new one. Never anything in between.

The moments are observed, not guessed from the clock: the first new file in the quarantine or the
table folder, or a random delay after the ingest opened its input (reading, the worker pool,
validation) or closed it again (merging and committing), so a busy machine cannot turn a kill meant
for the middle of the ingest into one before it began.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from _wait import wait_until

from ._cli import enamine, finish, molops, start, version_numbers

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS = 60_000
UNIQUE = 200  # molecules, each measured ~300 times with noise: a long file, a short standardisation
BAD_EVERY = 1000  # two rejected rows per thousand


def _big_csv(path: Path) -> Path:
    rng = random.Random(20240603)
    smiles = [s for s, _ in enamine()[:UNIQUE]]
    with path.open("w", encoding="utf-8") as f:
        f.write("smiles,expt\n")
        for i in range(ROWS):
            if i % BAD_EVERY == 7:
                f.write("not_a_smiles,-1.0\n")
            elif i % BAD_EVERY == 8:
                f.write(f"{smiles[i % UNIQUE]},NA\n")
            else:
                f.write(f"{smiles[rng.randrange(UNIQUE)]},{-8 + rng.gauss(0, 0.3):.3f}\n")
    return path


def _ingest_argv(ws: Path, big: Path) -> list[Any]:
    return [
        "data",
        "ingest",
        big,
        "-d",
        "freesolv",
        "--smiles-col",
        "smiles",
        "--target-col",
        "expt",
        "--workers",
        "2",
        "-w",
        ws,
        "--json",
    ]


def _export(ws: Path, out: Path) -> bytes:
    molops("data", "export", "freesolv", out, "-w", ws).ok()
    return out.read_bytes()


def _quarantined(ws: Path) -> int:
    return molops("data", "quarantine", "freesolv", "-w", ws, "--json").json()["quarantined"]


def _build_setup(root: Path) -> dict[str, Any]:
    big = _big_csv(root / "big.csv")
    base = root / "base"
    molops("init", base).ok()
    molops("data", "ingest", "--builtin", "freesolv", "-w", base, "--json").json()
    ref = root / "ref"
    shutil.copytree(base, ref)
    report = molops(*_ingest_argv(ref, big)).json()
    assert (report["version"], report["rows_in"], report["added"]) == (2, ROWS, UNIQUE)
    assert report["quarantined"] == 2 * ROWS // BAD_EVERY
    _export(base, root / "v1.csv")
    _export(ref, root / "v2.csv")
    return {
        "big": str(big),
        "base": str(base),
        "v1_quarantined": _quarantined(base),
        "v2_quarantined": _quarantined(ref),
    }


@pytest.fixture(scope="session")
def setup(build_once) -> dict[str, Any]:
    """freesolv at version 1, the big file, and what a complete, uninterrupted ingest produces;
    built once per run and shared by the xdist workers (a file lock guards the building)."""
    root, info = build_once("crash-setup", _build_setup)
    return {
        **info,
        "big": Path(info["big"]),
        "base": Path(info["base"]),
        "v1_export": (root / "v1.csv").read_bytes(),
        "v2_export": (root / "v2.csv").read_bytes(),
    }


def _entries(folder: Path) -> set[str]:
    try:
        return {p.name for p in folder.iterdir()}
    except FileNotFoundError:
        return set()


def _kill_group(proc: Any) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its forkserver and workers, all at once
    proc.wait(timeout=30)


def _survivors(pgid: int, timeout: float = 10.0) -> list[str]:
    """Live (non-zombie) processes left in the killed process group, after they had time to die."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for p in psutil.process_iter(["pid", "status", "cmdline"]):
            try:
                if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                    alive.append(" ".join(p.info["cmdline"] or [])[:200])
            except (ProcessLookupError, psutil.Error):
                continue
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


class _Input:
    """When the ingest process opened its input file, and when it closed it again."""

    def __init__(self, pid: int, path: Path) -> None:
        self.process, self.path = psutil.Process(pid), path.resolve()
        self.opened: float | None = None
        self.closed: float | None = None

    def update(self) -> None:
        try:
            is_open = any(Path(f.path) == self.path for f in self.process.open_files())
        except psutil.Error:  # it has just ended
            return
        now = time.monotonic()
        if is_open and self.opened is None:
            self.opened = now
        elif not is_open and self.opened is not None and self.closed is None:
            self.closed = now


TRIGGERS = ["quarantine-write", "table-write", "random-early", "random-late"]


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_sigkill_during_ingest(setup, tmp_path, trigger):
    ws = tmp_path / "ws"
    shutil.copytree(setup["base"], ws)
    watched = ws / "datasets" / "freesolv" / ("quarantine" if trigger == "quarantine-write" else "table")
    before = _entries(watched)
    delay = random.uniform(0.0, 1.0) if trigger == "random-early" else random.uniform(0.0, 0.5)
    anchor = "opened" if trigger == "random-early" else "closed"
    what = trigger + ("" if trigger.endswith("write") else f": {delay:.2f} s after it {anchor} its input")

    proc = start(*_ingest_argv(ws, setup["big"]), new_session=True)
    source = _Input(proc.pid, setup["big"])

    def fired() -> bool:
        if trigger.endswith("write"):
            return bool(_entries(watched) - before)  # a new (possibly half-written) data file
        source.update()
        since = source.opened if anchor == "opened" else source.closed
        return since is not None and time.monotonic() - since >= delay

    wait_until(lambda: proc.poll() is not None or fired(), 120, what, interval=0.001)
    if proc.poll() is None:
        _kill_group(proc)
    if proc.returncode == 0:  # it finished before the trigger fired, or before the kill landed
        res = finish(proc)  # so it must have succeeded
        assert res.json()["version"] == 2, str(res)
    else:
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL, what
        assert _survivors(proc.pid) == [], f"{what}: processes of the killed ingest are still running"

    # The dataset opens and its latest version is one of the two complete states.
    seen = version_numbers(ws, "freesolv")
    assert seen in ([1], [1, 2]), f"{what}: versions {seen}"
    committed = seen == [1, 2]
    exported = _export(ws, tmp_path / "after.csv")
    assert exported == setup["v2_export" if committed else "v1_export"], what
    assert _quarantined(ws) == setup["v2_quarantined" if committed else "v1_quarantined"], what
    listing = molops("data", "list", "-w", ws, "--json").json()
    assert [(d["name"], d["latest_version"]) for d in listing["datasets"]] == [("freesolv", seen[-1])]

    # And it takes the same ingest again: the result equals an ingest that was never interrupted.
    again = molops(*_ingest_argv(ws, setup["big"])).json()
    assert (again["version"], again["unchanged"]) == (2, committed), what
    assert version_numbers(ws, "freesolv") == [1, 2]
    assert _export(ws, tmp_path / "final.csv") == setup["v2_export"], what
    assert _quarantined(ws) == setup["v2_quarantined"], what
