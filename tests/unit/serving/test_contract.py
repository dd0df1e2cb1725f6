"""Nothing a client sends makes the service fail: a schemathesis run over its OpenAPI schema, and a
hypothesis fuzz of the predict endpoints (every error is JSON with a message, never a 5xx)."""

from __future__ import annotations

import shutil

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from molops import Workspace

from .conftest import MODEL, live

pytestmark = pytest.mark.slow

SMILES_ALPHABET = "CNOSPFIBrcnos()[]=#@+-/\\.%0123456789H*:"
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
smiles_lists = st.lists(st.text(SMILES_ALPHABET, max_size=40) | st.text(max_size=30), max_size=12)


@pytest.fixture(scope="module")
def service(tracked, tmp_path_factory):
    ws = Workspace.open(shutil.copytree(tracked.ws.root, tmp_path_factory.mktemp("contract") / "ws"))
    with live(ws, max_molecules=8, max_smiles_length=35) as running:
        yield running


@pytest.fixture(scope="module")
def client(service):
    with service.client() as c:
        yield c


def _no_failure(response: httpx.Response) -> dict:
    assert response.status_code < 500, response.text
    body = response.json()
    if response.status_code >= 400:
        error = body["error"]
        if response.url.path.startswith("/v2/"):  # the protocol's form: {"error": "..."}
            assert isinstance(error, str) and error, body
        else:
            assert error["message"] and error["code"], body
    return body


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(smiles=smiles_lists, model=st.sampled_from([None, MODEL, "other"]))
def test_fuzz_v1_predict(client, smiles, model):
    body = _no_failure(client.post("/v1/predict", json={"smiles": smiles, "model": model}))
    if "results" in body:
        assert [r["smiles"] for r in body["results"]] == smiles
        for r in body["results"]:
            assert (r["error"] is None) == (r["mean"] is not None)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values | st.dictionaries(st.sampled_from(["smiles", "model", "inputs", "id"]), json_values))
def test_fuzz_any_json_body(client, body):
    _no_failure(client.post("/v1/predict", json=body))
    _no_failure(client.post(f"/v2/models/{MODEL}/infer", json=body))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_fuzz_raw_bytes(client, raw):
    _no_failure(client.post("/v1/predict", content=raw, headers={"content-type": "application/json"}))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(smiles=smiles_lists, shape=st.lists(st.integers(-1, 20), max_size=3))
def test_fuzz_v2_infer(client, smiles, shape):
    body = {
        "inputs": [{"name": "smiles", "datatype": "BYTES", "shape": shape or [len(smiles)], "data": smiles}]
    }
    answer = _no_failure(client.post(f"/v2/models/{MODEL}/infer", json=body))
    if "outputs" in answer:
        assert all(o["shape"] == [len(smiles)] for o in answer["outputs"])


def test_openapi_contract(service):
    """schemathesis' checks on every operation (its lazy pytest loader predates pytest 9, so the
    operations are driven through their hypothesis strategies here)."""
    schema = schemathesis.openapi.from_url(service.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/predict", "/v2/models/{name}/infer", "/metrics"}
    for operation in operations:

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def check(case):
            case.call_and_validate()

        check()
