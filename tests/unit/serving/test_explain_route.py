"""``POST /v1/explain`` over a real socket: per-atom weights that add up to what /v1/predict
answers, errors per molecule, the request limits, authentication, metrics and the schema."""

from __future__ import annotations

import math

import pytest
from rdkit import Chem

from molops.config import ApiKey
from molops.serving.auth import hash_key

from .conftest import MODEL

pytestmark = pytest.mark.slow

SMILES = ["CCO", "xyz", "Clc1ccccc1C(=O)O", ""]


def test_explain_answers_every_molecule_in_order(serve):
    with serve(max_molecules=4) as service, service.client() as c:
        response = c.post("/v1/explain", params={"svg": "true"}, json={"smiles": SMILES})
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        predicted = c.post("/v1/predict", json={"smiles": SMILES}).json()["results"]
        assert [r["smiles"] for r in results] == SMILES
        for result, prediction in zip(results, predicted, strict=True):
            assert result["model_name"] == MODEL and result["model_version"] == 1
            assert result["error"] == prediction["error"]  # the same sentence for the same molecule
            if result["error"] is not None:
                assert result["atom_weights"] == [] and result["svg"] is None
                continue
            mol = Chem.MolFromSmiles(result["canonical_smiles"])
            assert len(result["atom_weights"]) == mol.GetNumAtoms()
            assert result["method"] == "shap_tree"
            total = result["base_value"] + sum(result["atom_weights"]) + result["remainder"]
            assert math.isclose(total, result["prediction"], rel_tol=1e-9, abs_tol=1e-9)
            assert math.isclose(result["prediction"], prediction["mean"], rel_tol=1e-9)
            assert result["svg"].lstrip().startswith("<?xml")

        too_many = c.post("/v1/explain", json={"smiles": ["C"] * 5})
        assert too_many.status_code == 413 and too_many.json()["error"]["code"] == "too_many_molecules"
        unknown = c.post("/v1/explain", json={"smiles": ["C"], "model": "nope"})
        assert unknown.status_code == 404 and "nope" in unknown.json()["error"]["message"]
        as_text = c.post("/v1/explain", content=b"CCO", headers={"content-type": "text/plain"})
        assert as_text.status_code == 415

        assert service.metric("molops_requests_total", route="/v1/explain", status="200") == 1
        assert service.metric("molops_requests_total", route="/v1/explain", status="413") == 1
        schema = c.get("/openapi.json").json()
        explain = schema["paths"]["/v1/explain"]["post"]
        assert explain["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "ExplainResponse"
        )
        assert "atom_weights" in schema["components"]["schemas"]["ExplainResult"]["properties"]


def test_explain_needs_a_key_like_predict(serve):
    configured = [ApiKey(name="reader", role="read", hash=hash_key("mk_read_123"))]
    with serve(keys=configured) as service, service.client() as c:
        assert c.post("/v1/explain", json={"smiles": ["C"]}).status_code == 401
        read = {"Authorization": "Bearer mk_read_123"}
        answered = c.post("/v1/explain", json={"smiles": ["CCO"]}, headers=read)
        assert answered.status_code == 200 and len(answered.json()["results"][0]["atom_weights"]) == 3
