"""The Open Inference Protocol as clients use it: tritonclient (binary tensors by default, JSON on
request, versioned routes, errors) over a live service, and raw bodies that break the binary
extension (each a 400 in the protocol's form, never a 5xx)."""

from __future__ import annotations

import json
import shutil
import struct
import threading
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tritonclient.utils import InferenceServerException

from molops import Workspace
from molops.config import ApiKey
from molops.data.prediction_log import PredictionLog
from molops.serving.auth import hash_key
from molops.tracking.registry import ModelRegistry
from molops.tracking.store import Tracking

from .conftest import MODEL, Live, live

pytestmark = pytest.mark.slow

SMILES = ["CCO", "xyz", "c1ccccc1O"]
OUTPUTS = ["mean", "std", "similarity", "in_domain", "canonical_smiles", "inchikey", "error"]
#: MODEL's served versions here: the champion (1) and, as a canary that sees no traffic, the challenger (3).
VERSIONS = "1 (champion), 3 (challenger)"
SECOND_ALIAS = {"shadow_alias": "challenger", "shadow_mode": "canary", "shadow_share": 0.0}


def _second_alias_loaded(service: Live) -> None:
    """Readiness covers the served models; wait (with a deadline) for the second alias too."""
    deadline = time.monotonic() + 30
    while not service.ctx.models.shadows[MODEL].current:
        assert time.monotonic() < deadline, "the challenger did not load"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def service(tracked, tmp_path_factory) -> Iterator[Live]:
    ws = Workspace.open(shutil.copytree(tracked.ws.root, tmp_path_factory.mktemp("v2") / "ws"))
    with live(ws, **SECOND_ALIAS) as running:
        _second_alias_loaded(running)
        yield running


@pytest.fixture
def client(service) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(url=service.url.removeprefix("http://"))
    yield client
    client.close()


def _smiles(smiles: list[str] = SMILES, *, binary: bool = True) -> triton.InferInput:
    tensor = triton.InferInput("smiles", [len(smiles)], "BYTES")
    return tensor.set_data_from_numpy(np.array(smiles, dtype=object), binary_data=binary)


def _failure(call, status: str) -> str:
    with pytest.raises(InferenceServerException) as caught:
        call()
    assert caught.value.status() == status, caught.value
    return caught.value.message()


def test_health_metadata_and_readiness_of_each_version(client):
    assert client.is_server_live() and client.is_server_ready()
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    assert client.is_model_ready(MODEL)
    assert client.is_model_ready(MODEL, "1") and client.is_model_ready(MODEL, "3")
    assert not client.is_model_ready(MODEL, "2")
    meta = client.get_model_metadata(MODEL)
    assert (meta["name"], meta["versions"]) == (MODEL, ["1", "3"])
    assert meta["inputs"] == [{"name": "smiles", "datatype": "BYTES", "shape": [-1]}]
    assert [o["name"] for o in meta["outputs"]] == OUTPUTS
    assert client.get_model_metadata(MODEL, "3") == meta
    message = _failure(lambda: client.get_model_metadata(MODEL, "2"), "404")
    assert message == f"model {MODEL!r} has no version 2 served here; served versions: {VERSIONS}"
    assert "served versions" in _failure(lambda: client.get_model_metadata(MODEL, "latest"), "404")
    assert "served models: " + MODEL in _failure(lambda: client.get_model_metadata("other"), "404")


