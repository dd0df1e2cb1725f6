"""The web app on a real socket on 127.0.0.1, in a thread of the test process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from _wait import wait_until


@contextmanager
def serving(app: FastAPI, timeout_s: float = 30) -> Iterator[str]:
    """Serve *app* on a free loopback port until the block ends; yields the base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="molops-ui-test", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), timeout_s, "the ui server to start")
        assert thread.is_alive(), "the ui server stopped while starting"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)
