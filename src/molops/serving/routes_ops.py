"""The routes for the orchestrator and Prometheus: liveness, readiness, metrics (open to anyone)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from molops.serving import schemas
from molops.serving.deps import Service

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=schemas.Health, response_model_exclude_none=True,
            summary="Liveness: the process answers.")  # fmt: skip
async def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=schemas.Health,
    summary="Readiness: every served model is loaded.",
    responses={503: {"model": schemas.Health, "description": "A model is loading or could not be loaded."}},
)
async def readyz(ctx: Service) -> JSONResponse:
    status, body = ctx.readiness()
    return JSONResponse(body, status_code=status)


@router.get(
    "/metrics",
    summary="Prometheus metrics.",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def prometheus(ctx: Service) -> Response:
    if ctx.writer is not None:
        ctx.metrics.log_pending.set(ctx.writer.pending)
    return Response(ctx.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
