"""Several uvicorn workers, each listening on its own socket bound to the same port (SO_REUSEPORT).

uvicorn's own supervisor hands every worker one shared listening socket, and the worker that wakes
first accepts every connection waiting: a client's keep-alive connections opened together landed on
one worker (32 connections to two workers: 32/0, 32/0, 29/3), and the other worker idled. With
``SO_REUSEPORT`` each worker listens on a socket of its own and the kernel spreads new connections
over them by address hash. Linux only (elsewhere the option does not spread connections); there,
``server.run`` keeps uvicorn's supervisor.

The supervisor starts the workers (spawned: a fresh interpreter each, as uvicorn's), restarts one that
dies, and on SIGINT/SIGTERM asks each to stop (requests in flight finish, the logs are flushed) and
waits for them. A worker that fails at start-up (the address is taken, the app cannot be built) stops
the service rather than restarting forever.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("molops.serve")

#: uvicorn's exit code for a worker that could not start (its ``STARTUP_FAILURE``).
STARTUP_FAILURE = 3
#: Seconds between the supervisor's looks at its workers.
CHECK_EVERY_S = 0.5


def spreads_connections() -> bool:
    """Whether SO_REUSEPORT spreads connections over the sockets sharing a port here (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to *host*:*port* that other processes may bind too (not yet listening)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(config: dict[str, Any], host: str, port: int) -> None:
    """One worker: its own listening socket on the shared port, then uvicorn until it is told to stop."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(**config))
    try:
        sock = reuse_port_socket(host, port)
    except OSError as exc:
        log.error(
            "cannot listen", extra={"event": "listen_failed", "address": f"{host}:{port}", "error": str(exc)}
        )
        sys.exit(STARTUP_FAILURE)
    try:
        server.run(sockets=[sock])
    except SystemExit:  # uvicorn exits 1 when the app cannot be imported or built
        if server.started:
            raise
    if not server.started:  # never served: restarting it would fail the same way
        sys.exit(STARTUP_FAILURE)


def serve_workers(config: dict[str, Any], workers: int, *, grace_s: float = 30.0) -> int:
    """Run *workers* uvicorn workers of *config* (``uvicorn.Config``'s keyword arguments, with ``host``
    and ``port``) until SIGINT/SIGTERM; the exit code for the service (0, or why it stopped)."""
    host, port = str(config["host"]), int(config["port"])
    # bound, never listening: holds the port (and picks one for port 0); the kernel gives connections
    # only to the workers' listening sockets
    reserved = reuse_port_socket(host, port)
    port = reserved.getsockname()[1]
    config = config | {"port": port}
    spawn = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def start() -> BaseProcess:
        process = spawn.Process(target=_worker, args=(config, host, port), name="molops-worker")
        process.start()
        return process

    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    procs = [start() for _ in range(workers)]
    log.info("workers started", extra={"event": "workers_started", "workers": workers, "port": port})
    code = 0
    try:
        while not stop.wait(CHECK_EVERY_S):
            for i, process in enumerate(procs):
                if process.exitcode is None:
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    log.error("a worker could not start; stopping", extra={"event": "worker_failed"})
                    code = STARTUP_FAILURE
                    stop.set()
                    break
                log.warning(
                    "worker died; restarting",
                    extra={"event": "worker_restarted", "pid": process.pid, "exitcode": process.exitcode},
                )
                procs[i] = start()
    finally:
        for process in procs:
            if process.exitcode is None:
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight, the lifespan flushes
        for process in procs:
            process.join(grace_s + 5)
            if process.exitcode is None:
                process.kill()
                process.join()
        reserved.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
