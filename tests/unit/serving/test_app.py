"""The service over a real socket: v1 and v2 predictions, limits, errors, auth, metrics, batching,
hot swap, shadow traffic and the prediction log."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time

import httpx
import numpy as np
import pytest
from rdkit import Chem

from _wait import wait_until
from molops.config import ApiKey
from molops.data.prediction_log import PredictionLog
from molops.serving.auth import hash_key
from molops.tracking.registry import ModelRef, ModelRegistry
from molops.tracking.store import Tracking

from .conftest import MODEL

pytestmark = pytest.mark.slow

SMILES = ["CCO", "xyz", "c1ccccc1O", "", "CC(=O)Nc1ccc(O)cc1"]

#: 100 aromatic carbons on a random 3-regular graph: valid, but RDKit's kekulisation backtracks
#: for about 0.1 s; five copies in one SMILES (1,954 characters, under max_smiles_length) take
#: seconds to parse. Without the per-molecule budget it held the worker for all of that.
HARD_TO_KEKULIZE = (
    "c12c3c4c5c6c7c8c9c%10c%11c%12c%13c%14c%15c%16c9c9c%17c%18c%19c%20c%21c%22c%23c%24c%25c%26c%27c%"
    "28c%23c%23c%29c%30c%31c%32c%33c%34c%35c%36c%37c%31c%31c%38c%39c%40c%41c%42c%43c%44c%45c(c%46c(c"
    "(c(c%23%25)c(c%46c%42c3c%29c%12c%13%11)c3c%39c%17c%11c(c%22c(c(c(c(c1c37)c(c%11c(c%40c%26%19)c5"
    "%44)c2%30)c%28%43)c%329)c(c(c%27c%16c%338)c%36%38)c%10c%15c6%31)c%37c%20c4%41)c%24%21)c%34%45)c"
    "%18c%35%14"
)
PATHOLOGICAL = ".".join([HARD_TO_KEKULIZE] * 5)


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    return body["error"]["message"]


def _wait_for_second_alias(c: httpx.Client) -> dict:
    """Readiness covers the served models; a second alias still loading sees no traffic."""

    def second() -> dict | None:
        shadow = c.get("/v1/models").json()["models"][0]["shadow"]
        return shadow if shadow["ready"] else None

    return wait_until(second, 30, "the second alias to load")


def _v2_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    (message,) = response.json().values()
    assert set(response.json()) == {"error"} and isinstance(message, str)
    return message


def test_predict_answers_every_molecule_in_order(serve):
    with serve() as service, service.client() as client:
        response = client.post("/v1/predict", json={"smiles": SMILES}, headers={"X-Request-ID": "lab-42"})
        assert response.status_code == 200, response.text
        body = response.json()
        # the service's own id; the caller's is echoed beside it
        assert body["request_id"] == response.headers["x-request-id"] != "lab-42"
        assert response.headers["x-client-request-id"] == "lab-42"
        results = body["results"]
        assert [r["smiles"] for r in results] == SMILES
        ok = [r for r in results if r["error"] is None]
        assert [r["smiles"] for r in ok] == ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"]
        for r in ok:
            assert math.isfinite(r["mean"]) and r["std"] > 0
            assert 0 <= r["applicability"]["similarity"] <= 1
            assert r["applicability"]["in_domain"] in (True, False)
            assert r["inchikey"] and r["canonical_smiles"]
            assert (r["model_name"], r["model_version"]) == (MODEL, 1)
        bad = {r["smiles"]: r for r in results if r["error"]}
        assert bad["xyz"]["error"].startswith("unparsable_structure") and bad["xyz"]["mean"] is None
        assert bad[""]["error"].startswith("empty_structure")
        # an invalid caller-given request id is dropped, never echoed
        other = client.post(
            "/v1/predict", json={"smiles": ["C"]}, headers={"X-Request-ID": "bad id; drop table"}
        )
        assert len(other.headers["x-request-id"]) == 32 and "x-client-request-id" not in other.headers


def test_a_reused_client_request_id_never_merges_two_requests(serve, caplog):
    caplog.set_level(logging.INFO, logger="molops.access")
    with serve() as service, service.client() as c:
        same = {"X-Request-ID": "lab-7"}
        first, second = (
            c.post("/v1/predict", json={"smiles": ["CCO", "CCN"]}, headers=same) for _ in range(2)
        )
        third = c.post("/v1/predict", json={"smiles": ["C"]})
    ids = [r.json()["request_id"] for r in (first, second, third)]
    assert len(set(ids)) == 3
    access = {r.request_id: r.client_request_id for r in caplog.records if r.name == "molops.access"}
    assert [access[i] for i in ids] == ["lab-7", "lab-7", None]
    log = PredictionLog.of(service.ws)
    rows = log.read()
    assert list(dict.fromkeys(rows["request_id"])) == ids
    client_ids = rows["client_request_id"]
    assert client_ids.tolist()[:4] == ["lab-7"] * 4 and client_ids.isna().iloc[4]
    (summary,) = log.summary()
    assert (summary["requests"], summary["molecules"]) == (3, 5)


def test_limits_answer_4xx_that_name_the_limit(serve):
    with serve(max_molecules=3, max_smiles_length=20, max_body_bytes=2048) as service, service.client() as c:
        message = _error(c.post("/v1/predict", json={"smiles": ["C"] * 4}), 413, "too_many_molecules")
        assert "4 molecules" in message and "at most 3" in message
        message = _error(c.post("/v1/predict", json={"smiles": ["C", "C" * 21]}), 422, "smiles_too_long")
        assert "smiles[1]" in message and "21" in message
        big = {"smiles": ["C" * 10] * 300}
        assert "2048 bytes" in _error(c.post("/v1/predict", json=big), 413, "body_too_large")

        def chunks():  # no Content-Length: the limit applies while the body streams in
            yield b'{"smiles": ['
            for _ in range(300):
                yield b'"CCCCCCCCCC",'
            yield b'"C"]}'

        chunked = c.post("/v1/predict", content=chunks(), headers={"content-type": "application/json"})
        _error(chunked, 413, "body_too_large")
        json_type = {"content-type": "application/json"}
        bad_json = c.post("/v1/predict", content=b'{"smiles": ["C",', headers=json_type)
        message = _error(bad_json, 422, "invalid_request")
        assert message.startswith("body: not valid JSON (") and "expected a JSON object" in message
        assert c.post("/v1/predict", json={"smiles": ["C", "CC"]}).status_code == 200


def test_errors_are_json_with_a_message(serve):
    with serve() as service, service.client() as c:
        assert "GET /nowhere" in _error(c.get("/nowhere"), 404, "not_found")
        not_allowed = c.get("/v1/predict")
        assert "allowed: POST" in _error(not_allowed, 405, "method_not_allowed")
        assert not_allowed.headers["allow"] == "POST"  # RFC 9110: a 405 says what is allowed
        v2_not_allowed = c.put(f"/v2/models/{MODEL}/infer")
        assert v2_not_allowed.status_code == 405 and v2_not_allowed.headers["allow"] == "POST"
        # /v1 reads JSON only: another media type is 415 (not a 422 about "a valid dictionary")
        as_text = c.post("/v1/predict", content=b"CCO", headers={"content-type": "text/plain"})
        assert "'text/plain'" in (message := _error(as_text, 415, "unsupported_media_type"))
        assert "application/json" in message
        as_form = c.post("/v1/predict", data={"smiles": "CCO"})
        assert "'application/x-www-form-urlencoded'" in _error(as_form, 415, "unsupported_media_type")
        # JSON without a content type still reads as JSON, on /v1 and on /v2 (tritonclient sends none)
        assert c.post("/v1/predict", content=b'{"smiles": ["C"]}').status_code == 200
        v2_body = b'{"inputs": [{"name": "smiles", "shape": [1], "datatype": "BYTES", "data": ["C"]}]}'
        assert c.post(f"/v2/models/{MODEL}/infer", content=v2_body).status_code == 200
        assert "smiles" in _error(c.post("/v1/predict", json={"smile": ["C"]}), 422, "invalid_request")
        _error(c.post("/v1/predict", content=b"{not json", headers={"content-type": "application/json"}),
               422, "invalid_request")  # fmt: skip
        _error(c.post("/v1/predict", json={"smiles": [1, 2]}), 422, "invalid_request")
        message = _error(c.post("/v1/predict", json={"smiles": ["C"], "model": "nope"}), 404, "unknown_model")
        assert MODEL in message


def test_models_health_and_v2_metadata(serve):
    with serve() as service, service.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").json() == {"status": "ok"}
        assert c.get("/v2/health/live").status_code == c.get("/v2/health/ready").status_code == 200
        (info,) = c.get("/v1/models").json()["models"]
        assert (info["name"], info["alias"], info["version"], info["ready"]) == (MODEL, "champion", 1, True)
        assert info["model"] == "rf" and info["dataset"] == "tiny"
        meta = c.get(f"/v2/models/{MODEL}").json()
        assert meta["versions"] == ["1"] and meta["inputs"][0] == {
            "name": "smiles",
            "datatype": "BYTES",
            "shape": [-1],
        }
        assert {o["name"] for o in meta["outputs"]} >= {"mean", "std", "in_domain", "error"}
        assert c.get(f"/v2/models/{MODEL}/ready").status_code == 200
        assert c.get("/v2").json()["name"] == "molops"
        # without keys the service asks for none, and its schema says so (the role is still named)
        schema = c.get("/openapi.json").json()
        assert "securitySchemes" not in schema["components"]
        predict = schema["paths"]["/v1/predict"]["post"]
        assert "security" not in predict and predict["x-required-role"] == "read"


def test_v2_infer_json_tensors(serve):
    with serve() as service, service.client() as c:
        body = {"id": "r1", "inputs": [{"name": "smiles", "shape": [3, 1], "datatype": "BYTES",
                                         "data": [["CCO"], ["xyz"], ["c1ccccc1"]]}],
                "outputs": [{"name": "mean"}, {"name": "error"}]}  # fmt: skip
        answer = c.post(f"/v2/models/{MODEL}/infer", json=body).json()
        assert (answer["model_name"], answer["model_version"], answer["id"]) == (MODEL, "1", "r1")
        mean, error = answer["outputs"]
        assert (mean["name"], mean["datatype"], mean["shape"]) == ("mean", "FP64", [3])
        assert mean["data"][1] is None and all(isinstance(v, float) for v in mean["data"][::2])
        assert error["data"][0] == "" and error["data"][1].startswith("unparsable_structure")
        # errors in the protocol's own form: {"error": "..."}, 400 for a request that cannot be used
        wrong = {"inputs": [{"name": "smi", "shape": [1], "datatype": "BYTES", "data": ["C"]}]}
        assert "'smiles'" in _v2_error(c.post(f"/v2/models/{MODEL}/infer", json=wrong), 400)
        # read as the schema says: a boolean is not a size (pydantic's lax mode took false for 0)
        bool_shape = {"inputs": [{"name": "smiles", "shape": [True], "datatype": "BYTES", "data": ["C"]}]}
        assert "shape" in _v2_error(c.post(f"/v2/models/{MODEL}/infer", json=bool_shape), 400)
        unknown = {**body, "outputs": [{"name": "logits"}]}
        assert "outputs.0.name" in _v2_error(c.post(f"/v2/models/{MODEL}/infer", json=unknown), 400)
        assert MODEL in _v2_error(c.post("/v2/models/other/infer", json=body), 404)
        assert "served models" in _v2_error(c.get("/v2/models/other"), 404)


def test_an_off_the_shelf_v2_client_calls_it(serve):
    import tritonclient.http as triton

    with serve() as service:
        client = triton.InferenceServerClient(url=service.url.removeprefix("http://"))
        try:
            assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(MODEL)
            assert client.get_model_metadata(MODEL)["name"] == MODEL
            smiles = triton.InferInput("smiles", [3], "BYTES")
            smiles.set_data_from_numpy(np.array(["CCO", "xyz", "c1ccccc1O"], dtype=object), binary_data=False)
            outputs = [
                triton.InferRequestedOutput(n, binary_data=False) for n in ("mean", "std", "in_domain")
            ]
            result = client.infer(MODEL, [smiles], outputs=outputs)
        finally:
            client.close()
        mean, std = result.as_numpy("mean"), result.as_numpy("std")
        assert mean.shape == (3,) and np.isfinite(mean[[0, 2]]).all() and np.isnan(mean[1])
        assert (std[[0, 2]] > 0).all()
        assert result.as_numpy("in_domain").dtype == bool
        client = triton.InferenceServerClient(url=service.url.removeprefix("http://"))
        with pytest.raises(triton.InferenceServerException, match="not served here"):
            client.get_model_metadata("other")
        client.close()


def test_auth_roles(serve):
    keys = {"reader": ("read", "mk_read_123"), "boss": ("admin", "mk_admin_456")}
    configured = [ApiKey(name=n, role=r, hash=hash_key(k)) for n, (r, k) in keys.items()]
    with serve(keys=configured) as service, service.client() as c:
        assert "API key is required" in _error(
            c.post("/v1/predict", json={"smiles": ["C"]}), 401, "unauthorized"
        )
        wrong = c.post("/v1/predict", json={"smiles": ["C"]}, headers={"Authorization": "Bearer nope"})
        assert "not valid" in _error(wrong, 401, "unauthorized")
        read = {"Authorization": "Bearer mk_read_123"}
        assert c.post("/v1/predict", json={"smiles": ["C"]}, headers=read).status_code == 200
        assert c.get("/v1/models", headers={"X-API-Key": "mk_read_123"}).status_code == 200
        assert "'read'" in _error(c.post("/v1/models/reload", headers=read), 403, "forbidden")
        assert c.post("/v1/models/reload", headers={"X-API-Key": "mk_admin_456"}).status_code == 200
        # a sent X-API-Key is the key, even blank: a valid bearer token beside it does not rescue it
        blank = c.get("/v1/models", headers={"X-API-Key": "", "Authorization": "Bearer mk_read_123"})
        _error(blank, 401, "unauthorized")
        # the schema says how to send a key and which role each operation needs
        schema = c.get("/openapi.json").json()
        schemes = schema["components"]["securitySchemes"]
        assert (schemes["ApiKey"]["in"], schemes["ApiKey"]["name"]) == ("header", "X-API-Key")
        assert (schemes["Bearer"]["type"], schemes["Bearer"]["scheme"]) == ("http", "bearer")
        reload = schema["paths"]["/v1/models/reload"]["post"]
        assert reload["security"] == [{"ApiKey": ["admin"]}, {"Bearer": ["admin"]}]
        assert reload["x-required-role"] == "admin" and "role `admin`" in reload["description"]
        predict = schema["paths"]["/v1/predict"]["post"]
        assert predict["x-required-role"] == "read" and {"413", "415"} <= set(predict["responses"])
        assert schema["paths"]["/v2/models/{name}/infer"]["post"]["x-required-role"] == "read"
        assert "security" not in schema["paths"]["/healthz"]["get"]
        # probes and metrics stay open for the orchestrator and Prometheus
        assert (
            c.get("/healthz").status_code
            == c.get("/readyz").status_code
            == c.get("/metrics").status_code
            == 200
        )
    log = PredictionLog.of(service.ws).read()
    assert set(log["client"]) == {"reader"}


def test_metrics_count_requests_molecules_and_batches(serve):
    with serve() as service, service.client() as c:
        for _ in range(3):
            c.post("/v1/predict", json={"smiles": ["CCO", "xyz"]})
        c.post("/v1/predict", json={"smiles": ["C"] * 2000})  # 413
        assert service.metric("molops_requests_total", route="/v1/predict", status="200") == 3
        assert service.metric("molops_requests_total", route="/v1/predict", status="413") == 1
        assert service.metric("molops_request_errors_total", code="too_many_molecules") == 1
        assert service.metric("molops_molecules_total", model=MODEL, outcome="ok") == 3
        assert service.metric("molops_molecules_total", model=MODEL, outcome="invalid") == 3
        assert service.metric("molops_batch_size_sum", model=MODEL) == 6
        assert service.metric("molops_request_duration_seconds_count", route="/v1/predict") == 4
        assert service.metric("molops_model_info", model=MODEL, alias="champion", version="1") == 1
        assert service.metric("molops_prediction_mean_zscore_count", model=MODEL) == 3
        response = c.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain")


def test_a_pathological_molecule_is_stopped_and_its_request_answered(serve):
    with serve() as service, service.client() as c:  # molecule_timeout_ms = 250 (the default)
        # timed once the model is loaded and the chemistry children answered: loading is not the point
        wait_until(lambda: c.get("/readyz").status_code == 200, 60, "the model to load")
        assert c.post("/v1/predict", json={"smiles": ["CC"]}).json()["results"][0]["error"] is None
        started = time.perf_counter()
        response = c.post("/v1/predict", json={"smiles": ["CCO", PATHOLOGICAL, "c1ccccc1O"]})
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text
        ok, stopped, also_ok = response.json()["results"]
        assert ok["error"] is None and also_ok["error"] is None and math.isfinite(ok["mean"])
        assert stopped["error"].startswith("timeout: it took longer than its budget of 250 ms")
        assert stopped["mean"] is None
        # the request did not wait for the molecule: timed against parsing it here, under the same load
        alone = time.perf_counter()
        assert Chem.MolFromSmiles(PATHOLOGICAL) is not None
        alone = time.perf_counter() - alone
        assert elapsed < alone, f"the request took {elapsed:.2f} s, the molecule alone {alone:.2f} s"
        assert service.metric("molops_molecules_total", model=MODEL, outcome="timeout") == 1
        # the worker is free: the next request is answered at once
        assert c.post("/v1/predict", json={"smiles": ["CCN"]}).json()["results"][0]["error"] is None


def test_without_chemistry_processes_the_request_times_out_instead(serve):
    # three spellings, so the prepared-molecule cache cannot answer two of them: 3 × 2.4 s > 5 s
    slow = [f"{PATHOLOGICAL}.{'C' * n}" for n in (1, 2, 3)]
    with serve(chemistry_processes=0) as service, service.client() as c:
        response = c.post("/v1/predict", json={"smiles": ["CCO", *slow]})
        assert "time budget of 5.0 s" in _error(response, 504, "timeout")


def test_concurrent_requests_share_model_calls(serve):
    async def burst(url: str, n: int) -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            responses = await asyncio.gather(
                *(client.post("/v1/predict", json={"smiles": [f"C{'C' * (i % 7)}O"]}) for i in range(n))
            )
        return [r.status_code for r in responses]

    with serve(max_wait_ms=20) as service:
        assert asyncio.run(burst(service.url, 48)) == [200] * 48
        calls = service.metric("molops_batch_size_count", model=MODEL)
        assert service.metric("molops_batch_size_sum", model=MODEL) == 48
        assert calls <= 24, f"48 concurrent requests took {calls} model calls"


def test_hot_swap_when_the_alias_moves_fails_no_request(serve):
    with serve(poll_s=0.1) as service:
        seen: list[tuple[int, int | None]] = []
        stop = threading.Event()

        def hammer() -> None:
            with service.client() as c:
                while not stop.is_set():
                    r = c.post("/v1/predict", json={"smiles": ["CCO", "CCN"]})
                    seen.append(
                        (r.status_code, r.json()["results"][0]["model_version"] if r.is_success else None)
                    )

        workers = [threading.Thread(target=hammer) for _ in range(3)]
        for w in workers:
            w.start()
        wait_until(lambda: len(seen) >= 10, 30, "answers before the alias moves")
        ModelRegistry(Tracking.of(service.ws).uri, "tester").promote(MODEL, 2, reason="test")
        wait_until(lambda: any(v == 2 for _, v in seen[-5:]), 30, "answers from version 2")
        swapped = len(seen)
        wait_until(lambda: len(seen) >= swapped + 20, 30, "answers after the swap")
        stop.set()
        for w in workers:
            w.join()
        assert {s for s, _ in seen} == {200}
        versions = [v for _, v in seen]
        assert versions[0] == 1 and versions[-1] == 2
        assert versions.index(2) > 0 and 1 not in versions[versions.index(2) + 10 :]
        assert service.metric("molops_model_swaps_total", model=MODEL) == 1
        assert service.metric("molops_model_info", model=MODEL, version="2") == 1
        assert service.metric("molops_model_info", model=MODEL, version="1") == 0


def test_every_prediction_is_logged_by_shutdown_with_shadow_beside(serve):
    with serve(shadow_alias="challenger", log_interval_s=60) as service, service.client() as c:
        assert _wait_for_second_alias(c)["mode"] == "mirror"
        ids = [c.post("/v1/predict", json={"smiles": SMILES}).json()["request_id"] for _ in range(7)]
        assert c.get("/v1/models").json()["models"][0]["shadow"]["version"] == 3
        mirrored = 2 * 7 * len(SMILES)  # mirrored calls finish after their answers
        wait_until(lambda: service.metric("molops_batch_size_sum", model=MODEL) >= mirrored, 10, "mirrors")
        assert PredictionLog.of(service.ws).count() == 0  # buffered: nothing written for 60 s
    log = PredictionLog.of(service.ws)
    primary, shadow = log.read(), log.read(role="shadow")
    assert len(primary) == len(shadow) == 7 * len(SMILES)
    assert list(dict.fromkeys(primary["request_id"])) == ids
    assert set(primary["model_version"]) == {1} and set(shadow["model_version"]) == {3}
    assert primary["smiles"].tolist()[: len(SMILES)] == SMILES
    assert primary["error"].notna().sum() == 7 * 2 and (primary["latency_ms"] > 0).all()
    assert set(primary["source"]) == {"api"} and set(primary["model_alias"]) == {"champion"}


def test_a_canary_answers_its_share_and_is_logged_as_canary(serve):
    settings = {"shadow_alias": "challenger", "shadow_mode": "canary", "shadow_share": 0.5}
    with serve(**settings) as service, service.client() as c:
        second = _wait_for_second_alias(c)
        assert (second["mode"], second["share"], second["version"]) == ("canary", 0.5, 3)
        answers = [c.post("/v1/predict", json={"smiles": ["CCO", "CCN"]}).json() for _ in range(40)]
    versions = [a["results"][0]["model_version"] for a in answers]
    assert all(len({r["model_version"] for r in a["results"]}) == 1 for a in answers)  # one version each
    assert 5 <= versions.count(3) <= 35 and versions.count(1) + versions.count(3) == 40
    log = PredictionLog.of(service.ws)
    primary, canary = log.read(), log.read(role="canary")
    assert set(primary["model_version"]) == {1} and set(canary["model_version"]) == {3}
    assert len(canary) == 2 * versions.count(3) and len(primary) == 2 * versions.count(1)
    assert log.read(role="shadow").empty  # a canary answers instead; nothing is mirrored


def test_a_model_that_cannot_load_is_live_but_not_ready(served_ws):
    from .conftest import live

    refs = [ModelRef(name=MODEL, version=99)]
    with live(served_ws, refs=refs, wait_ready=False) as service, service.client() as c:
        wait_until(lambda: c.get("/readyz").json()["status"] != "loading", 30, "loading to end")
        ready = c.get("/readyz")
        assert (
            ready.status_code == 503 and ready.json()["status"] == "failed" and "99" in ready.json()["detail"]
        )
        assert c.get("/healthz").status_code == 200 and c.get("/v2/health/ready").status_code == 503
        assert "could not be loaded" in _error(
            c.post("/v1/predict", json={"smiles": ["C"]}), 503, "model_unavailable"
        )


def test_monitoring_results_are_exported_as_gauges(serve):
    with serve(monitor_interval_s=0.2, log_interval_s=0.1) as service, service.client() as c:
        for _ in range(7):  # 35 molecules, 14 of them not valid
            c.post("/v1/predict", json={"smiles": SMILES})
        # a run that started before the last rows were written is stale: wait for one after
        wait_until(
            lambda: service.metric("molops_monitor_verdict", model=MODEL, check="error_rate") == 3,
            60,
            "the error-rate check to alert",
        )
        assert service.metric("molops_monitor_runs_total", model=MODEL, outcome="ok") >= 1
        # three distinct valid molecules: too few for the drift tests, so "insufficient data" (1), no alarm
        assert service.metric("molops_monitor_verdict", model=MODEL, check="descriptor_drift") == 1
        # 40% of the molecules answered with an error: the error-rate check alerts (3)
        assert service.metric("molops_monitor_statistic", model=MODEL, check="error_rate") == 0.4
        assert service.metric("molops_monitor_threshold", model=MODEL, check="error_rate") == 0.25
        assert service.metric("molops_monitor_runs_total", model=MODEL, outcome="failed") == 0
