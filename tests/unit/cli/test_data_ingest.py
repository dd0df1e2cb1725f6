"""``molops data ingest FILE`` finds the SMILES column by itself, as the other commands do."""

from __future__ import annotations

import json

import pytest

from .conftest import Run


@pytest.mark.parametrize("header", ["smiles", "SMILES"])
def test_ingest_defaults_to_the_smiles_column(run: Run, ws, write, header):
    path = write("m.csv", f"id,{header},y\na,CCO,1.5\nb,c1ccccc1,2.0\n")
    res = run("data", "ingest", path, "-d", "assay", "--target-col", "y", "-w", ws.root, "--json")
    assert res.code == 0, res
    report = json.loads(res.stdout)
    assert (report["version"], report["accepted"]) == (1, 2)


def test_ingest_without_a_smiles_column_lists_the_columns(run: Run, ws, write):
    path = write("m.csv", "id,structure,y\na,CCO,1.5\n")
    res = run("data", "ingest", path, "-d", "assay", "--target-col", "y", "-w", ws.root)
    assert res.code == 2, res
    assert res.stderr.strip() == (
        f"error: {path}: no column named 'smiles' (in any case) and no --smiles-col; "
        "the file has 'id', 'structure', 'y'"
    )
    assert not ws.dataset("assay").exists()
