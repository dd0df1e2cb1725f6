"""molops' own ``/v1`` API: predictions, their per-atom explanations, the served models, and asking
for a reload (admin).

The routes translate bodies around the :class:`~molops.serving.pipeline.Pipeline`; who may call
them is the ``requirement`` dependency (documented per operation as security and ``x-required-role``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from molops.explain import ExplainError, check_explainable, draw_svg, explain
from molops.serving import schemas, v2
from molops.serving.auth import Caller, checked_caller, requirement
from molops.serving.batching import Columns
from molops.serving.deps import Predictions, Service
from molops.serving.errors import V1_BODY_ERRORS, ApiError
from molops.serving.models import Loaded, ServedModel
from molops.serving.pipeline import Pipeline
from molops.tracking.bundle import ModelBundle

Reader = Annotated[Caller, Depends(requirement("read"))]
Admin = Annotated[Caller, Depends(requirement("admin"))]


async def json_body(request: Request) -> None:
    """415 for a body sent as anything but JSON (text/plain, a form): FastAPI would otherwise hand its
    bytes to validation and answer a puzzling 422. A body without a Content-Type is read as JSON."""
    content_type = request.headers.get("content-type")
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    if content_type is None or not has_body:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    if kind == "application" and (subtype == "json" or subtype.endswith("+json")):
        return
    raise ApiError(
        415,
        "unsupported_media_type",
        f"the body is sent as {media or 'an empty Content-Type'!r}; {request.url.path} accepts only a "
        "JSON body (Content-Type: application/json)",
    )


#: Authentication first, then the media type (dependencies run in this order, before the body is validated).
READ_JSON = [Depends(requirement("read")), Depends(json_body)]
router = APIRouter(prefix="/v1", tags=["v1"])


@router.post(
    "/predict",
    response_model=schemas.PredictResponse,
    summary="Predict mean, std and applicability for each SMILES (one result per input, in order).",
    dependencies=READ_JSON,
    responses=V1_BODY_ERRORS,
)
async def predict(request: Request, body: schemas.PredictRequest) -> JSONResponse:
    # the caller and the pipeline without dependencies of their own: 6 dependency solves a request
    # instead of 11, the largest per-request cost of the ASGI stack (docs/benchmarks.md, issue 19)
    pipeline: Pipeline = request.app.state.pipeline
    frame, loaded = await pipeline.predict(request, body.smiles, body.model, checked_caller(request))
    return predict_answer(request.scope["state"]["request_id"], body.smiles, frame, loaded)


def predict_answer(request_id: str, smiles: list[str], frame: Columns, loaded: Loaded) -> JSONResponse:
    """The ``/v1/predict`` answer: one result per input SMILES, in order (the FastAPI route's and the
    fast path's, ``serving/fast_predict.py``)."""
    threshold = loaded.bundle.reference.domain_threshold
    columns = ("canonical_smiles", "inchikey", "mean", "std", "similarity", "in_domain", "error")
    results = [
        {
            "smiles": text,
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
        for text, parent, key, mean, std, similar, in_domain, error in zip(
            smiles, *(frame[c] for c in columns), strict=True
        )
    ]
    return JSONResponse({"request_id": request_id, "results": results})


@router.post(
    "/explain",
    response_model=schemas.ExplainResponse,
    summary="Explain the prediction for each SMILES atom by atom (one result per input, in order).",
    dependencies=READ_JSON,
    responses=V1_BODY_ERRORS,
)
async def explain_route(
    request: Request,
    body: schemas.PredictRequest,
    caller: Reader,
    pipeline: Predictions,
    svg: Annotated[
        bool, Query(description="Also answer each molecule's similarity map as SVG text.")
    ] = False,
) -> JSONResponse:
    """The body is /v1/predict's (SMILES, at most `max_molecules`, and the model); each molecule costs
    one prediction per atom for models explained by masking."""
    state = request.scope["state"]
    state["molecules"] = len(body.smiles)
    pipeline.check(body.smiles)
    served = await pipeline.served(body.model)
    loaded = served.current
    assert loaded is not None  # served() answers only with a loaded model
    state["model"], state["model_version"] = loaded.name, loaded.version
    try:
        check_explainable(loaded.bundle)
    except ExplainError as exc:
        raise ApiError(422, "not_explainable", str(exc)) from None  # the sentence names the model
    # standardising, featurising and one prediction per atom: the thread pool's work, not the loop's
    found = await asyncio.to_thread(_explained, served, loaded.bundle, body.smiles, svg)
    results = [
        {
            **{key: v2.clean(value) if isinstance(value, float) else value for key, value in item.items()},
            "model_name": loaded.name,
            "model_version": loaded.version,
        }
        for item in found
    ]
    return JSONResponse({"request_id": state["request_id"], "results": results})


def _explained(
    served: ServedModel, bundle: ModelBundle, smiles: list[str], svg: bool
) -> list[dict[str, Any]]:
    """Explanations as JSON objects; molecules are prepared in the service's chemistry children when it
    has them (each with its time budget, as for a prediction), so a pathological one cannot stall it."""
    explanations = explain(bundle, smiles, served.prepare(bundle, smiles, applicability=False))
    return [e.to_dict() | {"svg": draw_svg(e) if svg and e.error is None else None} for e in explanations]


def described(ctx: Service) -> dict[str, Any]:
    """The served models, each with its shadow or canary (None when it has none)."""
    models, answer = ctx.models, []
    for name, served in models.models.items():
        info = served.describe()
        shadow = models.shadows.get(name)
        info["shadow"] = (
            shadow.describe() | {"mode": models.shadow_mode, "share": models.shadow_share} if shadow else None
        )
        answer.append(info)
    return {"models": answer}


@router.get("/models", response_model=schemas.ModelsResponse, summary="The served models and their versions.")
async def list_models(caller: Reader, ctx: Service) -> dict[str, Any]:
    return described(ctx)


@router.post(
    "/models/reload",
    response_model=schemas.ModelsResponse,
    summary="Ask the registry now whether a served alias moved (admin); swaps like the periodic check.",
    dependencies=[Depends(requirement("admin")), Depends(json_body)],
    responses={415: V1_BODY_ERRORS[415]},
)
async def reload(caller: Admin, ctx: Service) -> dict[str, Any]:
    models = ctx.models
    for served in [*models.models.values(), *models.shadows.values()]:
        await asyncio.to_thread(models.refresh, served)
    return described(ctx)