def test_binary_is_the_default_and_answers_what_json_does(client):
    outputs = [triton.InferRequestedOutput(name) for name in OUTPUTS]  # binary_data=True by default
    binary = client.infer(MODEL, [_smiles()], outputs=outputs)
    header = binary.get_response()
    assert (header["model_name"], header["model_version"]) == (MODEL, "1")
    for output in header["outputs"]:  # every output came as bytes after the JSON header
        assert "data" not in output and output["parameters"]["binary_data_size"] > 0
        assert output["shape"] == [len(SMILES)]
    as_json = [triton.InferRequestedOutput(name, binary_data=False) for name in OUTPUTS]
    plain = client.infer(MODEL, [_smiles(binary=False)], outputs=as_json)
    assert all("data" in o for o in plain.get_response()["outputs"])
    for name in ("mean", "std", "similarity"):
        got, expected = binary.as_numpy(name), plain.as_numpy(name)
        assert got.dtype == np.float64 and got.shape == (3,)
        np.testing.assert_array_equal(got, expected)  # NaN (no prediction) in both
    mean = binary.as_numpy("mean")
    assert np.isfinite(mean[[0, 2]]).all() and np.isnan(mean[1])
    assert binary.as_numpy("in_domain").dtype == bool
    np.testing.assert_array_equal(binary.as_numpy("in_domain"), plain.as_numpy("in_domain"))
    errors = binary.as_numpy("error")
    assert errors[0] == b"" and errors[1].decode().startswith("unparsable_structure")
    assert [e.decode() for e in errors] == plain.as_numpy("error").tolist()
    assert binary.as_numpy("canonical_smiles")[0] == b"CCO"


def test_outputs_not_named_all_come_binary(client):
    result = client.infer(MODEL, [_smiles()])  # tritonclient asks binary_data_output: true
    assert [o["name"] for o in result.get_response()["outputs"]] == OUTPUTS
    assert all("binary_data_size" in o["parameters"] for o in result.get_response()["outputs"])
    assert result.as_numpy("inchikey")[0] == b"LFQSCWFLJHTTHZ-UHFFFAOYSA-N"


def test_json_and_binary_outputs_mix_and_json_inputs_meet_binary_outputs(client):
    outputs = [triton.InferRequestedOutput("mean", binary_data=False), triton.InferRequestedOutput("error")]
    result = client.infer(MODEL, [_smiles(binary=False)], outputs=outputs)
    mean, error = result.get_response()["outputs"]
    assert mean["data"][1] is None and "parameters" not in mean
    assert error["parameters"]["binary_data_size"] > 0
    assert result.as_numpy("error")[1].startswith(b"unparsable_structure")


def test_a_version_pins_who_answers(client):
    answer = lambda version: client.infer(MODEL, [_smiles()], model_version=version).get_response()  # noqa: E731
    assert answer("")["model_version"] == "1"  # the champion; the canary sees no share here
    assert answer("1")["model_version"] == "1"
    assert answer("3")["model_version"] == "3"  # the challenger, served under the same name
    message = _failure(lambda: answer("2"), "404")
    assert message == f"model {MODEL!r} has no version 2 served here; served versions: {VERSIONS}"


def test_errors_name_what_is_wrong(client):
    assert "'other' is not served here" in _failure(lambda: client.infer("other", [_smiles()]), "404")
    for binary in (True, False):  # tritonclient checks the numpy shape; the declared one can still lie
        tensor = _smiles(binary=binary).set_shape([5])
        message = _failure(lambda tensor=tensor: client.infer(MODEL, [tensor]), "400")
        assert message == (
            "input 'smiles' has shape [5] (5 elements) but 3 elements of data; "
            "expected a shape whose size is the number of SMILES"
        )
    numbers = triton.InferInput("smiles", [2], "FP64").set_data_from_numpy(np.array([1.0, 2.0]))
    message = _failure(lambda: client.infer(MODEL, [numbers]), "400")
    assert message.startswith("inputs.0.datatype:") and "'BYTES'" in message
    message = _failure(lambda: client.infer(MODEL, []), "400")
    assert message.startswith("inputs:") and "at least 1" in message
    other = triton.InferInput("molecules", [1], "BYTES").set_data_from_numpy(np.array(["C"], dtype=object))
    assert "'smiles'" in _failure(lambda: client.infer(MODEL, [other]), "400")
    logits = [triton.InferRequestedOutput("logits")]
    assert "outputs.0.name" in _failure(lambda: client.infer(MODEL, [_smiles()], outputs=logits), "400")
    ranked = [triton.InferRequestedOutput("mean", class_count=2)]
    assert "classification" in _failure(lambda: client.infer(MODEL, [_smiles()], outputs=ranked), "400")


