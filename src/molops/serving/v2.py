"""The Open Inference Protocol (KServe v2, as Triton speaks it) over molops models.

Input: one tensor ``smiles`` (BYTES, any shape whose size is the number of SMILES, e.g. ``[n]`` or
``[n, 1]``). Outputs: ``mean``, ``std``, ``similarity`` (FP64; null, or NaN in binary, where a
molecule has no prediction), ``in_domain`` (BOOL), ``canonical_smiles``, ``inchikey`` and ``error``
(BYTES; empty when fine), each of shape ``[n]``.

Tensors travel as JSON or with the binary tensor data extension (``Inference-Header-Content-Length``,
see :mod:`molops.serving.v2_binary`), which tritonclient uses by default: the SMILES may come as
binary data, and an output is binary when it asks for ``binary_data`` (or the request for
``binary_data_output``). ``/v2/models/{name}/versions/{v}/...`` pins the version that answers: the
served alias's, or its shadow's or canary's; any other version is a 404 naming those served.
Errors take the protocol's form, ``{"error": "..."}`` (see ``errors.install``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope

from molops._version import __version__
from molops.serving import schemas, v2_binary
from molops.serving.auth import Caller
from molops.serving.batching import Columns
from molops.serving.errors import V2_ERRORS, ApiError
from molops.serving.models import Loaded, ServedModel
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
#: Where a request's binary data (the body after its JSON header) waits for the route, in the scope.
_BINARY = "molops.v2_binary"
_INFER_SUMMARY = (
    "v2 inference: JSON tensors, or the binary tensor data extension (a JSON header of "
    "Inference-Header-Content-Length bytes, then the tensors' bytes)."
)


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


def _bad(message: str) -> ApiError:
    return ApiError(400, "invalid_tensor", message)


class BinaryBodyRoute(APIRoute):
    """A route whose body may follow the binary tensor data extension: the JSON header is cut off
    before FastAPI reads the body (what follows it is not JSON) and is the body it validates, whatever
    content type the client sent (tritonclient sends ``application/octet-stream`` or none); the
    binary data waits in the scope for the route."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def split_body(request: Request) -> Response:
            encoding = request.headers.get("content-encoding", "identity").strip().lower()
            if encoding != "identity":
                raise _bad(f"the body is compressed ({encoding}); send it uncompressed")
            try:
                body = await request.body()
            except ClientDisconnect:  # gone, or refused mid-stream as too large (already answered 413)
                raise _bad("the body did not arrive whole; the client went away") from None
            try:
                header, data = v2_binary.split(body, request.headers.get(v2_binary.HEADER))
            except v2_binary.BinaryError as exc:
                raise _bad(str(exc)) from None
            headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
            scope = {**request.scope, "headers": [*headers, (b"content-type", b"application/json")]}
            scope[_BINARY] = data
            return await handler(_JsonHeader(scope, request.receive, header))

        return split_body


class _JsonHeader(Request):
    """The request as FastAPI reads it: its body is the JSON header alone."""

    def __init__(self, scope: Scope, receive: Receive, header: bytes) -> None:
        super().__init__(scope, receive)
        self._header = header

    async def body(self) -> bytes:
        return self._header


def _smiles(tensor: schemas.SmilesTensor, data: bytes) -> list[str]:
    """The SMILES of the input tensor, from its JSON data or from the request's binary data."""
    parameters = tensor.parameters or {}
    if "shared_memory_region" in parameters:
        raise _bad("input 'smiles' is in shared memory; send its data in the body (JSON or binary)")
    size = parameters.get("binary_data_size")
    if size is None:
        _take(data, [])  # binary data that no input declares is an error, not ignored
        if tensor.data is None:
            raise _bad("input 'smiles' has no data; send 'data' or binary data with binary_data_size")
        items: list[Any] = _flatten(tensor.data)
    else:
        if tensor.data is not None:
            raise _bad("input 'smiles' has both 'data' and binary_data_size; send one of them")
        if not isinstance(size, int) or isinstance(size, bool):
            raise _bad(f"input 'smiles' has binary_data_size {size!r}; expected a whole number of bytes")
        (blob,) = _take(data, [("smiles", size)])
        try:
            raw = v2_binary.decode_bytes(blob, "smiles")
        except v2_binary.BinaryError as exc:
            raise _bad(str(exc)) from None
        items = []
        for i, item in enumerate(raw):
            try:
                items.append(item.decode())
            except UnicodeDecodeError:
                raise _bad(f"input 'smiles' element {i} is not UTF-8 text; expected a SMILES") from None
    shape = tensor.shape
    if any(d < 0 for d in shape):
        raise _bad(f"input 'smiles' has shape {shape}; a request's shape has no negative sizes")
    if math.prod(shape) != len(items):
        raise _bad(
            f"input 'smiles' has shape {shape} ({math.prod(shape)} elements) but {len(items)} "
            "elements of data; expected a shape whose size is the number of SMILES"
        )
    return items


def _take(data: bytes, sizes: list[tuple[str, int]]) -> list[bytes]:
    try:
        return v2_binary.take(data, sizes)
    except v2_binary.BinaryError as exc:
        raise _bad(str(exc)) from None


def _flag(parameters: dict[str, Any], key: str, default: bool, where: str) -> bool:
    value = parameters.get(key, default)
    if not isinstance(value, bool):
        raise _bad(f"{where} parameter {key!r} is {value!r}; expected true or false")
    return value


