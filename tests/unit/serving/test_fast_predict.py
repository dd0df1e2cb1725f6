"""The ``POST /v1/predict`` fast path (``serving/fast_predict.py``): it answers exactly as the FastAPI
route does. Each request below is sent twice over a real socket, once with the fast path on and once
with it off (every request through FastAPI), and the two answers must be the same."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from _wait import wait_until
from molops.config import ApiKey
from molops.serving.auth import hash_key
from molops.serving.fast_predict import media_is_json, parse_body
from molops.serving.schemas import PredictRequest

from .conftest import MODEL

KEY = "mk_fast-path-test-key"
KEYS = [ApiKey(name="lab", role="read", hash=hash_key(KEY))]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
request_like = st.dictionaries(
    st.sampled_from(["smiles", "model", "extra"]),
    st.one_of(json_values, st.lists(st.text(max_size=10), max_size=3), st.lists(json_values, max_size=3)),
    max_size=3,
)


def _schema_reading(body: bytes) -> tuple[list[str], str | None] | None:
    """What the FastAPI route makes of *body*: ``json.loads`` then the strict request model."""
    try:
        found = PredictRequest.model_validate(json.loads(body))
    except (ValueError, ValidationError):
        return None
    return found.smiles, found.model


@given(st.one_of(request_like, json_values))
def test_the_parser_accepts_exactly_what_the_schema_accepts(value: Any) -> None:
    body = json.dumps(value).encode()
    assert parse_body(body) == _schema_reading(body)


@given(st.binary(max_size=64))
def test_the_parser_never_raises(body: bytes) -> None:
    parsed = parse_body(body)
    assert parsed is None or parsed == _schema_reading(body)


@pytest.mark.parametrize(
    ("content_type", "fast"),
    [
        (None, True),
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/problem+json", True),
        ("", False),
        ("text/plain", False),
        ("application/jsonx", False),
        ("application/x-www-form-urlencoded", False),
        ("multipart/form-data; boundary=x", False),
    ],
)
def test_media_types_the_fast_path_takes(content_type: str | None, fast: bool) -> None:
    assert media_is_json(content_type) is fast


def _both(service: Any, client: httpx.Client, **request: Any) -> tuple[httpx.Response, httpx.Response, int]:
    """The answer with the fast path on, with it off, and how many requests it answered itself."""
    before = service.ctx.fast_answered
    fast = client.post("/v1/predict", **request)
    answered = service.ctx.fast_answered - before
    service.ctx.fast_predict = False
    try:
        slow = client.post("/v1/predict", **request)
    finally:
        service.ctx.fast_predict = True
    return fast, slow, answered


def _same(fast: httpx.Response, slow: httpx.Response) -> None:
    assert fast.status_code == slow.status_code, (fast.text, slow.text)
    assert fast.headers["content-type"] == slow.headers["content-type"]
    fast_body, slow_body = fast.json(), slow.json()
    for body, response in ((fast_body, fast), (slow_body, slow)):
        holder = body.get("error", body)
        assert holder["request_id"] == response.headers["x-request-id"]
        holder["request_id"] = None
    assert fast_body == slow_body


GOOD = {"smiles": ["CCO", "c1ccccc1O", "xyz", "  CCN  "]}

#: (request, whether the fast path answers it itself)
CASES: list[tuple[dict[str, Any], bool]] = [
    ({"json": GOOD, "headers": {"X-API-Key": KEY}}, True),
    ({"json": GOOD | {"model": MODEL}, "headers": {"Authorization": f"Bearer {KEY}"}}, True),
    ({"json": GOOD | {"model": None}, "headers": {"Authorization": f"bearer  {KEY}"}}, True),
    ({"json": {"smiles": []}, "headers": {"X-API-Key": KEY}}, True),
    (
        {
            "content": json.dumps(GOOD),
            "headers": {"X-API-Key": KEY, "Content-Type": "application/json; charset=utf-8"},
        },
        True,
    ),
    ({"content": json.dumps(GOOD), "headers": {"X-API-Key": KEY, "Content-Type": ""}}, False),
    ({"json": GOOD, "headers": {"X-API-Key": KEY, "X-Request-ID": "lab-1"}}, True),
    # errors the pipeline raises, answered by the fast path itself
    ({"json": {"smiles": ["C"] * 11}, "headers": {"X-API-Key": KEY}}, True),
    ({"json": {"smiles": ["C" * 101]}, "headers": {"X-API-Key": KEY}}, True),
    ({"json": {"smiles": ["C"], "model": "nope"}, "headers": {"X-API-Key": KEY}}, True),
    # errors FastAPI answers: auth, media type, body
    ({"json": GOOD}, False),
    ({"json": GOOD, "headers": {"X-API-Key": "wrong"}}, False),
    ({"json": GOOD, "headers": {"X-API-Key": "", "Authorization": f"Bearer {KEY}"}}, False),
    ({"json": GOOD, "headers": {"Authorization": f"Basic {KEY}"}}, False),
    ({"content": "CCO", "headers": {"X-API-Key": KEY, "Content-Type": "text/plain"}}, False),
    ({"content": "", "headers": {"X-API-Key": KEY}}, False),
    ({"content": "{", "headers": {"X-API-Key": KEY, "Content-Type": "application/json"}}, False),
    ({"content": b"\xff\xfe{", "headers": {"X-API-Key": KEY, "Content-Type": "application/json"}}, False),
    ({"json": ["CCO"], "headers": {"X-API-Key": KEY}}, False),
    ({"json": {"smiles": "CCO"}, "headers": {"X-API-Key": KEY}}, False),
    ({"json": {"smiles": ["CCO", 3]}, "headers": {"X-API-Key": KEY}}, False),
    ({"json": {"smiles": ["CCO"], "model": 3}, "headers": {"X-API-Key": KEY}}, False),
    ({"json": {"smiles": ["CCO"], "extra": 1}, "headers": {"X-API-Key": KEY}}, False),
    ({"json": {"model": MODEL}, "headers": {"X-API-Key": KEY}}, False),
]


@pytest.mark.slow
def test_fast_and_fastapi_paths_answer_alike(serve, caplog):
    caplog.set_level(logging.INFO, logger="molops.access")
    with serve(keys=KEYS, max_molecules=10, max_smiles_length=100) as service, service.client() as client:
        # prepared once, so that a molecule timing out in a chemistry child on a busy machine cannot
        # make the two answers differ
        assert client.post("/v1/predict", json=GOOD, headers={"X-API-Key": KEY}).status_code == 200
        statuses = ("200", "401", "404", "413", "415", "422")
        codes = ("unauthorized", "unknown_model", "too_many_molecules", "smiles_too_long", "invalid_request")
        requests = {
            s: service.metric("molops_requests_total", route="/v1/predict", status=s) for s in statuses
        }
        errors = {
            c: service.metric("molops_request_errors_total", route="/v1/predict", code=c) for c in codes
        }
        pairs = []
        for request, fast_path in CASES:
            fast, slow, answered = _both(service, client, **request)
            pairs.append((fast.headers["x-request-id"], slow.headers["x-request-id"]))
            assert answered == int(fast_path), request
            _same(fast, slow)
            if request.get("headers", {}).get("X-Request-ID"):
                assert fast.headers["x-client-request-id"] == slow.headers["x-client-request-id"] == "lab-1"
        # the access log and the metrics see both paths as the same route
        wanted = {i for pair in pairs for i in pair}

        def logged() -> dict[str, Any] | None:  # a line is written just after its answer is sent
            found = {r.request_id: r for r in caplog.records if r.name == "molops.access"}
            return found if wanted <= set(found) else None

        lines = wait_until(logged, 10, "an access-log line for every request")
        fields = ("route", "status", "client", "molecules", "model", "model_version", "error")
        for fast_id, slow_id in pairs:
            fast_line, slow_line = lines[fast_id], lines[slow_id]
            assert {f: getattr(fast_line, f) for f in fields} == {f: getattr(slow_line, f) for f in fields}
            assert fast_line.route == "/v1/predict"
        for status in statuses:  # as many from each path
            count = service.metric("molops_requests_total", route="/v1/predict", status=status)
            assert count - requests[status] > 0 and (count - requests[status]) % 2 == 0, status
        for code in codes:
            count = service.metric("molops_request_errors_total", route="/v1/predict", code=code)
            assert count - errors[code] > 0 and (count - errors[code]) % 2 == 0, code


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(request_like.map(json.dumps), st.text(max_size=40)), with_key=st.booleans())
def test_any_body_gets_the_same_answer_never_a_500(serve_once, body: str, with_key: bool) -> None:
    service, client = serve_once
    headers = {"Content-Type": "application/json"} | ({"X-API-Key": KEY} if with_key else {})
    fast, slow, _ = _both(service, client, content=body.encode(), headers=headers)
    assert fast.status_code < 500, fast.text
    _same(fast, slow)
    if fast.status_code >= 400:
        message = fast.json()["error"]["message"]
        assert message and "\n" not in message


@pytest.fixture(scope="module")
def serve_once(tracked, tmp_path_factory):
    """One service for every hypothesis example (starting one per example would take minutes)."""
    import shutil

    from molops import Workspace

    from .conftest import live

    ws = Workspace.open(shutil.copytree(tracked.ws.root, tmp_path_factory.mktemp("fast") / "ws"))
    with live(ws, keys=KEYS, max_molecules=10, max_smiles_length=100) as service, service.client() as client:
        yield service, client
