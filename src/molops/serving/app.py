"""The FastAPI application: molops' ``/v1`` API, the Open Inference Protocol ``/v2``, health and metrics.

:func:`create_app` builds one app from a :class:`ServiceContext` (models, keys, limits, log), so
tests build it in-process and ``molops serve`` hands the same factory to uvicorn. Models load in
the background after start: ``/healthz`` answers at once, ``/readyz`` only once every model loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException

from molops._version import __version__
from molops.config import ServeSection
from molops.data.prediction_log import LogWriter, rows_from_columns
from molops.serving import schemas
from molops.serving.auth import Caller, KeyRing, key_from_headers
from molops.serving.batching import Columns
from molops.serving.metrics import Metrics
from molops.serving.models import Loaded, ModelSet, ServedModel, log
from molops.serving.observe import Observe

#: How long a request that arrives while its model loads waits before it is answered 503.
LOAD_WAIT_S = 30.0
#: Output tensors of ``/v2/.../infer``: name → (column of the prediction table, datatype).
V2_OUTPUTS = {
    "mean": ("mean", "FP64"),
    "std": ("std", "FP64"),
    "similarity": ("similarity", "FP64"),
    "in_domain": ("in_domain", "BOOL"),
    "canonical_smiles": ("canonical_smiles", "BYTES"),
    "inchikey": ("inchikey", "BYTES"),
    "error": ("error", "BYTES"),
}


#: On ``/v2`` routes errors take the protocol's form, ``{"error": "..."}``, with 400 for a bad request.
V2_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": schemas.V2Error, "description": text}
    for status, text in {
        400: "The request cannot be used.",
        401: "Missing or unknown API key.",
        403: "The key's role may not do this.",
        404: "No such served model.",
        413: "Too many molecules or too large a body.",
        503: "The model is loading or could not be loaded.",
        504: "The molecules exceeded their time budget.",
    }.items()
}


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", "request_id"}}`` with *status*."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class ServiceContext:
    """Everything a running service holds."""

    settings: ServeSection
    models: ModelSet
    keys: KeyRing
    writer: LogWriter | None = None
    metrics: Metrics = field(default_factory=Metrics)
    #: ``monitor(model) -> checks`` (``molops monitor``'s), run every ``monitor_interval_s``
    monitor: Callable[[str], list[dict[str, Any]]] | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _clean(value: Any) -> Any:
    """NaN → None (JSON has no NaN)."""
    return None if isinstance(value, float) and math.isnan(value) else value


def create_app(ctx: ServiceContext) -> FastAPI:
    settings, models, metrics = ctx.settings, ctx.models, ctx.metrics

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        ctx.spawn(models.load_all())
        if settings.poll_s > 0:
            ctx.spawn(models.watch(settings.poll_s))
        if ctx.monitor is not None and settings.monitor_interval_s > 0:
            ctx.spawn(_monitor_forever(settings.monitor_interval_s))
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

    async def _monitor_forever(every_s: float) -> None:
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
        responses={
            400: {"model": schemas.ErrorBody, "description": "A v2 request whose tensors cannot be used."},
            401: {"model": schemas.ErrorBody, "description": "Missing or unknown API key."},
            403: {"model": schemas.ErrorBody, "description": "The key's role may not do this."},
            413: {"model": schemas.ErrorBody, "description": "Too many molecules or too large a body."},
            404: {"model": schemas.ErrorBody, "description": "No such route or served model."},
            422: {"model": schemas.ErrorBody, "description": "The request does not match the schema."},
            503: {"model": schemas.ErrorBody, "description": "The model is loading or could not be loaded."},
            504: {"model": schemas.ErrorBody, "description": "The molecules exceeded their time budget."},
        },
    )
    app.add_middleware(Observe, metrics=metrics, max_body_bytes=settings.max_body_bytes)

    def openapi() -> dict[str, Any]:
        """The schema, with this service's configured limits on molecules per request and SMILES length."""
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            smiles = schema["components"]["schemas"]["PredictRequest"]["properties"]["smiles"]
            smiles["maxItems"] = settings.max_molecules
            smiles["items"]["maxLength"] = settings.max_smiles_length
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]

    # -- errors: always JSON with a code and one sentence ------------------------------------------
    def _error(request: Request, status: int, code: str, message: str) -> JSONResponse:
        request_id = request.scope.get("state", {}).get("request_id")
        request.scope.setdefault("state", {})["error"] = code
        metrics.errors.labels(getattr(request.scope.get("route"), "path", "unmatched"), code).inc()
        if request.url.path.startswith("/v2/"):  # the protocol's own form: 400 and {"error": "..."}
            return JSONResponse({"error": message}, status_code=400 if status == 422 else status)
        return JSONResponse(
            {"error": {"code": code, "message": message, "request_id": request_id}}, status_code=status
        )

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(request, exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return _error(request, 422, "invalid_request", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = f"{request.method} {request.url.path}: {exc.detail}"
        return _error(request, exc.status_code, code, message)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"event": "error", "path": request.url.path})
        return _error(request, 500, "internal_error", f"the service failed to answer ({type(exc).__name__})")

    # -- auth ---------------------------------------------------------------------------------------
    def require(role: str) -> Callable[..., Caller]:
        def check(
            request: Request,
            authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
            x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
        ) -> Caller:
            key = key_from_headers(authorization, x_api_key)
            caller = ctx.keys.caller(key)
            if caller is None:
                raise ApiError(
                    401,
                    "unauthorized",
                    "an API key is required: send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
                    if not key
                    else "the API key is not valid",
                )
            if not KeyRing.allows(caller, role):
                raise ApiError(
                    403, "forbidden", f"key {caller.name!r} has role {caller.role!r}; this needs {role!r}"
                )
            request.scope["state"]["client"] = caller.name
            return caller

        return check

    reader, admin = Depends(require("read")), Depends(require("admin"))

    # -- predicting -----------------------------------------------------------------------------
    async def _served(name: str | None) -> ServedModel:
        """The served model a request names; a request that arrives while it loads waits for it
        (with several workers, a worker that is still loading must not turn requests away)."""
        served = models.get(name)
        if served is None:
            names = ", ".join(models.models) or "none"
            if name is None:
                raise ApiError(
                    422, "model_required", f"several models are served ({names}); name one in 'model'"
                )
            raise ApiError(404, "unknown_model", f"model {name!r} is not served here; served models: {names}")
        if served.current is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(served.settled.wait(), LOAD_WAIT_S)
        if served.current is None and served.error:
            raise ApiError(
                503, "model_unavailable", f"model {served.ref} could not be loaded: {served.error}"
            )
        if served.current is None:
            raise ApiError(503, "model_loading", f"model {served.ref} is still loading; retry shortly")
        return served

    def _check(smiles: list[str]) -> None:
        if len(smiles) > settings.max_molecules:
            raise ApiError(
                413,
                "too_many_molecules",
                f"the request has {len(smiles)} molecules; at most {settings.max_molecules} are "
                "accepted per request (max_molecules in [serve])",
            )
        for i, s in enumerate(smiles):
            if len(s) > settings.max_smiles_length:
                raise ApiError(
                    422,
                    "smiles_too_long",
                    f"smiles[{i}] has {len(s)} characters; at most {settings.max_smiles_length} are "
                    "accepted (max_smiles_length in [serve])",
                )

    async def _predict(
        request: Request, smiles: list[str], name: str | None, caller: Caller
    ) -> tuple[Columns, Loaded]:
        started = time.perf_counter()
        state = request.scope["state"]
        state["molecules"] = len(smiles)
        _check(smiles)
        served = await _served(name)
        budget = max(1.0, len(smiles) * settings.molecule_timeout_ms / 1000)
        try:
            frame, loaded = await asyncio.wait_for(served.predict(smiles), budget)
        except TimeoutError:
            raise ApiError(
                504,
                "timeout",
                f"the {len(smiles)} molecules were not predicted within their time budget of {budget:.1f} s "
                "(molecule_timeout_ms in [serve])",
            ) from None
        state["model"], state["model_version"] = loaded.name, loaded.version
        latency_ms = (time.perf_counter() - started) * 1000
        metrics.observe_predictions(loaded.name, loaded.version, frame, loaded.bundle.info.transform)
        _log(frame, loaded, state["request_id"], latency_ms, caller.name, "primary")
        shadow = models.shadow_for(served.name)
        if shadow is not None:
            ctx.spawn(_mirror(shadow, smiles, state["request_id"], caller.name))
        return frame, loaded

    def _log(
        frame: Columns, loaded: Loaded, request_id: str, latency_ms: float, client: str, role: str
    ) -> None:
        if ctx.writer is None:
            return
        ctx.writer.submit(
            rows_from_columns(
                frame,
                source="api",
                role=role,
                request_id=request_id,
                model_name=loaded.name,
                model_version=loaded.version,
                model_alias=loaded.alias,
                latency_ms=latency_ms,
                client=client,
            )
        )
        metrics.log_pending.set(ctx.writer.pending)

    async def _mirror(shadow: ServedModel, smiles: list[str], request_id: str, client: str) -> None:
        started = time.perf_counter()
        try:
            frame, loaded = await shadow.predict(smiles)
        except Exception as exc:  # a shadow never affects the answer; its failure is only logged
            log.warning("shadow prediction failed", extra={"event": "shadow_failed", "error": str(exc)})
            return
        _log(frame, loaded, request_id, (time.perf_counter() - started) * 1000, client, "shadow")

    @app.post(
        "/v1/predict",
        response_model=schemas.PredictResponse,
        summary="Predict mean, std and applicability for each SMILES (one result per input, in order).",
    )
    async def predict(
        request: Request, body: schemas.PredictRequest, caller: Caller = reader
    ) -> JSONResponse:
        frame, loaded = await _predict(request, body.smiles, body.model, caller)
        threshold = loaded.bundle.reference.domain_threshold
        columns = ("canonical_smiles", "inchikey", "mean", "std", "similarity", "in_domain", "error")
        results = [
            {
                "smiles": smiles,
                "canonical_smiles": parent,
                "inchikey": key,
                "mean": _clean(mean),
                "std": _clean(std),
                "applicability": {
                    "similarity": _clean(similar),
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
            info["shadow"] = shadow.describe() if shadow else None
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

    # -- health and metrics ---------------------------------------------------------------------
    def _readiness() -> tuple[int, dict[str, Any]]:
        if models.ready:
            return 200, {"status": "ok"}
        if models.failed:
            return 503, {"status": "failed", "detail": models.failed}
        return 503, {"status": "loading", "detail": "models are loading"}

    @app.get(
        "/healthz",
        response_model=schemas.Health,
        response_model_exclude_none=True,
        summary="Liveness: the process answers.",
    )
    async def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/readyz", response_model=schemas.Health, summary="Readiness: every served model is loaded.")
    async def readyz() -> JSONResponse:
        status, body = _readiness()
        return JSONResponse(body, status_code=status)

    @app.get("/metrics", summary="Prometheus metrics.", response_class=Response)
    async def prometheus() -> Response:
        if ctx.writer is not None:
            metrics.log_pending.set(ctx.writer.pending)
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    # -- Open Inference Protocol (v2) -------------------------------------------------------------
    @app.get("/v2", response_model=schemas.ServerMetadata, summary="v2 server metadata.")
    async def v2_server() -> dict[str, Any]:
        return {"name": "molops", "version": __version__, "extensions": []}

    @app.get("/v2/health/live", summary="v2 liveness (200, empty body).", response_class=Response)
    async def v2_live() -> Response:
        return Response(status_code=200)

    @app.get("/v2/health/ready", summary="v2 readiness (200 or 503, empty body).", response_class=Response)
    async def v2_ready() -> Response:
        return Response(status_code=_readiness()[0])

    def _v2_model(name: str) -> ServedModel:
        served = models.models.get(name)
        if served is None:
            names = ", ".join(models.models) or "none"
            raise ApiError(404, "unknown_model", f"model {name!r} is not served here; served models: {names}")
        return served

    @app.get(
        "/v2/models/{name}",
        response_model=schemas.ModelMetadata,
        summary="v2 model metadata.",
        responses=V2_ERRORS,
    )
    async def v2_metadata(name: str, caller: Caller = reader) -> dict[str, Any]:
        served = _v2_model(name)
        return {
            "name": name,
            "versions": [str(served.current.version)] if served.current else [],
            "platform": "molops",
            "inputs": [{"name": "smiles", "datatype": "BYTES", "shape": [-1]}],
            "outputs": [{"name": out, "datatype": dt, "shape": [-1]} for out, (_, dt) in V2_OUTPUTS.items()],
        }

    @app.get(
        "/v2/models/{name}/ready",
        summary="v2 model readiness (200 or 503).",
        response_class=Response,
        responses=V2_ERRORS,
    )
    async def v2_model_ready(name: str, caller: Caller = reader) -> Response:
        return Response(status_code=200 if _v2_model(name).current is not None else 503)

    @app.post(
        "/v2/models/{name}/infer",
        response_model=schemas.InferResponse,
        summary="v2 inference (JSON tensors).",
        responses=V2_ERRORS,
    )
    async def v2_infer(
        request: Request, name: str, body: schemas.InferRequest, caller: Caller = reader
    ) -> JSONResponse:
        if "inference-header-content-length" in request.headers:
            raise ApiError(
                400, "binary_not_supported", "binary tensor data is not supported; send JSON tensors"
            )
        smiles = _flatten(body.inputs[0].data)
        wanted = [o.name for o in body.outputs] if body.outputs else list(V2_OUTPUTS)
        _v2_model(name)
        frame, loaded = await _predict(request, smiles, name, caller)
        outputs = [
            {
                "name": out,
                "datatype": V2_OUTPUTS[out][1],
                "shape": [len(smiles)],
                "data": [_v2_value(v, V2_OUTPUTS[out][1]) for v in frame[V2_OUTPUTS[out][0]]],
            }
            for out in wanted
        ]
        return JSONResponse(
            {
                "model_name": loaded.name,
                "model_version": str(loaded.version),
                "id": body.id,
                "outputs": outputs,
            }
        )

    return app


def _flatten(data: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item) if isinstance(item, list) else [item])
    return flat


def _v2_value(value: Any, datatype: str) -> Any:
    value = _clean(value)
    if datatype == "BYTES":
        return "" if value is None else str(value)
    if datatype == "BOOL":
        return bool(value) if value is not None else False
    return value
