"""The service's errors: always JSON with a code and one sentence (on ``/v2``, the protocol's form)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from molops.serving import schemas
from molops.serving.metrics import Metrics
from molops.serving.models import log


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", "request_id"}}`` with *status*."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _documented(model: type, texts: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": model, "description": text} for status, text in texts.items()}


_TEXTS = {
    401: "Missing or unknown API key.",
    403: "The key's role may not do this.",
    404: "No such route or served model.",
    413: "Too many molecules or too large a body.",
    503: "The model is loading or could not be loaded.",
    504: "The molecules exceeded their time budget.",
}
#: Error responses every route documents (the OpenAPI schema; schemathesis checks them).
ERRORS = _documented(
    schemas.ErrorBody,
    {400: "A v2 request whose tensors cannot be used.", 422: "The request does not match the schema."}
    | _TEXTS,
)
#: On ``/v2`` routes errors take the protocol's form, ``{"error": "..."}``, with 400 for a bad request.
V2_ERRORS = _documented(schemas.V2Error, {400: "The request cannot be used."} | _TEXTS)
#: What a ``/v1`` route with a JSON body adds: the molecule limit and the one accepted media type.
V1_BODY_ERRORS = _documented(
    schemas.ErrorBody,
    {
        413: "More molecules than `max_molecules`, or a body over `max_body_bytes`.",
        415: "The body is not sent as JSON: send `Content-Type: application/json`.",
    },
)


def error_response(
    request: Request,
    metrics: Metrics,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The answer to an error of *request*, counted by route and code and noted for the access log
    (the exception handlers' and the ``/v1/predict`` fast path's, so both answer alike)."""
    request_id = request.scope.get("state", {}).get("request_id")
    request.scope.setdefault("state", {})["error"] = code
    metrics.errors.labels(getattr(request.scope.get("route"), "path", "unmatched"), code).inc()
    if request.url.path.startswith("/v2/"):  # the protocol's own form: 400 and {"error": "..."}
        return JSONResponse({"error": message}, status_code=400 if status == 422 else status, headers=headers)
    body = {"error": {"code": code, "message": message, "request_id": request_id}}
    return JSONResponse(body, status_code=status, headers=headers)


def install(app: FastAPI, metrics: Metrics) -> None:
    """Answer every error of *app* as JSON, counted by route and code."""

    def answer(
        request: Request, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> JSONResponse:
        return error_response(request, metrics, status, code, message, headers)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return answer(request, exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        if first.get("type") == "json_invalid":  # its loc is ("body", character offset)
            offset = (first.get("loc") or ("body", "?"))[-1]
            detail = (first.get("ctx") or {}).get("error", "invalid JSON")
            message = f"body: not valid JSON ({detail} at character {offset}); expected a JSON object"
            return answer(request, 422, "invalid_request", message)
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return answer(request, 422, "invalid_request", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = f"{request.method} {request.url.path}: {exc.detail}"
        if exc.status_code == 405 and exc.headers and exc.headers.get("Allow"):
            message += f"; allowed: {exc.headers['Allow']}"
        # Starlette's headers (a 405's Allow, RFC 9110) travel with the JSON answer
        return answer(request, exc.status_code, code, message, exc.headers)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"event": "error", "path": request.url.path})
        return answer(request, 500, "internal_error", f"the service failed to answer ({type(exc).__name__})")
