"""A mistyped dataset name is answered with the datasets the workspace has, whatever the command."""

from __future__ import annotations

import pytest

from .conftest import Run

COMMANDS = {
    "features build": ["features", "build", "-f", "morgan", "--dataset", "asay"],
    "data versions": ["data", "versions", "asay"],
    "data show": ["data", "show", "asay"],
    "data diff": ["data", "diff", "asay", "1", "2"],
    "data export": ["data", "export", "asay", "out.csv"],
    "data quarantine": ["data", "quarantine", "asay"],
    "data rollback": ["data", "rollback", "asay", "--to-version", "1"],
}


@pytest.fixture
def assay(ws, write):
    ws.dataset("assay").ingest(write("a.csv", "smiles,y\nCCO,1\n"), smiles_col="smiles", target_col="y")
    return ws


@pytest.mark.parametrize("command", COMMANDS)
def test_unknown_dataset_lists_the_datasets(run: Run, assay, command):
    res = run(*COMMANDS[command], "-w", assay.root)
    assert res.code == 2, res
    assert res.stderr.strip() == f"error: no dataset 'asay' in {assay.root}; datasets: assay", res
    assert not assay.dataset("asay").exists()
