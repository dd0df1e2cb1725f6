"""A molops service on a real loopback socket (uvicorn in a thread), on a copy of the tracked workspace.

The tracked workspace (``tiny-expt`` versions 1–3, champion v1, challengers v2/v3) is built once per
run; each test serves a private copy of it, so promotions and prediction logs never leak between tests.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from molops import Workspace
from molops.config import ServeSection
from molops.serving.app import ServiceContext, create_app
from molops.serving.server import build_context, model_refs
from molops.tracking.registry import ModelRef, ModelRegistry
from molops.tracking.store import Tracking

from ..tracking.conftest import tracked  # noqa: F401 (the shared tracked workspace, built once)

MODEL = "tiny-expt"


@dataclass
class Live:
    url: str
    ctx: ServiceContext
    ws: Workspace

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample of ``/metrics`` (0 when absent)."""
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(self.url + "/metrics").text
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total


@contextmanager
def live(
    ws: Workspace,
    models: tuple[str, ...] = (MODEL,),
    *,
    refs: list[ModelRef] | None = None,
    wait_ready: bool = True,
    **settings: Any,
) -> Iterator[Live]:
    """Serve *models* (or *refs*) of *ws* on 127.0.0.1 (a free port) until the block ends."""
    settings.setdefault("poll_s", 0)
    refs = refs or model_refs(ModelRegistry(Tracking.of(ws).uri), list(models), "champion")
    ctx = build_context(ws, ServeSection(**settings), refs)
    server = uvicorn.Server(
        uvicorn.Config(create_app(ctx), host="127.0.0.1", port=0, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    service = Live(f"http://127.0.0.1:{port}", ctx, ws)
    while wait_ready and httpx.get(service.url + "/readyz").status_code != 200:
        assert time.monotonic() < deadline, httpx.get(service.url + "/readyz").text
        time.sleep(0.05)
    try:
        yield service
    finally:
        server.should_exit = True
        thread.join(60)


@pytest.fixture
def served_ws(tracked, tmp_path) -> Workspace:  # noqa: F811
    """A private copy of the tracked workspace (its runs' artifacts stay where the original put them)."""
    return Workspace.open(shutil.copytree(tracked.ws.root, tmp_path / "ws"))


@pytest.fixture
def serve(served_ws) -> Callable[..., Any]:
    """``with serve(**settings) as service:`` a live service on the private workspace copy."""
    return lambda *models, **settings: live(served_ws, models or (MODEL,), **settings)