def test_a_wrong_key_is_refused_and_the_right_one_answers(served_ws):
    key = "mk_read_v2"
    keys = [ApiKey(name="reader", role="read", hash=hash_key(key))]
    with live(served_ws, keys=keys) as service:
        client = triton.InferenceServerClient(url=service.url.removeprefix("http://"))
        try:
            wrong = {"Authorization": "Bearer mk_nope"}
            message = _failure(lambda: client.infer(MODEL, [_smiles()], headers=wrong), "401")
            assert message == "the API key is not valid"
            assert "API key is required" in _failure(lambda: client.get_model_metadata(MODEL), "401")
            assert not client.is_model_ready(MODEL, headers=wrong)
            for right in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
                result = client.infer(MODEL, [_smiles()], headers=right)
                assert result.as_numpy("mean").shape == (3,)
                assert client.is_model_ready(MODEL, "1", headers=right)
        finally:
            client.close()


def test_pinned_versions_log_as_their_alias_and_a_shadow_never_mirrors_itself(served_ws):
    pinned, plain = ["CCO", "c1ccccc1O"], ["CCN"]
    with live(served_ws, shadow_alias="challenger", log_interval_s=60) as service:
        _second_alias_loaded(service)
        client = triton.InferenceServerClient(url=service.url.removeprefix("http://"))
        try:
            client.infer(MODEL, [_smiles(pinned)], model_version="3")  # the shadow answers it
            client.infer(MODEL, [_smiles(plain)])  # the champion answers it; the shadow sees a copy
            deadline = time.monotonic() + 10  # the mirrored copy finishes after its answer
            while service.metric("molops_batch_size_sum", model=MODEL) < len(pinned) + 2 * len(plain):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            client.close()
    log = PredictionLog.of(service.ws).read(role=None)
    rows = log.groupby(["smiles", "role", "model_version"]).size().to_dict()
    assert rows == {
        ("CCO", "shadow", 3): 1,  # once: answering a pinned version mirrors nothing
        ("c1ccccc1O", "shadow", 3): 1,
        ("CCN", "primary", 1): 1,
        ("CCN", "shadow", 3): 1,
    }


def test_a_pinned_version_replaced_while_its_request_waits_is_a_404(served_ws):
    body = {"inputs": [{"name": "smiles", "datatype": "BYTES", "shape": [1], "data": ["CCO"]}]}
    with live(served_ws) as service:
        models = service.ctx.models
        served = models.models[MODEL]
        release = threading.Event()
        served.batcher._executor.submit(release.wait, 60)  # the model's one thread is busy until released
        answers: list[httpx.Response] = []

        def ask() -> None:
            with service.client() as c:
                answers.append(c.post(f"/v2/models/{MODEL}/versions/1/infer", json=body))

        waiting = threading.Thread(target=ask)
        try:
            waiting.start()
            deadline = time.monotonic() + 10
            while service.metric("molops_requests_in_flight") < 1:  # asked for version 1, now waiting
                assert time.monotonic() < deadline
                time.sleep(0.02)
            ModelRegistry(Tracking.of(service.ws).uri, "tester").promote(MODEL, 2, reason="test")
            models.refresh(served)  # the alias moved: version 2 answers from now on
            assert served.current is not None and served.current.version == 2
        finally:
            release.set()
            waiting.join()
    (answer,) = answers
    assert answer.status_code == 404, answer.text
    assert answer.json() == {
        "error": f"model {MODEL!r} version 1 was replaced by version 2 while the request waited; "
        "ask for a served version"
    }


