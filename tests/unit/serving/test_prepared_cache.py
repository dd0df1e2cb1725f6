"""The prepared-molecule cache and concurrent serving (issue 19): repeated SMILES skip their
chemistry, yet every answer is the loaded version's own, whatever the concurrency, and every
request reaches the prediction log."""

from __future__ import annotations

import asyncio
import inspect

import httpx
import numpy as np
import pytest

from molops.chem.standardize import StandardizerSettings
from molops.data.prediction_log import PredictionLog
from molops.serving.auth import keyring, requirement
from molops.serving.deps import pipeline, service
from molops.serving.prepared_cache import PreparedCache
from molops.serving.routes_v1 import json_body
from molops.tracking.preparation import Preparation
from molops.tracking.registry import ModelRegistry
from molops.tracking.store import Tracking

from .conftest import MODEL

#: repeats on purpose: a micro-batch holds the same molecule several times, and the cache serves them
SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN", "xyz", "CCCCO", "OCC(O)CO", "Clc1ccccc1"]
FIELDS = ("canonical_smiles", "inchikey", "mean", "std", "applicability", "error", "model_version")

PLAIN = Preparation(StandardizerSettings(), None, False)


def _answers(url: str, bodies: list[list[str]], concurrent: bool) -> list[list[dict]]:
    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            if concurrent:
                return await asyncio.gather(*(client.post("/v1/predict", json={"smiles": b}) for b in bodies))
            return [await client.post("/v1/predict", json={"smiles": b}) for b in bodies]

    responses = asyncio.run(run())
    assert [r.status_code for r in responses] == [200] * len(bodies)
    return [[_rounded({k: item[k] for k in FIELDS}) for item in r.json()["results"]] for r in responses]


def _rounded(value: object) -> object:
    """Floats to 9 decimals: a forest averages its trees in another order for another batch size."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def test_the_cache_keeps_the_most_recently_used_molecules_without_errors():
    cache = PreparedCache(2)
    items = {s: PLAIN.molecule(s) for s in ("CCO", "CCN", "CCC", "xyz")}
    assert items["xyz"].error is not None
    cache.put_many(PLAIN, list(items), list(items.values()))  # "CCO" is evicted by "CCC"; xyz never kept
    assert len(cache) == 2
    assert cache.get_many(PLAIN, ["CCO", "CCN", "CCC", "xyz"]) == [None, items["CCN"], items["CCC"], None]
    assert (cache.hits, cache.misses) == (2, 2)
    cache.get_many(PLAIN, ["CCN"])  # now the most recent: "CCC" goes next
    cache.put_many(PLAIN, ["CCO"], [items["CCO"]])
    assert cache.get_many(PLAIN, ["CCN", "CCC", "CCO"]) == [items["CCN"], None, items["CCO"]]
    other = Preparation(StandardizerSettings(), "morgan", True)  # another bundle's preparation
    assert cache.get_many(other, ["CCN"]) == [None]
    with pytest.raises(ValueError, match="at least 1 molecule"):
        PreparedCache(0)


def test_kept_features_are_read_only():
    preparation = Preparation(StandardizerSettings(), "morgan", True)
    item = preparation.molecule("CCO")
    PreparedCache(4).put_many(preparation, ["CCO"], [item])
    assert item.features is not None and not item.features.flags.writeable
    with pytest.raises(ValueError):
        item.features[0] = 7


def test_per_request_dependencies_run_on_the_event_loop():
    # a plain def dependency runs in FastAPI's thread pool: one thread hop per request each
    for dependency in (requirement("read"), requirement("admin"), keyring, json_body, service, pipeline):
        assert inspect.iscoroutinefunction(dependency), dependency


@pytest.mark.parametrize("chemistry_processes", [0, 1])
def test_concurrent_answers_equal_sequential_answers_without_the_cache(serve, chemistry_processes):
    bodies = [[SMILES[(i * 3 + j) % len(SMILES)] for j in range(1 + i % 3)] for i in range(48)]
    with serve(max_wait_ms=20, chemistry_processes=chemistry_processes) as service:
        concurrent = _answers(service.url, bodies, concurrent=True)
        cache = service.ctx.models.models[MODEL].cache
        assert cache is not None and cache.hits > 0  # repeated molecules came from the cache
        assert service.metric("molops_batch_size_count", model=MODEL) < len(bodies)  # batched
    with serve(cache_molecules=0, chemistry_processes=chemistry_processes) as service:
        assert service.ctx.models.models[MODEL].cache is None
        sequential = _answers(service.url, bodies, concurrent=False)
    assert concurrent == sequential


def test_a_promotion_is_never_answered_from_the_cache(serve):
    with serve(chemistry_processes=0) as service:
        before = _answers(service.url, [SMILES], concurrent=False)[0]
        registry = ModelRegistry(Tracking.of(service.ws).uri, "tester")
        registry.promote(MODEL, 3, reason="test")  # v3: another seed, the same featurizer
        with httpx.Client(base_url=service.url, timeout=60) as c:
            assert c.post("/v1/models/reload").json()["models"][0]["version"] == 3
        after = _answers(service.url, [SMILES], concurrent=False)[0]
        assert service.ctx.models.models[MODEL].cache.hits >= len(SMILES) - 1  # all but the invalid one
    bundle, _ = registry.load(f"{MODEL}:3")
    expected = bundle.predict(SMILES)
    good = [i for i, item in enumerate(after) if item["error"] is None]
    assert {item["model_version"] for item in before} == {1}
    assert {item["model_version"] for item in after} == {3}
    np.testing.assert_allclose([after[i]["mean"] for i in good], expected["mean"].iloc[good], rtol=1e-9)
    assert [after[i]["mean"] for i in good] != [before[i]["mean"] for i in good]


def test_every_concurrent_request_is_in_the_prediction_log_after_shutdown(serve):
    n = 120

    async def burst(url: str) -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/v1/predict",
                        json={"smiles": [SMILES[i % len(SMILES)], SMILES[(i + 1) % len(SMILES)]]},
                        headers={"X-Request-ID": f"burst-{i}"},
                    )
                    for i in range(n)
                )
            )
        return [r.status_code for r in responses]

    with serve(log_interval_s=60, chemistry_processes=0) as service:  # nothing written before shutdown
        assert asyncio.run(burst(service.url)) == [200] * n
    frame = PredictionLog.of(service.ws).read()
    assert len(frame) == 2 * n
    assert frame["client_request_id"].value_counts().to_dict() == {f"burst-{i}": 2 for i in range(n)}
