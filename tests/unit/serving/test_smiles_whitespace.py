"""A SMILES with whitespace inside it is an error over the real endpoints, never its first part
(RDKit reads up to the first space and takes the rest as a name); surrounding spaces are ignored.
A CXSMILES (a SMILES, a space, one ``|...|`` extension) is the exception, as the schema says."""

from __future__ import annotations

import math
from typing import Any

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


def _infer_v2(serve: Any, smiles: list[str]) -> tuple[dict[str, Any], ...]:
    """The mean, error and canonical_smiles outputs of one ``/v2`` inference over *smiles*."""
    body = {
        "inputs": [{"name": "smiles", "shape": [len(smiles)], "datatype": "BYTES", "data": smiles}],
        "outputs": [{"name": "mean"}, {"name": "error"}, {"name": "canonical_smiles"}],
    }
    with serve() as service, service.client() as client:
        response = client.post(f"/v2/models/{MODEL}/infer", json=body)
        assert response.status_code == 200, response.text
        return tuple(response.json()["outputs"])


def test_v2_refuses_whitespace_inside_a_smiles(serve):
    mean, error, parent = _infer_v2(serve, INPUTS)
    _check([e or None for e in error["data"]], mean["data"])
    assert parent["data"][3:] == ["CCO", "CCO"]


#: a CXSMILES with coordinates, one with an atom label, one whose extension never closes its label,
#: and the plain SMILES the first two are
CXSMILES = ["CCO |(0,0,;1.3,0.75,;2.6,0,)|", "C1CC1 |$R;;$|", "C1CC1 |$R;;|", "CCO", "C1CC1"]


def _check_cx(errors: list[str | None], means: list[float | None], parents: list[str | None]) -> None:
    assert errors[:2] == [None, None] and errors[3:] == [None, None]
    assert errors[2] and errors[2].startswith("unparsable_structure:") and "CXSMILES extension" in errors[2]
    assert parents[:2] == ["CCO", "C1CC1"] and parents[3:] == ["CCO", "C1CC1"]
    assert means[0] == means[3] and means[1] == means[4] and means[0] != means[1]
    assert all(m is not None and math.isfinite(m) for m in means[:2])


def test_v1_reads_a_cxsmiles_and_its_schema_says_so(serve):
    with serve() as service, service.client() as client:
        response = client.post("/v1/predict", json={"smiles": CXSMILES})
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert [r["smiles"] for r in results] == CXSMILES
    _check_cx(
        [r["error"] for r in results], [r["mean"] for r in results], [r["canonical_smiles"] for r in results]
    )
    for described in (
        schema["PredictRequest"]["properties"]["smiles"]["description"],
        schema["SmilesTensor"]["properties"]["data"]["description"],
    ):
        assert "CXSMILES" in described and "whitespace inside it gets" not in described


def test_v2_reads_a_cxsmiles(serve):
    mean, error, parent = _infer_v2(serve, CXSMILES)
    _check_cx([e or None for e in error["data"]], mean["data"], [p or None for p in parent["data"]])
