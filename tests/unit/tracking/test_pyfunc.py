"""The logged pyfunc model, through MLflow itself: ``mlflow.pyfunc.load_model(...).predict`` and the
JSON that ``mlflow models predict`` writes (its ``_predict``: CSV in, ``{"predictions": [...]}`` out)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pandas as pd
import pytest

from molops.tracking._mlflow import mlflow
from molops.tracking.pyfunc_model import smiles_of
from molops.tracking.registry import ModelRegistry

MODEL = "tiny-expt"
TEXT = ("smiles", "canonical_smiles", "inchikey", "error")


@pytest.fixture(scope="module")
def model_uri(tracked) -> Iterator[str]:
    """Where the champion's logged model lies (the tracked store's local artifacts)."""
    registry = ModelRegistry(tracked.uri)
    mv = registry.resolve(MODEL)
    yield registry.client.get_model_version_download_uri(mv.name, mv.version)


@pytest.fixture(scope="module")
def pyfunc(model_uri):
    return mlflow().pyfunc.load_model(model_uri)


def test_inputs_name_the_smiles_column_in_any_case():
    assert smiles_of(pd.DataFrame({"id": [1], "SMILES": ["CCO"]})) == ["CCO"]
    assert smiles_of(pd.DataFrame({"Smiles": ["CCO"], "smiles": ["CCN"]})) == ["CCN"]  # exact wins
    assert smiles_of({"SMILES": ("CCO", "CCN")}) == ["CCO", "CCN"]
    with pytest.raises(ValueError, match="could each hold the SMILES"):
        smiles_of(pd.DataFrame({"SMILES": ["CCO"], "Smiles": ["CCN"]}))
    with pytest.raises(ValueError, match="expected a 'smiles' column"):
        smiles_of({"a": ["CCO"], "b": ["CCN"]})


@pytest.mark.parametrize("column", ["smiles", "SMILES", "Smiles"])
def test_the_smiles_column_is_found_in_any_case(pyfunc, column):
    frame = pd.DataFrame({"id": [1, 2, 3], column: ["CCO", "xyz", "c1ccccc1O"]})
    out = pyfunc.predict(frame)
    assert list(out["smiles"]) == ["CCO", "xyz", "c1ccccc1O"]
    assert list(out["canonical_smiles"]) == ["CCO", None, "Oc1ccccc1"]
    assert out["error"][0] is None and out["error"][1].startswith("unparsable_structure")
    assert math.isfinite(out["mean"][0]) and math.isnan(out["mean"][1])


def test_two_smiles_columns_in_other_cases_are_refused(pyfunc):
    with pytest.raises(Exception, match="could each hold the SMILES"):
        pyfunc.predict(pd.DataFrame({"SMILES": ["CCO"], "Smiles": ["CCN"]}))


def test_missing_text_is_none_never_nan(pyfunc):
    out = pyfunc.predict(pd.DataFrame({"smiles": ["CCO", "xyz", None]}))
    for column in TEXT:
        assert not any(isinstance(v, float) for v in out[column]), (column, list(out[column]))
    assert list(out["inchikey"])[1:] == [None, None] and out["smiles"][2] is None


def test_a_smiles_with_whitespace_inside_it_is_an_error(pyfunc):
    out = pyfunc.predict(pd.DataFrame({"smiles": ["CCO\nCCN", " CCO ", "CCO ethanol"]}))
    assert out["error"][0].startswith("unparsable_structure") and "contains whitespace" in out["error"][0]
    assert out["error"][1] is None and out["canonical_smiles"][1] == "CCO"
    assert "contains whitespace" in out["error"][2] and math.isnan(out["mean"][2])


def test_mlflow_models_predict_writes_null_for_missing_text(model_uri, tmp_path):
    from mlflow.pyfunc.scoring_server import _predict  # what `mlflow models predict` runs

    src = tmp_path / "in.csv"
    src.write_text('id,SMILES\n1,CCO\n2,xyz\n3,\n4,"CCO\nCCN"\n', encoding="utf-8")
    out = tmp_path / "out.json"
    _predict(model_uri, str(src), str(out), "csv")
    text = out.read_text()
    predictions = json.loads(text)["predictions"]
    assert [p["smiles"] for p in predictions] == ["CCO", "xyz", None, "CCO\nCCN"]
    assert predictions[0]["error"] is None and predictions[0]["canonical_smiles"] == "CCO"
    assert [p["canonical_smiles"] for p in predictions[1:]] == [None, None, None]
    assert [p["error"].split(":")[0] for p in predictions[1:]] == [
        "unparsable_structure",
        "empty_structure",
        "unparsable_structure",
    ]
    for p in predictions:  # text is a string or null; a bare NaN would parse as a float
        assert all(p[c] is None or isinstance(p[c], str) for c in TEXT), p
