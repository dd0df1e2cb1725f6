"""``molops explain`` through the CLI: JSON and human output, similarity maps, bad input."""

from __future__ import annotations

import math

import pytest

from ._cli import assert_one_line_error, molops
from .conftest import NAME

pytestmark = pytest.mark.integration


def test_explain_json_and_maps(trained, tmp_path):
    maps = tmp_path / "maps"
    res = molops("explain", "-m", NAME, "CCO", "Clc1ccccc1", "--svg", maps, "--json", "-w", trained.ws)
    data = res.ok().json()
    assert data["model_name"] == NAME and data["model_version"] == 1
    ethanol, chlorobenzene = data["results"]
    assert len(ethanol["atom_weights"]) == 3 and len(chlorobenzene["atom_weights"]) == 7
    for result in data["results"]:
        total = result["base_value"] + sum(result["atom_weights"]) + result["remainder"]
        assert math.isclose(total, result["prediction"], rel_tol=1e-9, abs_tol=1e-9)
        assert result["method"] == "shap_tree" and result["error"] is None
        assert result["svg"] == str(maps / f"{result['inchikey']}.svg")
    assert sorted(p.name for p in maps.iterdir()) == sorted(f"{r['inchikey']}.svg" for r in data["results"])


def test_explain_human_output_and_bad_smiles(trained):
    res = molops("explain", "-m", NAME, "CCO", "C1CC", "-w", trained.ws)
    assert res.returncode == 1, str(res)
    assert "CCO:" in res.stdout and "shap_tree" in res.stdout
    assert "C1CC:" in res.stderr and "1 of 2 SMILES could not be explained" in res.stderr


def test_explain_an_unknown_model(trained):
    assert_one_line_error(molops("explain", "-m", "nope", "CCO", "-w", trained.ws), "nope")
