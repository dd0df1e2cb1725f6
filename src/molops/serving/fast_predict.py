"""A direct path for the common ``POST /v1/predict``: FastAPI's routing, dependency solving and body
validation were the largest cost of a one-molecule request (docs/benchmarks.md, issue 19).

:class:`FastPredict` sits just inside :class:`~molops.serving.observe.Observe` (so request ids, the
body limit, metrics and the access log are the same for both paths). It answers a request itself
only when everything FastAPI would check already holds: a known key with the ``read`` role (or no
keys configured), a JSON media type (or none), and a body that is a JSON object with a list of
strings in ``smiles`` and a string or null in ``model`` and nothing else. Any other request — every
one that FastAPI answers 4xx — goes on to the FastAPI route with its body replayed as received, so
each error keeps its one sentence, and the route keeps its OpenAPI entry. Both paths call the same
:class:`~molops.serving.pipeline.Pipeline` and build the answer with
:func:`~molops.serving.routes_v1.predict_answer`.
"""

from __future__ import annotations

import email.message
import json

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from molops.serving import routes_v1
from molops.serving.auth import API_KEY_HEADER, KeyRing
from molops.serving.errors import ApiError, error_response
from molops.serving.metrics import Metrics
from molops.serving.pipeline import Pipeline
from molops.serving.routes_v1 import predict_answer

PATH = "/v1/predict"
_BODY_KEYS = frozenset(("smiles", "model"))
_WANTED = frozenset(
    (
        b"content-type",
        b"content-length",
        b"transfer-encoding",
        API_KEY_HEADER.lower().encode(),
        b"authorization",
    )
)


def media_is_json(content_type: str | None) -> bool:
    """Whether the route's ``json_body`` check and FastAPI's body reading both take this Content-Type
    as JSON: none at all, or ``application/json`` / ``application/*+json`` (any parameters)."""
    if content_type is None or content_type == "application/json":
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    if not (kind == "application" and (subtype == "json" or subtype.endswith("+json"))):
        return False
    message = email.message.Message()  # FastAPI's own reading of the header (fastapi/routing.py)
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def parse_body(body: bytes) -> tuple[list[str], str | None] | None:
    """``(smiles, model)`` when *body* is a request FastAPI would accept as it stands; None for any
    other body (the FastAPI route then answers it, with its own error sentence)."""
    if not body:
        return None
    try:
        data = json.loads(body)  # what Starlette's Request.json() does, so both paths read the same
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return None
    if type(data) is not dict or "smiles" not in data or not _BODY_KEYS.issuperset(data):
        return None
    smiles, model = data["smiles"], data.get("model")
    if type(smiles) is not list or not all(type(s) is str for s in smiles):
        return None
    if model is not None and type(model) is not str:
        return None
    return smiles, model


class FastPredict:
    """ASGI middleware answering a well-formed, authorised ``POST /v1/predict`` without FastAPI."""

    def __init__(self, app: ASGIApp, service: FastAPI) -> None:
        self.app = app
        self.service = service
        self.route: APIRoute | None = None
        for route in routes_v1.router.routes:  # the route FastAPI puts in the scope (Observe's label)
            if isinstance(route, APIRoute) and route.path == PATH and "POST" in (route.methods or ()):
                self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or scope.get("root_path")
            or self.route is None
            or not self.service.state.ctx.fast_predict
        ):
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _WANTED and name not in headers:  # the first of repeated headers, as Starlette reads
                headers[name] = value
        state = self.service.state
        keys: KeyRing = state.keys
        caller = keys.caller(_presented_key(headers))  # anonymous when no keys are configured
        content_type = headers.get(b"content-type")
        if (
            caller is None
            or not KeyRing.allows(caller, "read")
            or not media_is_json(None if content_type is None else content_type.decode("latin-1"))
        ):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":  # the client left, or Observe refused the body (413)
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        parsed = parse_body(b"".join(chunks)) if received[-1]["type"] == "http.request" else None
        if parsed is None:
            await self.app(scope, _replay(received, receive), send)
            return
        smiles, model = parsed
        scope.update(route=self.route, endpoint=self.route.endpoint, path_params={})
        request_state = scope["state"]
        request_state["client"], request_state["caller"] = caller.name, caller
        request = Request(scope, receive)
        pipeline: Pipeline = state.pipeline
        state.ctx.fast_answered += 1
        try:
            frame, loaded = await pipeline.predict(request, smiles, model, caller)
            response = predict_answer(request_state["request_id"], smiles, frame, loaded)
        except ApiError as exc:
            metrics: Metrics = state.ctx.metrics
            response = error_response(request, metrics, exc.status, exc.code, exc.message)
        await response(scope, receive, send)


def _presented_key(headers: dict[bytes, bytes]) -> str | None:
    """The key as ``auth.requirement`` reads it: a sent X-API-Key (even blank) wins; else a bearer
    token as FastAPI's ``HTTPBearer`` parses it; else None."""
    sent = headers.get(b"x-api-key")
    if sent is not None:
        return sent.decode("latin-1").strip()
    authorization = headers.get(b"authorization")
    if not authorization:
        return None
    scheme, _, credentials = authorization.decode("latin-1").partition(" ")
    credentials = credentials.strip()
    if not (scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials.strip()


def _replay(received: list[Message], receive: Receive) -> Receive:
    """*receive* with the messages already taken from it given back first, in order."""
    pending = list(received)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
