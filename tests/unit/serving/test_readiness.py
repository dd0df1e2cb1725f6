"""``/readyz`` means a request is answered warm: every served version has answered a molecule
through each chemistry child before readiness, so the first request does not pay the children's
and the model's first-use costs inside its time budget (it was answered 504 on a busy machine)."""

from __future__ import annotations

from _wait import wait_until
from molops.serving.models import Loaded
from molops.tracking.registry import ModelRegistry
from molops.tracking.store import Tracking

from .conftest import MODEL


def test_readyz_waits_until_every_chemistry_child_answered_the_model(serve):
    with serve(wait_ready=False, chemistry_processes=2) as service, service.client() as c:
        seen: list[int] = []

        def ready() -> bool:
            seen.append(c.get("/readyz").status_code)
            return seen[-1] == 200

        wait_until(ready, 120, "/readyz to answer 200")
        loaded = service.ctx.models.models[MODEL].current  # read at once, as a request would
        assert loaded is not None
        assert loaded.warmup_s > 0, "the version was served before it answered a molecule"
        pool = service.ctx.models.chemistry
        assert pool is not None and pool.processes == 2 and pool.replaced == 0
        # the first request, at once, is answered in full by warm children
        response = c.post("/v1/predict", json={"smiles": ["CCO", "c1ccccc1O", "CCN", "CC(=O)O"]})
        assert response.status_code == 200, response.text
        assert [r["error"] for r in response.json()["results"]] == [None] * 4


def test_a_hot_swap_warms_the_new_version_before_it_answers(serve):
    with serve(poll_s=0.1) as service, service.client() as c:
        served = service.ctx.models.models[MODEL]
        ModelRegistry(Tracking.of(service.ws).uri, "tester").promote(MODEL, 2, reason="test")

        def swapped() -> Loaded | None:
            loaded = served.current
            return loaded if loaded is not None and loaded.version == 2 else None

        loaded = wait_until(swapped, 30, "version 2 to be served")
        assert loaded.warmup_s > 0, "version 2 answered requests before it answered a molecule"
        answer = c.post("/v1/predict", json={"smiles": ["CCO"]}).json()["results"][0]
        assert answer["model_version"] == 2 and answer["error"] is None
