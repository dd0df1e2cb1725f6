"""The FastAPI application: molops' ``/v1`` API, the Open Inference Protocol ``/v2``, health and metrics.

:func:`create_app` builds one app from a :class:`~molops.serving.pipeline.ServiceContext` (models,
keys, limits, log) and puts it on ``app.state``, where the route modules reach it through
dependencies (``serving/deps.py``); so tests build the app in-process and ``molops serve`` hands the
same factory to uvicorn. Models load in the background after start: ``/healthz`` answers at once,
``/readyz`` only once every model loaded and warmed (a request that arrives before waits for its
model).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

from fastapi import Depends, FastAPI

from molops._version import __version__
from molops.serving import errors, log_sink, routes_ops, routes_v1, v2
from molops.serving.auth import ROLES, requirement
from molops.serving.fast_predict import FastPredict
from molops.serving.models import log
from molops.serving.observe import Observe
from molops.serving.pipeline import Pipeline, ServiceContext


def create_app(ctx: ServiceContext, *, freeze_heap: bool = False) -> FastAPI:
    """The app; *freeze_heap* (a worker process of its own) takes what is alive once the models
    loaded out of the garbage collector's full collections (see :func:`load_models`)."""
    app = FastAPI(
        title="molops",
        version=__version__,
        summary="Predictions with uncertainty and applicability domain from molops' registered models.",
        lifespan=lifespan,
        strict_content_type=False,  # v2 clients (tritonclient) send JSON bodies without a content type
        responses=errors.ERRORS,
    )
    pipeline = Pipeline(ctx)
    app.state.ctx, app.state.pipeline, app.state.keys = ctx, pipeline, ctx.keys
    app.state.freeze_heap = freeze_heap
    app.add_middleware(FastPredict, service=app)  # inside Observe: ids, limits, metrics, log as for any route
    app.add_middleware(Observe, metrics=ctx.metrics, max_body_bytes=ctx.settings.max_body_bytes)
    errors.install(app, ctx.metrics)
    app.openapi = partial(openapi, app)  # type: ignore[method-assign]  # FastAPI's documented way to customise the schema
    app.include_router(routes_v1.router)
    app.include_router(routes_ops.router)
    app.include_router(v2.router(pipeline, Depends(requirement("read"))))
    return app


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the models, follow their aliases and run the monitoring checks while the app serves;
    on shutdown stop those tasks and flush the prediction log."""
    ctx: ServiceContext = app.state.ctx
    settings, models = ctx.settings, ctx.models
    ctx.spawn(load_models(ctx, freeze=app.state.freeze_heap))
    if settings.poll_s > 0:
        ctx.spawn(models.watch(settings.poll_s))
    if ctx.monitor is not None and settings.monitor_interval_s > 0:
        ctx.spawn(monitor_forever(ctx, *turns(settings.monitor_interval_s, ctx.processes)))
    log.info("service started", extra={"event": "started", "models": list(models.models)})
    try:
        yield
    finally:
        for task in list(ctx._tasks):
            task.cancel()
        await asyncio.gather(*ctx._tasks, return_exceptions=True)
        await models.stop()
        if ctx.writer is not None:
            await asyncio.to_thread(ctx.writer.close)
            log.info("prediction log flushed", extra={"event": "stopped", "rows": ctx.writer.written})
        await asyncio.to_thread(log_sink.drain)  # every access line out before the process may end


async def load_models(ctx: ServiceContext, *, freeze: bool) -> None:
    """Load every model; then, with *freeze*, move every object alive now (modules, the models) out of
    the collector's reach. A full collection otherwise walks them all, a pause of tens of
    milliseconds in the middle of whichever requests are in flight (the p99); after ``gc.freeze``
    it walks only what requests allocate. Only for a process that is a worker and nothing else:
    frozen objects are never collected."""
    await ctx.models.load_all()
    if freeze:
        gc.collect()
        gc.freeze()


def turns(interval_s: float, processes: int) -> tuple[float, float]:
    """(seconds to the first run, seconds between runs) of one process's share of a periodic job
    that the service needs once per *interval_s*: a prediction-log commit, the monitoring checks.

    Every worker would do the same job (read the same log; commit at a CPU cost that does not
    shrink with the rows), so N workers each running it every *interval_s* did it N times. Each
    now runs it every N × *interval_s*, the first time at a random point of that span, so the
    service runs it about once per *interval_s* and the workers do not all start together.
    """
    every_s = interval_s * max(1, processes)
    return (every_s * random.random() if processes > 1 else every_s), every_s


async def monitor_forever(ctx: ServiceContext, first_s: float, every_s: float) -> None:
    """Run the monitoring checks of every served model after *first_s*, then every *every_s*;
    /metrics exports them."""
    assert ctx.monitor is not None
    wait_s = first_s
    while True:
        await asyncio.sleep(wait_s)
        wait_s = every_s
        for name in ctx.models.models:
            try:
                checks = await asyncio.to_thread(ctx.monitor, name)
            except Exception as exc:  # a failed run is counted and logged; serving goes on
                ctx.metrics.monitor_runs.labels(name, "failed").inc()
                log.warning(
                    "monitoring failed", extra={"event": "monitor_failed", "model": name, "error": str(exc)}
                )
                continue
            ctx.metrics.observe_monitor(name, checks)


def openapi(app: FastAPI) -> dict[str, Any]:
    """The schema, with this service's configured limits and who may call each operation.

    An operation that needs a key names its role (the scope of its security requirement) again in
    ``x-required-role`` and its description; a service without keys (loopback only) declares no
    security, since it asks for none.
    """
    if app.openapi_schema is not None:
        return app.openapi_schema
    ctx: ServiceContext = app.state.ctx
    schema = FastAPI.openapi(app)
    _limits(schema["components"]["schemas"], ctx.settings.max_molecules, ctx.settings.max_smiles_length)
    _served_names(schema, list(ctx.models.models))
    for operation in (op for ops in schema["paths"].values() for op in ops.values()):
        needs = operation.get("security", [])
        roles = {role for need in needs for scopes in need.values() for role in scopes}
        if not roles:
            continue
        role = max(roles, key=ROLES.__getitem__)
        operation["x-required-role"] = role
        text = f"Needs an API key with role `{role}` or above (`admin` may do everything `read` may)."
        operation["description"] = f"{operation.get('description', '')}\n\n{text}".strip()
        if not ctx.keys.enabled:
            del operation["security"]
    if not ctx.keys.enabled:
        schema["components"].pop("securitySchemes", None)
    app.openapi_schema = schema
    return schema


def _served_names(schema: dict[str, Any], names: list[str]) -> None:
    """Name the served models where a request names one (/v1's ``model``, /v2's ``{name}``): the set
    is fixed for the life of the process, and any other name is answered 404."""
    if not names:
        return
    model = schema["components"]["schemas"]["PredictRequest"]["properties"]["model"]
    for branch in model.get("anyOf", [model]):
        if branch.get("type") == "string":
            branch["enum"] = names
    for path, operations in schema["paths"].items():
        if not path.startswith("/v2/models/{name}"):
            continue
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] == "name":
                    parameter["schema"]["enum"] = names


def _limits(components: dict[str, Any], max_molecules: int, max_length: int) -> None:
    """Write the molecule and SMILES-length limits into the request schemas (/v1 and /v2), so that a
    request the schema allows is within the limits (a nested v2 tensor can still exceed them: 413)."""

    def bound(node: dict[str, Any]) -> None:
        for branch in node.get("anyOf", []):
            bound(branch)
        if node.get("type") == "array":
            node["maxItems"] = max_molecules
            bound(node.setdefault("items", {}))
        elif node.get("type") == "string":
            node["maxLength"] = max_length

    bound(components["PredictRequest"]["properties"]["smiles"])
    tensor = components.get("SmilesTensor", {}).get("properties", {}).get("data")
    if tensor is not None:
        bound(tensor)