def _outputs(body: schemas.InferRequest) -> list[tuple[str, bool]]:
    """The outputs asked for, each with whether it is answered as binary data."""
    default = _flag(body.parameters or {}, "binary_data_output", False, "the request's")
    if not body.outputs:
        return [(name, default) for name in V2_OUTPUTS]
    wanted: list[tuple[str, bool]] = []
    for out in body.outputs:
        parameters = out.parameters or {}
        if parameters.get("classification"):
            raise _bad(f"output {out.name!r} asks for classification; molops models answer regressions")
        if "shared_memory_region" in parameters:
            raise _bad(f"output {out.name!r} asks for shared memory; outputs are answered in the body")
        wanted.append((out.name, _flag(parameters, "binary_data", default, f"output {out.name!r}")))
    return wanted


def _answer(
    body: schemas.InferRequest, frame: Columns, loaded: Loaded, n: int, wanted: list[tuple[str, bool]]
) -> Response:
    """JSON, or a JSON header and the binary outputs' bytes after it when any output is binary."""
    outputs, blobs = [], []
    for name, binary in wanted:
        column, datatype = V2_OUTPUTS[name]
        values = [_value(v, datatype) for v in frame[column]]
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": [n]}
        if binary:
            blobs.append(v2_binary.encode(values, datatype))
            tensor["parameters"] = {"binary_data_size": len(blobs[-1])}
        else:
            tensor["data"] = values
        outputs.append(tensor)
    answer = {
        "model_name": loaded.name,
        "model_version": str(loaded.version),
        "id": body.id,
        "outputs": outputs,
    }
    if not blobs:
        return JSONResponse(answer)
    header = json.dumps(answer, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    return Response(
        header + b"".join(blobs),
        media_type="application/octet-stream",
        headers={v2_binary.HEADER: str(len(header))},
    )


def router(pipeline: Pipeline, reader: Any) -> APIRouter:
    """The ``/v2`` routes, answering through *pipeline*, guarded by *reader* (a ``Depends`` that
    yields the :class:`Caller`; typed ``Any`` because it stands as the routes' parameter default)."""
    api = APIRouter()
    models, ctx = pipeline.models, pipeline.ctx

    def served(name: str) -> ServedModel:
        found = models.models.get(name)
        if found is None:
            names = ", ".join(models.models) or "none"
            raise ApiError(404, "unknown_model", f"model {name!r} is not served here; served models: {names}")
        return found

    def metadata_of(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "versions": [str(v) for v in sorted(pipeline.versions(name))],
            "platform": "molops",
            "inputs": [{"name": "smiles", "datatype": "BYTES", "shape": [-1]}],
            "outputs": [{"name": out, "datatype": dt, "shape": [-1]} for out, (_, dt) in V2_OUTPUTS.items()],
        }

    async def infer(
        request: Request, name: str, version: str | None, body: schemas.InferRequest, caller: Caller
    ) -> Response:
        served(name)  # an unknown model is a 404 whatever the tensors, as in Triton
        (tensor,) = body.inputs
        smiles = _smiles(tensor, request.scope.get(_BINARY, b""))
        wanted = _outputs(body)
        frame, loaded = await pipeline.predict(request, smiles, name, caller, version)
        return _answer(body, frame, loaded, len(smiles), wanted)

    @api.get("/v2", response_model=schemas.ServerMetadata, summary="v2 server metadata.")
    async def server() -> dict[str, Any]:
        return {"name": "molops", "version": __version__, "extensions": ["binary_tensor_data"]}

    @api.get("/v2/health/live", summary="v2 liveness (200, empty body).", response_class=Response)
    async def live() -> Response:
        return Response(status_code=200)

    @api.get("/v2/health/ready", summary="v2 readiness (200 or 503, empty body).", response_class=Response)
    async def ready() -> Response:
        return Response(status_code=ctx.readiness()[0])

    @api.get("/v2/models/{name}", response_model=schemas.ModelMetadata, summary="v2 model metadata.",
             responses=V2_ERRORS)  # fmt: skip
    async def metadata(name: str, caller: Caller = reader) -> dict[str, Any]:
        served(name)
        return metadata_of(name)

    @api.get("/v2/models/{name}/versions/{version}", response_model=schemas.ModelMetadata,
             summary="v2 model metadata (the version must be served).", responses=V2_ERRORS)  # fmt: skip
    async def version_metadata(name: str, version: str, caller: Caller = reader) -> dict[str, Any]:
        pipeline.pinned(served(name), version)
        return metadata_of(name)

    @api.get("/v2/models/{name}/ready", summary="v2 model readiness (200 or 503).", response_class=Response,
             responses=V2_ERRORS)  # fmt: skip
    async def model_ready(name: str, caller: Caller = reader) -> Response:
        return Response(status_code=200 if served(name).current is not None else 503)

    @api.get("/v2/models/{name}/versions/{version}/ready", response_class=Response, responses=V2_ERRORS,
             summary="v2 readiness of a model version (200, or 404 for a version not served).")  # fmt: skip
    async def version_ready(name: str, version: str, caller: Caller = reader) -> Response:
        pipeline.pinned(served(name), version)  # a served version is a loaded one
        return Response(status_code=200)

    async def model_infer(
        request: Request, name: str, body: schemas.InferRequest, caller: Caller = reader
    ) -> Response:
        return await infer(request, name, None, body, caller)

    async def version_infer(
        request: Request,
        name: str,
        version: str,
        body: schemas.InferRequest,
        caller: Caller = reader,
    ) -> Response:
        return await infer(request, name, version, body, caller)

    for path, endpoint, summary in (
        ("/v2/models/{name}/infer", model_infer, _INFER_SUMMARY),
        ("/v2/models/{name}/versions/{version}/infer", version_infer, _INFER_SUMMARY + " Pins the version."),
    ):
        api.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            response_model=schemas.InferResponse,
            summary=summary,
            responses=V2_ERRORS,
            route_class_override=BinaryBodyRoute,
        )
    return api
