"""The throwaway servers of ``_servers`` die with the process that started them, even under SIGKILL.

A pytest session killed with ``kill -9`` runs no teardown. Here a child Python process stands for
it: it starts a server the way the fixtures do, says which processes serve, and waits; it is then
killed with SIGKILL, and every one of those processes must go away and the port stop answering.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from _wait import wait_until

from ._servers import _answers
from .conftest import unavailable

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TESTS = Path(__file__).resolve().parents[1]

#: The stand-in for a test session: start the server, print what serves, wait to be killed.
HOLDER = """
import json, sys, time
sys.path.insert(0, {tests!r})
from backends import _servers

try:
    with _servers.{server}() as server:
        print(json.dumps({{"pid": server.pid, "port": {port}}}), flush=True)
        time.sleep(600)
except _servers.BackendUnavailable as exc:
    print(json.dumps({{"unavailable": str(exc)}}), flush=True)
"""


def _alive(proc: psutil.Process) -> bool:
    """Running, and not a zombie nobody reaps yet (it serves nothing any more)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("server", "port"),
    [("postgres_cluster", "server.port"), ("moto_server", "int(server.endpoint.rsplit(':', 1)[1])")],
    ids=["postgres", "s3"],
)
def test_a_server_ends_when_its_session_is_killed(server: str, port: str) -> None:
    code = HOLDER.format(tests=str(TESTS), server=server, port=port)
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stderr is not None
        line = holder.stdout.readline()
        assert line, f"the holder exited ({holder.wait()}) without a server: {holder.stderr.read()}"
        started = json.loads(line)
        if "unavailable" in started:
            unavailable(started["unavailable"])
        main = psutil.Process(started["pid"])
        serving = [main, *main.children(recursive=True)]  # the postmaster's are its workers
        argv = main.cmdline()
        data = Path(argv[argv.index("-D") + 1]) if "-D" in argv else None  # nobody else removes it
        assert all(_alive(p) for p in serving) and _answers(started["port"])

        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)

        wait_until(
            lambda: not any(_alive(p) for p in serving),
            60,
            f"{server}'s processes to exit after their session was killed",
            interval=0.05,
        )
        assert not _answers(started["port"])
        if data is not None and data.parent.name.startswith("molops-pg-"):
            shutil.rmtree(data.parent)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)
        holder.communicate()
