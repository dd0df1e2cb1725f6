"""The FastAPI application: molops' ``/v1`` API, the Open Inference Protocol ``/v2``, health and metrics.

:func:`create_app` builds one app from a :class:`~molops.serving.pipeline.ServiceContext` (models,
keys, limits, log), so tests build it in-process and ``molops serve`` hands the same factory to
uvicorn. Models load in the background after start: ``/healthz`` answers at once, ``/readyz``
only once every model loaded (a request that arrives before waits for its model).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from molops._version import __version__
from molops.serving import errors, schemas, v2
from molops.serving.auth import Caller, requirement
from molops.serving.models import log
from molops.serving.observe import Observe
from molops.serving.pipeline import Pipeline, ServiceContext


def create_app(ctx: ServiceContext) -> FastAPI:
    settings, models, metrics = ctx.settings, ctx.models, ctx.metrics
    pipeline = Pipeline(ctx)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        ctx.spawn(models.load_all())
        if settings.poll_s > 0:
            ctx.spawn(models.watch(settings.poll_s))
        if ctx.monitor is not None and settings.monitor_interval_s > 0:
            ctx.spawn(monitor_forever(settings.monitor_interval_s))
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

    async def monitor_forever(every_s: float) -> None:
        """Run the monitoring checks of every served model now and then; /metrics exports them."""
        assert ctx.monitor is not None
        while True:
            await asyncio.sleep(every_s)
            for name in models.models:
                try:
                    checks = await asyncio.to_thread(ctx.monitor, name)
                except Exception as exc:  # a failed run is counted and logged; serving goes on
                    metrics.monitor_runs.labels(name, "failed").inc()
                    log.warning(
                        "monitoring failed",
                        extra={"event": "monitor_failed", "model": name, "error": str(exc)},
                    )
                    continue
                metrics.observe_monitor(name, checks)

    app = FastAPI(
        title="molops",
        version=__version__,
        summary="Predictions with uncertainty and applicability domain from molops' registered models.",
        lifespan=lifespan,
        strict_content_type=False,  # v2 clients (tritonclient) send JSON bodies without a content type
        responses=errors.ERRORS,
    )
    app.add_middleware(Observe, metrics=metrics, max_body_bytes=settings.max_body_bytes)
    errors.install(app, metrics)

    def openapi() -> dict[str, Any]:
        """The schema, with this service's configured limits on molecules per request and SMILES length."""
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            smiles = schema["components"]["schemas"]["PredictRequest"]["properties"]["smiles"]
            smiles["maxItems"] = settings.max_molecules
            smiles["items"]["maxLength"] = settings.max_smiles_length
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
    reader, admin = Depends(requirement(ctx.keys, "read")), Depends(requirement(ctx.keys, "admin"))

    @app.post(
        "/v1/predict",
        response_model=schemas.PredictResponse,
        summary="Predict mean, std and applicability for each SMILES (one result per input, in order).",
    )
    async def predict(
        request: Request, body: schemas.PredictRequest, caller: Caller = reader
    ) -> JSONResponse:
        frame, loaded = await pipeline.predict(request, body.smiles, body.model, caller)
        threshold = loaded.bundle.reference.domain_threshold
        columns = ("canonical_smiles", "inchikey", "mean", "std", "similarity", "in_domain", "error")
        results = [
            {
                "smiles": smiles,
                "canonical_smiles": parent,
                "inchikey": key,
                "mean": v2.clean(mean),
                "std": v2.clean(std),
                "applicability": {
                    "similarity": v2.clean(similar),
                    "in_domain": in_domain,
                    "threshold": threshold,
                },
                "model_name": loaded.name,
                "model_version": loaded.version,
                "error": error,
            }
            for smiles, parent, key, mean, std, similar, in_domain, error in zip(
                body.smiles, *(frame[c] for c in columns), strict=True
            )
        ]
        return JSONResponse({"request_id": request.scope["state"]["request_id"], "results": results})

    @app.get(
        "/v1/models", response_model=schemas.ModelsResponse, summary="The served models and their versions."
    )
    async def list_models(caller: Caller = reader) -> dict[str, Any]:
        described = []
        for name, served in models.models.items():
            info = served.describe()
            shadow = models.shadows.get(name)
            info["shadow"] = (
                shadow.describe() | {"mode": models.shadow_mode, "share": models.shadow_share}
                if shadow
                else None
            )
            described.append(info)
        return {"models": described}

    @app.post(
        "/v1/models/reload",
        response_model=schemas.ModelsResponse,
        summary="Ask the registry now whether a served alias moved (admin); swaps like the periodic check.",
    )
    async def reload(caller: Caller = admin) -> dict[str, Any]:
        for served in [*models.models.values(), *models.shadows.values()]:
            await asyncio.to_thread(models.refresh, served)
        return await list_models(caller)

    @app.get("/healthz", response_model=schemas.Health, response_model_exclude_none=True,
             summary="Liveness: the process answers.")  # fmt: skip
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/readyz", response_model=schemas.Health, summary="Readiness: every served model is loaded.")
    async def readyz() -> JSONResponse:
        status, body = ctx.readiness()
        return JSONResponse(body, status_code=status)

    @app.get("/metrics", summary="Prometheus metrics.", response_class=Response)
    async def prometheus() -> Response:
        if ctx.writer is not None:
            metrics.log_pending.set(ctx.writer.pending)
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(v2.router(pipeline, reader))
    return app
