"""A SMILES with whitespace inside it is an error over the real endpoints, never its first part
(RDKit reads up to the first space and takes the rest as a name); surrounding spaces are ignored."""

from __future__ import annotations

import math

from .conftest import MODEL

#: inputs; the first three have whitespace inside and were answered as ethanol
INPUTS = ["CCO\nCCN", "CCO CCN", "CCO\tethanol", " CCO ", "CCO"]


def _check(errors: list[str | None], means: list[float | None]) -> None:
    for error, mean in zip(errors[:3], means[:3], strict=True):
        assert error and error.startswith("unparsable_structure:") and "contains whitespace" in error
        assert mean is None or math.isnan(mean)
    assert errors[3:] == [None, None]
    assert means[3] == means[4] and math.isfinite(means[3])


def test_v1_refuses_whitespace_inside_a_smiles(serve):
    with serve() as service, service.client() as client:
        response = client.post("/v1/predict", json={"smiles": INPUTS})
        assert response.status_code == 200, response.text
        results = response.json()["results"]
    assert [r["smiles"] for r in results] == INPUTS  # echoed as sent
    _check([r["error"] for r in results], [r["mean"] for r in results])
    assert [r["canonical_smiles"] for r in results] == [None, None, None, "CCO", "CCO"]


def test_v2_refuses_whitespace_inside_a_smiles(serve):
    body = {
        "inputs": [{"name": "smiles", "shape": [len(INPUTS)], "datatype": "BYTES", "data": INPUTS}],
        "outputs": [{"name": "mean"}, {"name": "error"}, {"name": "canonical_smiles"}],
    }
    with serve() as service, service.client() as client:
        response = client.post(f"/v2/models/{MODEL}/infer", json=body)
        assert response.status_code == 200, response.text
        mean, error, parent = response.json()["outputs"]
    _check([e or None for e in error["data"]], mean["data"])
    assert parent["data"][3:] == ["CCO", "CCO"]