def test_a_binary_body_over_the_limit_is_413_while_it_streams(served_ws):
    with live(served_ws, max_body_bytes=2048) as service, service.client() as c:
        request = _binary_request(b"".join(_element(b"CCCCCCCCCC") for _ in range(300)), shape=[300])
        body = request["content"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while the body streams in
            yield from (body[i : i + 512] for i in range(0, len(body), 512))

        response = c.post(f"/v2/models/{MODEL}/infer", content=chunks(), headers=request["headers"])
        assert response.status_code == 413, response.text
        assert service.metric("molops_request_errors_total", code="internal_error") == 0  # nothing failed


# -- raw bodies -----------------------------------------------------------------------------------


def _element(text: bytes) -> bytes:
    return struct.pack("<I", len(text)) + text


def _binary_request(
    data: bytes, *, size: int | None = None, shape: list[int] | None = None, binary_output: bool = False
) -> dict:
    header = json.dumps(
        {
            "parameters": {"binary_data_output": binary_output},
            "inputs": [
                {
                    "name": "smiles",
                    "datatype": "BYTES",
                    "shape": shape or [1],
                    "parameters": {"binary_data_size": len(data) if size is None else size},
                }
            ],
        }
    ).encode()
    return {"content": header + data, "headers": {"Inference-Header-Content-Length": str(len(header))}}


@pytest.fixture
def raw(service) -> Iterator[httpx.Client]:
    with service.client() as c:
        yield c


def _v2_error(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"}
    return response.json()["error"]


def test_raw_binary_bodies_of_any_content_type_are_read(raw):
    url = f"/v2/models/{MODEL}/versions/1/infer"
    for content_type in ("application/octet-stream", None):
        request = _binary_request(_element(b"CCO") + _element(b"CCN"), shape=[2, 1], binary_output=True)
        if content_type:
            request["headers"]["Content-Type"] = content_type
        response = raw.post(url, **request)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/octet-stream"
        length = int(response.headers["inference-header-content-length"])
        header = json.loads(response.content[:length])
        assert header["model_version"] == "1" and len(header["outputs"]) == len(OUTPUTS)
        sizes = [o["parameters"]["binary_data_size"] for o in header["outputs"]]
        assert sum(sizes) == len(response.content) - length
        mean = np.frombuffer(response.content[length : length + sizes[0]], dtype="<f8")  # the first output
        assert mean.shape == (2,) and np.isfinite(mean).all()
        # binary SMILES with JSON outputs: a plain JSON answer
        response = raw.post(url, **_binary_request(_element(b"CCO"), binary_output=False))
        assert response.headers["content-type"] == "application/json"
        assert response.json()["outputs"][-1] == {
            "name": "error",
            "datatype": "BYTES",
            "shape": [1],
            "data": [""],
        }
    # a JSON body without the header, sent as octet-stream or with no content type, is plain JSON
    body = json.dumps({"inputs": [{"name": "smiles", "datatype": "BYTES", "shape": [1], "data": ["C"]}]})
    for headers in ({"Content-Type": "application/octet-stream"}, {}):
        response = raw.post(f"/v2/models/{MODEL}/infer", content=body.encode(), headers=headers)
        assert response.status_code == 200 and response.json()["outputs"][0]["shape"] == [1]


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (  # the header says the JSON is longer than the body
            {"content": b'{"inputs": []}', "headers": {"Inference-Header-Content-Length": "999"}},
            "Inference-Header-Content-Length is 999 but the body has only 14 bytes",
        ),
        (
            {"content": b"{}", "headers": {"Inference-Header-Content-Length": "-3"}},
            "Inference-Header-Content-Length is '-3'; expected the JSON header's length in bytes",
        ),
        (  # the length cuts the JSON short
            {"content": b'{"inputs": []}', "headers": {"Inference-Header-Content-Length": "5"}},
            "not valid JSON",
        ),
        (  # 2 bytes where a 4-byte element length should be
            _binary_request(b"\x03\x00"),
            "input 'smiles': element 0 has a truncated length at byte 0 (2 of 4 bytes)",
        ),
        (
            _binary_request(_element(b"CCO") + b"\x09\x00\x00\x00CC", shape=[2]),
            "input 'smiles': element 1 declares 9 bytes but only 2 are left",
        ),
        (
            _binary_request(_element(b"CCO"), size=50),
            "input 'smiles' declares binary_data_size 50 but 7 bytes of binary data are left",
        ),
        (
            _binary_request(_element(b"CCO") + b"extra", size=7),
            "the body has 12 bytes of binary data after the JSON header but the inputs declare 7",
        ),
        (
            _binary_request(_element(b"\xff\xfe")),
            "input 'smiles' element 0 is not UTF-8 text",
        ),
        (
            _binary_request(_element(b"CCO") + _element(b"CCN") + _element(b"C")),
            "input 'smiles' has shape [1] (1 elements) but 3 elements of data",
        ),
        (
            _binary_request(_element(b"CCO"), size="7"),  # type: ignore[arg-type]
            "input 'smiles' has binary_data_size '7'; expected a whole number of bytes",
        ),
        (
            {"content": b'{"inputs": []}' + b"\x00" * 8, "headers": {"Content-Encoding": "gzip"}},
            "the body is compressed (gzip); send it uncompressed",
        ),
    ],
    ids=[
        "header-past-body",
        "header-negative",
        "header-cuts-json",
        "truncated-length",
        "element-past-end",
        "size-past-end",
        "undeclared-bytes",
        "not-utf8",
        "shape-vs-elements",
        "size-not-int",
        "compressed",
    ],
)
def test_malformed_binary_bodies_are_protocol_errors(raw, request_, expected):
    assert expected in _v2_error(raw.post(f"/v2/models/{MODEL}/infer", **request_))


