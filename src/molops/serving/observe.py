"""The ASGI layer under every route: request ids, the body-size limit, metrics and the access log.

Every request gets the service's own id (``X-Request-ID`` on the answer): a caller's ``X-Request-ID``
is kept beside it as ``client_request_id`` (echoed as ``X-Client-Request-ID``, logged), never used
as the id, so two requests that reuse a caller's id stay two requests in the log.

Written as plain ASGI middleware (not Starlette's ``BaseHTTPMiddleware``) because it runs on every
request and adds well under a tenth of a millisecond this way. A body over the limit is refused
with 413 as soon as its size is known: from ``Content-Length``, or while a chunked body streams in.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from molops.serving.metrics import Metrics

access = logging.getLogger("molops.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class _BodyTooLarge(Exception):
    pass


def error_bytes(code: str, message: str, request_id: str | None) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "request_id": request_id}}).encode()


class Observe:
    """Tags each request with an id (and the caller's valid ``X-Request-ID``), limits, measures, logs."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        client_request_id = given if _REQUEST_ID.match(given) else None  # an invalid one is dropped
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {}).update(request_id=request_id, client_request_id=client_request_id)
        id_headers = [(b"x-request-id", request_id.encode())]
        if client_request_id is not None:
            id_headers.append((b"x-client-request-id", client_request_id.encode()))
        status = 500
        response_started = False
        received = 0
        limit = self.max_body_bytes
        too_large = (
            f"the request body is larger than the limit of {limit} bytes (max_body_bytes in [serve]); "
            "send fewer molecules per request"
        )

        early = False  # a 413 was sent while the body streamed in: what the app sends after is dropped

        async def refuse() -> None:
            nonlocal status, response_started, early
            if not response_started:
                await self._reply(send, 413, "body_too_large", too_large, request_id, id_headers)
                status, response_started, early = 413, True, True

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # answer now; the app sees a client that went away
                    await refuse()
                    return {"type": "http.disconnect"}
            return message

        async def send_tagged(message: Message) -> None:
            nonlocal status, response_started
            if early:
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", []), *id_headers]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            length = headers.get(b"content-length", b"")
            if length.isdigit() and int(length) > limit:
                raise _BodyTooLarge
            await self.app(scope, receive_limited, send_tagged)
        except _BodyTooLarge:
            await refuse()
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(path, scope["method"], str(status)).inc()
            self.metrics.latency.labels(path).observe(seconds)
            state: dict[str, Any] = scope["state"]
            if status == 413 and not state.get("error"):  # refused here, before any route saw it
                state["error"] = "body_too_large"
                self.metrics.errors.labels(path, "body_too_large").inc()
            access.info(
                "request",
                extra={
                    "event": "request",
                    "request_id": request_id,
                    "client_request_id": client_request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": path,
                    "status": status,
                    "latency_ms": round(seconds * 1000, 3),
                    "client": state.get("client", ""),
                    "molecules": state.get("molecules"),
                    "model": state.get("model"),
                    "model_version": state.get("model_version"),
                    "error": state.get("error"),
                },
            )

    @staticmethod
    async def _reply(
        send: Send,
        status: int,
        code: str,
        message: str,
        request_id: str,
        id_headers: list[tuple[bytes, bytes]],
    ) -> None:
        body = error_bytes(code, message, request_id)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *id_headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and every ``extra`` field."""

    converter: Callable[[float | None], time.struct_time] = time.gmtime
    # uvicorn's color_message repeats the message with terminal colour codes: not for a log store
    _STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
        "message",
        "asctime",
        "color_message",
    }

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data |= {k: v for k, v in record.__dict__.items() if k not in self._STANDARD and v is not None}
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)
