"""``--workers N``: a listening socket per worker (SO_REUSEPORT), so connections opened together
spread over the workers instead of all landing on the one that woke first; over real sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from molops.serving.workers import STARTUP_FAILURE, spreads_connections

pytestmark = pytest.mark.skipif(
    not spreads_connections(), reason="SO_REUSEPORT spreads connections on Linux only"
)

ROOT = Path(__file__).resolve().parents[3]


def supervisor(app: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    code = (
        "import sys; from molops.serving.workers import serve_workers; "
        f"sys.exit(serve_workers({{'app': {app!r}, 'host': '127.0.0.1', 'port': {port}, "
        f"'log_config': None, 'access_log': False}}, {workers}))"
    )
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answer(sock: socket.socket) -> int:
    """The pid the worker behind *sock* answers with."""
    sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.split(b"\r\n\r\n", 1)[1]:
        chunk = sock.recv(4096)
        assert chunk, "the worker closed the connection without answering"
        data += chunk
    return int(data.split(b"\r\n\r\n", 1)[1])


def wait_for_workers(port: int, workers: int, deadline_s: float = 120) -> None:
    """Until *workers* distinct workers answered: a worker still starting is not listening, and the
    kernel would give every connection to the others."""
    seen: set[int] = set()
    deadline = time.monotonic() + deadline_s
    while len(seen) < workers:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                seen.add(answer(sock))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        assert time.monotonic() < deadline, f"only {len(seen)} of {workers} workers answered"


def test_connections_opened_together_spread_over_the_workers_and_sigterm_stops_them() -> None:
    port = free_port()
    proc = supervisor("tests.unit.serving._pid_app:app", port, 2)
    try:
        wait_for_workers(port, 2)
        conns = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(32)]
        try:
            pids = [answer(c) for c in conns]
        finally:
            for c in conns:
                c.close()
        counts = {pid: pids.count(pid) for pid in set(pids)}
        # uvicorn's one shared socket: 32/0, 32/0, 29/3; by address hash: binomial(32, ½), ≥ 6 each
        assert len(counts) == 2 and min(counts.values()) >= 6, counts
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        for pid in counts:  # the supervisor waited for its workers
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_worker_that_cannot_start_stops_the_service_instead_of_restarting_forever() -> None:
    proc = supervisor("tests.unit.serving._pid_app:no_such_app", free_port(), 2)
    try:
        assert proc.wait(120) == STARTUP_FAILURE
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
