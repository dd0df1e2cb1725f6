"""A molops service on a real loopback socket (``serving.server.background``: uvicorn in a thread),
on a copy of the tracked workspace.

The tracked workspace (``tiny-expt`` versions 1–3, champion v1, challengers v2/v3) is built once per
run; each test serves a private copy of it, so promotions and prediction logs never leak between tests.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from molops import Workspace
from molops.config import ServeSection
from molops.serving.pipeline import ServiceContext
from molops.serving.server import background, model_refs
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
    settings = {"poll_s": 0, "port": 0} | settings
    refs = refs or model_refs(ModelRegistry(Tracking.of(ws).uri), list(models), "champion")
    with background(ws, ServeSection(**settings), refs, wait_ready=wait_ready) as (url, ctx):
        yield Live(url, ctx, ws)


@pytest.fixture
def served_ws(tracked, tmp_path) -> Workspace:  # noqa: F811
    """A private copy of the tracked workspace (its runs' artifacts stay where the original put them)."""
    return Workspace.open(shutil.copytree(tracked.ws.root, tmp_path / "ws"))


@pytest.fixture
def serve(served_ws) -> Callable[..., Any]:
    """``with serve(**settings) as service:`` a live service on the private workspace copy."""
    return lambda *models, **settings: live(served_ws, models or (MODEL,), **settings)
