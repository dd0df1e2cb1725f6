"""``molops data ingest --builtin NAME``: the data that ships with the install, through the CLI."""

from __future__ import annotations

import pytest

from ._cli import molops, read_csv, version_numbers

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: name -> (rows in the shipped file, target column, units)
BUILTINS = {
    "freesolv": (642, "expt", "kcal/mol"),
    "solubility": (1025, "SOL", "log(mol/L)"),
    "solubility-test": (257, "SOL", "log(mol/L)"),
}


@pytest.mark.parametrize("name", list(BUILTINS))
def test_builtin_ingest(workspace, tmp_path, name):
    rows_in, target, units = BUILTINS[name]
    r = molops("data", "ingest", "--builtin", name, "-w", workspace, "--json").json()
    assert (r["dataset"], r["version"], r["unchanged"], r["rows_in"]) == (name, 1, False, rows_in)
    assert (r["target"], r["units"]) == (target, units)
    assert r["rows_in"] == r["accepted"] + r["quarantined"] + r["merged_duplicates"]
    assert sum(r["reasons"].values()) == r["quarantined"]
    assert r["added"] == r["accepted"] > 0.95 * rows_in

    again = molops("data", "ingest", "--builtin", name, "-w", workspace, "--json").json()
    assert (again["version"], again["unchanged"], again["added"], again["updated"]) == (1, True, 0, 0)
    assert version_numbers(workspace, name) == [1]

    out = tmp_path / f"{name}.csv"
    molops("data", "export", name, out, "-w", workspace).ok()
    rows = read_csv(out)
    assert len(rows) == r["accepted"]
    assert len({row["inchikey"] for row in rows}) == len(rows)
    assert all(row["smiles"] and row[target] for row in rows)
    assert sum(int(row[f"{target}_n"]) for row in rows) == r["accepted"] + r["merged_duplicates"]

    q = molops("data", "quarantine", name, "-w", workspace, "--json").json()
    assert q["quarantined"] == r["quarantined"]
    assert q["reasons"] == r["reasons"]


def test_builtin_into_another_dataset_name(workspace):
    r = molops(
        "data", "ingest", "--builtin", "solubility-test", "-d", "holdout", "-w", workspace, "--json"
    ).json()
    assert (r["dataset"], r["version"], r["rows_in"]) == ("holdout", 1, 257)
    listing = molops("data", "list", "-w", workspace, "--json").json()
    assert [(d["name"], d["targets"]) for d in listing["datasets"]] == [("holdout", ["SOL"])]
