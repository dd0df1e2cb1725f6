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


def test_ingest_prints_each_warning_on_stderr_and_json_keeps_them_in_the_report(run: Run, ws, write):
    # two duplicated columns molops does not read, one of them named like rich markup
    path = write("m.csv", "id,[b],smiles,y,id,[b]\na,1,CCO,1.5,a,2\nb,3,c1ccccc1,2.0,b,4\n")
    expected = [
        f"warning: {path}: the column 'id' appears twice (columns 1 and 5); molops does not read it",
        f"warning: {path}: the column '[b]' appears twice (columns 2 and 6); molops does not read it",
    ]
    res = run("data", "ingest", path, "-d", "assay", "--target-col", "y", "-w", ws.root)
    assert res.code == 0, res
    assert res.stderr.splitlines() == expected
    assert "assay: version 1" in res.stdout and "warning" not in res.stdout

    again = run("data", "ingest", path, "-d", "assay", "--target-col", "y", "-w", ws.root, "--json")
    assert again.code == 0, again
    assert "warning" not in again.stderr
    assert [f"warning: {w}" for w in json.loads(again.stdout)["warnings"]] == expected


def test_ingest_without_warnings_prints_none(run: Run, ws, write):
    path = write("m.csv", "smiles,y\nCCO,1.5\n")
    res = run("data", "ingest", path, "-d", "assay", "--target-col", "y", "-w", ws.root)
    assert res.code == 0, res
    assert "warning" not in res.stderr


def test_show_warns_when_a_version_was_named_before_e_z_was_identity(run: Run, ws, write, monkeypatch):
    import molops.data.ingest as ingest_module

    path = write("ez.csv", "smiles,y\nC/C=C/C(=O)O,1.0\nC/C=C\\C(=O)O,2.0\n")
    monkeypatch.setattr(ingest_module, "STANDARDIZER_VERSION", 3)  # as molops before standardiser 4
    assert run("data", "ingest", path, "-d", "assay", "--target-col", "y", "-w", ws.root).code == 0
    monkeypatch.undo()
    shown = run("data", "show", "assay", "-w", ws.root)
    assert shown.code == 0, shown
    (line,) = shown.stderr.splitlines()
    assert line.startswith("warning: dataset 'assay' version 1: 2 molecule(s) with a double bond's E/Z")
    as_json = run("data", "show", "assay", "-w", ws.root, "--json")
    assert as_json.stderr == ""
    assert [f"warning: {w}" for w in json.loads(as_json.stdout)["warnings"]] == [line]