def test_json_tensors_that_cannot_be_used(raw):
    url = f"/v2/models/{MODEL}/infer"
    smiles = {"name": "smiles", "datatype": "BYTES", "shape": [2], "data": ["C", "CC"]}
    both = {**smiles, "parameters": {"binary_data_size": 0}}
    assert "both 'data' and binary_data_size" in _v2_error(raw.post(url, json={"inputs": [both]}))
    empty = {k: v for k, v in smiles.items() if k != "data"}
    assert "input 'smiles' has no data" in _v2_error(raw.post(url, json={"inputs": [empty]}))
    negative = {**smiles, "shape": [-1]}
    assert "no negative sizes" in _v2_error(raw.post(url, json={"inputs": [negative]}))
    odd = {"inputs": [smiles], "outputs": [{"name": "mean", "parameters": {"binary_data": "yes"}}]}
    assert "output 'mean' parameter 'binary_data' is 'yes'" in _v2_error(raw.post(url, json=odd))
    nested = {**smiles, "shape": [2, 1], "data": [["C"], ["CC"]]}
    assert raw.post(url, json={"inputs": [nested]}).json()["outputs"][0]["shape"] == [2]
    stray = {"content": json.dumps({"inputs": [smiles]}).encode() + b"tail"}
    stray["headers"] = {"Inference-Header-Content-Length": str(len(stray["content"]) - 4)}
    assert "4 bytes of binary data after the JSON header" in _v2_error(raw.post(url, **stray))
    assert "has no version 7" in _v2_error(raw.get(f"/v2/models/{MODEL}/versions/7/ready"), 404)


_elements = st.lists(st.text("CNOc1()=#", max_size=12), max_size=6).map(
    lambda items: b"".join(_element(i.encode()) for i in items)
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=_elements | st.binary(max_size=60),
    size=st.none() | st.integers(-3, 80) | st.booleans() | st.text(max_size=3),
    shape=st.lists(st.integers(-2, 6), max_size=3),
    length=st.none()
    | st.integers(-3, 400).map(str)
    | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=4).map(str.strip),  # h11's rule
    binary_output=st.booleans(),
)
def test_fuzz_binary_bodies_never_fail_the_service(raw, data, size, shape, length, binary_output):
    tensor: dict = {"name": "smiles", "datatype": "BYTES", "shape": shape}
    if size is not None:
        tensor["parameters"] = {"binary_data_size": size}
    header = json.dumps({"inputs": [tensor], "parameters": {"binary_data_output": binary_output}}).encode()
    headers = {"Inference-Header-Content-Length": str(len(header)) if length is None else length}
    response = raw.post(f"/v2/models/{MODEL}/infer", content=header + data, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert isinstance(_v2_error(response, response.status_code), str)
    elif binary_output:
        length_ = int(response.headers["inference-header-content-length"])
        sizes = [
            o["parameters"]["binary_data_size"] for o in json.loads(response.content[:length_])["outputs"]
        ]
        assert sum(sizes) == len(response.content) - length_
