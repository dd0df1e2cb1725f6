"""The Open Inference Protocol (KServe v2, as Triton speaks it) over molops models, JSON tensors only.

Input: one tensor ``smiles`` (BYTES, shape ``[n]`` or ``[n, 1]``). Outputs: ``mean``, ``std``,
``similarity`` (FP64; null where a molecule has no prediction), ``in_domain`` (BOOL),
``canonical_smiles``, ``inchikey`` and ``error`` (BYTES; empty when fine).
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.params import Depends
from fastapi.responses import JSONResponse, Response

from molops._version import __version__
from molops.serving import schemas
from molops.serving.auth import Caller
from molops.serving.errors import V2_ERRORS, ApiError
from molops.serving.models import ServedModel
from molops.serving.pipeline import Pipeline

#: Output tensors: name → (column of the prediction table, datatype).
V2_OUTPUTS = {
    "mean": ("mean", "FP64"),
    "std": ("std", "FP64"),
    "similarity": ("similarity", "FP64"),
    "in_domain": ("in_domain", "BOOL"),
    "canonical_smiles": ("canonical_smiles", "BYTES"),
    "inchikey": ("inchikey", "BYTES"),
    "error": ("error", "BYTES"),
}


def clean(value: Any) -> Any:
    """NaN → None (JSON has no NaN)."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _flatten(data: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item) if isinstance(item, list) else [item])
    return flat


def _value(value: Any, datatype: str) -> Any:
    value = clean(value)
    if datatype == "BYTES":
        return "" if value is None else str(value)
    if datatype == "BOOL":
        return bool(value) if value is not None else False
    return value


def router(pipeline: Pipeline, reader: Depends) -> APIRouter:
    """The ``/v2`` routes, answering through *pipeline*, guarded by the *reader* dependency."""
    api = APIRouter()
    models, ctx = pipeline.models, pipeline.ctx

    def served(name: str) -> ServedModel:
        found = models.models.get(name)
        if found is None:
            names = ", ".join(models.models) or "none"
            raise ApiError(404, "unknown_model", f"model {name!r} is not served here; served models: {names}")
        return found

    @api.get("/v2", response_model=schemas.ServerMetadata, summary="v2 server metadata.")
    async def server() -> dict[str, Any]:
        return {"name": "molops", "version": __version__, "extensions": []}

    @api.get("/v2/health/live", summary="v2 liveness (200, empty body).", response_class=Response)
    async def live() -> Response:
        return Response(status_code=200)

    @api.get("/v2/health/ready", summary="v2 readiness (200 or 503, empty body).", response_class=Response)
    async def ready() -> Response:
        return Response(status_code=ctx.readiness()[0])

    @api.get("/v2/models/{name}", response_model=schemas.ModelMetadata, summary="v2 model metadata.",
             responses=V2_ERRORS)  # fmt: skip
    async def metadata(name: str, caller: Caller = reader) -> dict[str, Any]:
        found = served(name)
        return {
            "name": name,
            "versions": [str(found.current.version)] if found.current else [],
            "platform": "molops",
            "inputs": [{"name": "smiles", "datatype": "BYTES", "shape": [-1]}],
            "outputs": [{"name": out, "datatype": dt, "shape": [-1]} for out, (_, dt) in V2_OUTPUTS.items()],
        }

    @api.get("/v2/models/{name}/ready", summary="v2 model readiness (200 or 503).", response_class=Response,
             responses=V2_ERRORS)  # fmt: skip
    async def model_ready(name: str, caller: Caller = reader) -> Response:
        return Response(status_code=200 if served(name).current is not None else 503)

    @api.post("/v2/models/{name}/infer", response_model=schemas.InferResponse,
              summary="v2 inference (JSON tensors).", responses=V2_ERRORS)  # fmt: skip
    async def infer(
        request: Request, name: str, body: schemas.InferRequest, caller: Caller = reader
    ) -> JSONResponse:
        if "inference-header-content-length" in request.headers:
            raise ApiError(
                400, "binary_not_supported", "binary tensor data is not supported; send JSON tensors"
            )
        smiles = _flatten(body.inputs[0].data)
        wanted = [o.name for o in body.outputs] if body.outputs else list(V2_OUTPUTS)
        served(name)
        frame, loaded = await pipeline.predict(request, smiles, name, caller)
        outputs = [
            {
                "name": out,
                "datatype": V2_OUTPUTS[out][1],
                "shape": [len(smiles)],
                "data": [_value(v, V2_OUTPUTS[out][1]) for v in frame[V2_OUTPUTS[out][0]]],
            }
            for out in wanted
        ]
        answer = {
            "model_name": loaded.name,
            "model_version": str(loaded.version),
            "id": body.id,
            "outputs": outputs,
        }
        return JSONResponse(answer)

    return api
