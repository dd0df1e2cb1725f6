"""``molops demo`` runs end to end offline, and a second run reuses the workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._cli import clean_env, molops, read_csv, version_numbers

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUILTIN_ROWS = {"freesolv": 642, "solubility": 1025, "solubility-test": 257}
OFFLINE = {k: "http://127.0.0.1:9" for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}


def test_demo_twice(tmp_path):
    ws = tmp_path / "demo-ws"
    env = clean_env(**OFFLINE, no_proxy="")  # any network access would fail
    first = molops("demo", "--dir", ws, "--json", cwd=tmp_path, env=env).json()

    # -- first run: a new workspace, the three built-in sets, then the lab update -----------------
    assert first["workspace"] == str(ws.resolve())
    assert (ws / "molops.toml").is_file()
    ingests = {r["dataset"]: r for r in first["ingests"]}
    assert set(ingests) == set(BUILTIN_ROWS)
    for name, r in ingests.items():
        assert (r["version"], r["unchanged"], r["rows_in"]) == (1, False, BUILTIN_ROWS[name])
        assert r["rows_in"] == r["accepted"] + r["quarantined"] + r["merged_duplicates"]
        assert sum(r["reasons"].values()) == r["quarantined"]
    update = first["update"]
    assert (update["dataset"], update["version"], update["source"]) == ("solubility", 2, "lab_results.csv")
    assert update["rows_in"] == 15
    assert update["rows_in"] == update["accepted"] + update["quarantined"] + update["merged_duplicates"]
    assert first["versions"] == [1, 2]
    assert first["diff"] == {"added": update["added"], "removed": 0, "changed": update["updated"]}
    [stats] = first["targets"]
    assert stats["target"] == "SOL"
    assert stats["count"] == ingests["solubility"]["accepted"] + update["added"]
    export = Path(first["export"])
    assert export == ws.resolve() / "exports" / "solubility.csv"
    assert len(read_csv(export)) == stats["count"]
    q = molops("data", "quarantine", "solubility", "--version", "2", "-w", ws, "--json").json()
    assert q["quarantined"] == update["quarantined"]
    assert {r["source"] for r in q["rows"]} == {"lab_results.csv"}

    # -- second run: the same workspace is reused -------------------------------------------------
    second = molops("demo", "--dir", ws, "--json", cwd=tmp_path, env=env).json()
    assert second["workspace"] == first["workspace"]
    again = {r["dataset"]: r for r in second["ingests"]}
    for name in ("freesolv", "solubility-test"):
        assert (again[name]["unchanged"], again[name]["version"]) == (True, 1), name
        assert (again[name]["added"], again[name]["updated"]) == (0, 0), name
        assert version_numbers(ws, name) == [1], name
    listing = molops("data", "list", "-w", ws, "--json").json()
    assert {d["name"]: d["latest_version"] for d in listing["datasets"]} == {
        "freesolv": 1,
        "solubility": second["versions"][-1],
        "solubility-test": 1,
    }
    # a file already ingested is not ingested again, so a re-run changes nothing at all
    assert again["solubility"]["unchanged"] and second["update"]["unchanged"]
    assert (again["solubility"]["added"], again["solubility"]["updated"]) == (0, 0)
    assert again["solubility"]["version"] == second["update"]["version"] == 2
    assert second["versions"] == [1, 2]


def test_human_demo_output(tmp_path):
    res = molops("demo", "--dir", tmp_path / "human", cwd=tmp_path).ok()
    assert "demo finished" in res.stderr
    assert "Traceback" not in res.stderr
    for step in (
        "1. Workspace",
        "2. Built-in data ingested",
        "3. A lab sends new results",
        "4. Versions",
        "5. Quarantine",
        "6. Exported",
    ):
        assert step in res.stdout
