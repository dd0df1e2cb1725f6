"""Oracle processes that outlive their ``campaign run``: the guard ends them with it, and the
next run ends any the guard could not (real processes, found by their mark in ``/proc``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from _wait import wait_until
from molops.active.oracle import Oracle, call_chunk
from molops.active.oracle_procs import OWNER, marked, owner_token, reap

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")

SLEEP = [sys.executable, "-c", "import time; time.sleep(600)"]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_reap_kills_the_marked_processes_and_only_them():
    token = owner_token("/some/workspace", "c")
    stray = subprocess.Popen(SLEEP, env={**os.environ, OWNER: token})
    other = subprocess.Popen(SLEEP, env={**os.environ, OWNER: owner_token("/some/workspace", "d")})
    try:
        wait_until(lambda: marked(token) == [stray.pid], 10, "the stray's environment in /proc")
        assert reap(token) == 1
        assert stray.wait(10) == -signal.SIGKILL
        assert other.poll() is None and marked(token) == []
    finally:
        for proc in (stray, other):
            proc.kill()
            proc.wait()


def test_a_call_is_marked_and_its_guard_dies_with_the_caller(tmp_path):
    """The guard's parent dies (here: a stand-in for ``campaign run`` killed with SIGKILL): the
    oracle and the child it started are killed too, though neither watches its parent."""
    log = tmp_path / "pids"
    script = tmp_path / "stubborn.py"
    script.write_text(
        "import os, subprocess, sys, time\n"
        f"child = subprocess.Popen({SLEEP!r})\n"
        f"open({str(log)!r}, 'a').write(f'{{os.getpid()}} {{child.pid}}\\n')\n"
        "time.sleep(600)\n"
    )
    caller = tmp_path / "caller.py"
    caller.write_text(
        "import sys\n"
        "from molops.active.oracle import Oracle, call_chunk\n"
        f"call_chunk(Oracle.parse({f'{sys.executable} {script} {{in}} {{out}}'!r}), [('K', 'C')], 600.0,"
        " owner='tok-test')\n"
    )
    parent = subprocess.Popen([sys.executable, str(caller)])
    pids: list[int] = []
    try:
        text = wait_until(lambda: log.is_file() and log.read_text().strip(), 60, "the oracle started")
        pids = [int(p) for p in text.split()]
        assert sorted(marked("tok-test")) == sorted([*pids, *_guards("tok-test", pids)])
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        wait_until(lambda: not any(_alive(p) for p in pids), 15, "the oracle and its child to die")
        assert marked("tok-test") == []
    finally:
        parent.kill()
        parent.wait()
        reap("tok-test")


def _guards(token: str, oracle: list[int]) -> list[int]:
    """The guard: the marked process that is not the oracle or its child."""
    return [p for p in marked(token) if p not in oracle]


def test_an_oracle_that_cannot_start_is_one_reason(tmp_path):
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\n")
    call = call_chunk(Oracle.parse(f"{script} {{in}} {{out}}"), [("K", "C")], 10.0)
    assert call.failed is not None and call.failed.startswith("the oracle could not start ([Errno 13]")
