"""Starting the service: safety checks, the app factory uvicorn calls, JSON logging, worker metrics.

``molops serve`` checks what it was asked (models exist, keys or a loopback address), writes the
service spec to an environment variable and hands :func:`app_from_env` to uvicorn, so one worker or
many build the same app. With several workers, Prometheus metrics are kept in shared files
(``prometheus_client``'s multiprocess mode) and ``/metrics`` sums them across workers.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from molops.compute.isolated import IsolatedPool
from molops.compute.local import default_workers
from molops.config import ServeSection
from molops.data.log_writer import LogWriter
from molops.data.prediction_log import PredictionLog
from molops.errors import MolopsError
from molops.serving import log_sink, workers
from molops.serving.app import create_app, turns
from molops.serving.auth import KeyRing, is_loopback
from molops.serving.metrics import Metrics
from molops.serving.models import Loaded, ModelSet, ServedModel
from molops.serving.observe import JsonLogFormatter
from molops.serving.pipeline import ServiceContext
from molops.serving.prepared_cache import PreparedCache
from molops.tracking._mlflow import mlflow
from molops.tracking.preparation import PreparedMolecule
from molops.tracking.registry import ModelRef, ModelRegistry
from molops.tracking.store import Tracking
from molops.workspace import Workspace

SPEC_ENV = "MOLOPS_SERVE_SPEC"


class ServeError(MolopsError):
    """The service cannot start as asked."""

    exit_code = 2


def model_refs(registry: ModelRegistry, names: list[str], alias: str) -> list[ModelRef]:
    """References to serve: each NAME (at *alias*) or NAME@ALIAS / NAME:VERSION; default every model."""
    names = names or registry.names()
    if not names:
        raise ServeError(
            "there are no registered models in this workspace to serve; train one with `molops train`"
        )
    refs = [ModelRef.parse(n) if ("@" in n or ":" in n) else ModelRef(name=n, alias=alias) for n in names]
    for ref in refs:
        registry.resolve(ref)  # an unknown name or alias fails here, in one sentence, not in a worker
    return refs


def check_exposure(host: str, keys: KeyRing, insecure: bool) -> str | None:
    """Refuse an unauthenticated service on a non-loopback address; a warning to print, if any."""
    if keys.enabled:
        return None
    if is_loopback(host):
        return f"no API keys configured: serving without authentication, on {host} only"
    if not insecure:
        raise ServeError(
            f"refusing to serve on {host} without API keys; add keys to [serve] in molops.toml "
            "(`molops serve-key NAME` makes one) or pass --insecure to serve anyone who can reach it"
        )
    return f"--insecure: serving WITHOUT authentication on {host}; anyone who can reach it may predict"


#: What chemistry children import once, in the fork server (a replacement child starts at once).
CHEMISTRY_PRELOAD = ("molops.tracking.preparation",)


def chemistry_pool(settings: ServeSection) -> IsolatedPool[PreparedMolecule] | None:
    """The child processes that standardise and featurise for one worker (None: the worker does)."""
    processes = settings.chemistry_processes
    if processes == -1:
        processes = max(1, default_workers() // settings.workers)
    if processes == 0:
        return None
    return IsolatedPool(processes, settings.molecule_timeout_ms / 1000, preload=CHEMISTRY_PRELOAD)


def build_context(
    ws: Workspace,
    settings: ServeSection,
    refs: list[ModelRef],
    *,
    log_predictions: bool = True,
    prediction_log: PredictionLog | None = None,
    workers: int = 1,
) -> ServiceContext:
    """The service's parts for one process; *workers* is how many processes serve it, each writing
    the prediction log and running the monitoring checks in turns (:func:`turns`).

    With N workers a worker's log commits come every N × ``log_interval_s``, so a worker's
    unwritten rows (what a crash of it could lose) stay at about one interval of the whole
    service's traffic, as with one worker, while the service commits once per interval."""
    registry = ModelRegistry(Tracking.of(ws).uri, ws.config.tracking.user)
    metrics = Metrics()

    def on_batch(served: ServedModel, n: int, seconds: float) -> None:
        metrics.batch_size.labels(served.name).observe(n)
        metrics.batch_seconds.labels(served.name).observe(seconds)

    def on_swap(served: ServedModel, previous: Loaded | None, loaded: Loaded) -> None:
        alias = served.ref.alias or ""
        if previous is not None:
            metrics.model_info.labels(served.name, alias, str(previous.version), served.role).set(0)
            metrics.swaps.labels(served.name).inc()
        metrics.model_info.labels(served.name, alias, str(loaded.version), served.role).set(1)

    models = ModelSet(
        refs,
        registry,
        max_batch=settings.max_batch_size,
        max_wait_s=settings.max_wait_ms / 1000,
        shadow_alias=settings.shadow_alias,
        shadow_share=settings.shadow_share,
        shadow_mode=settings.shadow_mode,
        on_batch=on_batch,
        on_swap=on_swap,
        chemistry=chemistry_pool(settings),
        onnx=settings.onnx,
        cache=PreparedCache(settings.cache_molecules) if settings.cache_molecules else None,
    )
    writer = None
    if log_predictions:
        first_s, every_s = turns(settings.log_interval_s, workers)
        writer = LogWriter(
            prediction_log or PredictionLog.of(ws),
            interval_s=every_s,
            max_pending=settings.log_max_pending,
            hooks=metrics.log_hooks(),
            first_wait_s=first_s,
        )

    def checks(name: str) -> list[dict[str, Any]]:
        from molops.monitoring.monitor import monitor

        return monitor(ws, name)[0].checks

    return ServiceContext(
        settings, models, KeyRing(settings.keys), writer, metrics, monitor=checks, processes=max(1, workers)
    )


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stdout for molops', uvicorn's and MLflow's loggers (uvicorn's access log is
    replaced by ours, which a background thread writes: one line per request, never on the event
    loop)."""
    # Importing mlflow gives its logger a plain-text stderr handler; it must happen before ours
    # replaces it, or a tracking database outage logs hundreds of traceback lines per alias poll.
    mlflow()

    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLogFormatter())
    handlers: dict[str, tuple[logging.Handler, int]] = {
        "molops": (handler, level),
        "uvicorn": (handler, level),
        "uvicorn.error": (handler, level),
        "molops.access": (log_sink.background(handler), level),  # into the same handler: whole lines
        "mlflow": (handler, max(level, logging.WARNING)),  # its errors, each one line with its trace
    }
    for name, (chosen, chosen_level) in handlers.items():
        logger = logging.getLogger(name)
        logger.handlers = [chosen]
        logger.setLevel(chosen_level)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True


def app_from_env() -> FastAPI:
    """The app for one uvicorn worker, from the spec ``molops serve`` put in the environment."""
    spec: dict[str, Any] = json.loads(os.environ[SPEC_ENV])
    configure_logging()
    ws = Workspace.open(spec["workspace"])
    settings = ServeSection.model_validate(spec["settings"])
    refs = [ModelRef.model_validate(r) for r in spec["refs"]]
    ctx = build_context(ws, settings, refs, log_predictions=spec.get("log", True), workers=settings.workers)
    app = create_app(ctx, freeze_heap=True)  # this process is the worker: see app.load_models
    return with_ui(app, ws, ctx) if spec.get("ui") else app


def with_ui(app: FastAPI, ws: Workspace, ctx: ServiceContext) -> FastAPI:
    """``serve --ui``: the web app's pages at ``/ui/`` beside the API, with the service's keys
    (imported only here: the web app sits above the service and reuses its keys)."""
    from molops.ui import mount_ui

    return mount_ui(app, ws, ctx.keys)


@contextmanager
def background(
    ws: Workspace,
    settings: ServeSection,
    refs: list[ModelRef],
    *,
    wait_ready: bool = True,
    timeout_s: float = 120,
    prediction_log: PredictionLog | None = None,
    ui: bool = False,
) -> Iterator[tuple[str, ServiceContext]]:
    """Serve on ``settings.host`` (port 0: a free one) in a thread of this process until the block ends.

    Yields the base URL and the service's context; on exit the service shuts down as on SIGTERM
    (requests in flight finish, the prediction log is flushed). For the demo, tests and notebooks;
    *prediction_log* replaces the workspace's (a test's store that fails on purpose).
    """
    import uvicorn

    ctx = build_context(ws, settings, refs, prediction_log=prediction_log)
    app = with_ui(create_app(ctx), ws, ctx) if ui else create_app(ctx)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="molops-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ServeError(f"the service did not start on {settings.host}:{settings.port}")
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://{settings.host}:{port}"
        while wait_ready and not ctx.models.ready:
            if ctx.models.failed or time.monotonic() > deadline:
                raise ServeError(f"the models did not load: {ctx.models.failed or 'timed out'}")
            time.sleep(0.02)
        yield url, ctx
    finally:
        server.should_exit = True
        thread.join(timeout_s)


def run(
    ws: Workspace,
    settings: ServeSection,
    refs: list[ModelRef],
    *,
    ssl_certfile: Path | None = None,
    ssl_keyfile: Path | None = None,
    log_predictions: bool = True,
    ui: bool = False,
) -> None:
    """Serve until SIGINT/SIGTERM; then finish the requests in flight and flush the prediction log."""
    import uvicorn

    os.environ[SPEC_ENV] = json.dumps(
        {
            "workspace": str(ws.root),
            "settings": settings.model_dump(),
            "refs": [r.model_dump() for r in refs],
            "log": log_predictions,
            "ui": ui,
        }
    )
    if settings.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="molops-metrics-")
    config: dict[str, Any] = {
        "app": "molops.serving.server:app_from_env",
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "ssl_certfile": str(ssl_certfile) if ssl_certfile else None,
        "ssl_keyfile": str(ssl_keyfile) if ssl_keyfile else None,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 30,
    }
    if settings.workers > 1 and workers.spreads_connections():  # a listening socket per worker
        if workers.serve_workers(config, settings.workers, grace_s=30) == workers.STARTUP_FAILURE:
            raise ServeError(
                f"a worker could not start on {settings.host}:{settings.port}; see its log above"
            )
        return
    uvicorn.run(config.pop("app"), workers=settings.workers, **config)
