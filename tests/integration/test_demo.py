"""``molops demo`` runs end to end offline, and later runs (human and JSON output) reuse the workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._cli import clean_env, molops, read_csv, version_numbers

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUILTIN_ROWS = {"freesolv": 642, "solubility": 1025, "solubility-test": 257}
STEPS = (
    "1. Workspace",
    "2. Built-in data ingested",
    "3. A lab sends new results",
    "4. Versions",
    "5. Quarantine",
    "6. Exported",
    "8. Models",
    "9. Batch prediction",
    "10. Active learning",
    "11. Serving",
    "12. Monitoring",
)
OFFLINE = {k: "http://127.0.0.1:9" for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}


@pytest.mark.timeout(900)  # the first run trains, tunes and runs a campaign: minutes on 2 busy cores
def test_demo_three_times(tmp_path):
    ws = tmp_path / "demo-ws"
    env = clean_env(**OFFLINE, no_proxy="")  # any network access would fail
    first = molops("demo", "--dir", ws, "--json", cwd=tmp_path, env=env, timeout=600).json()

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

    # -- models: a champion explored on FreeSolv, a tuned challenger, ChEMBL predicted -------------
    models = first["models"]
    assert [t["model_version"] for t in models["trained"]] == [1, 2]
    assert [t["alias"] for t in models["trained"]] == ["champion", "challenger"]
    assert models["trained"][0]["comparison"] and models["trained"][1]["tuning"]
    assert {v["version"]: v["aliases"] for v in models["registered"]["versions"]} == {
        1: ["champion"],
        2: ["challenger"],
    }
    predictions = read_csv(Path(models["predictions"]["output"]))
    assert len(predictions) == models["predictions"]["n"] == 2000
    assert sum(1 for r in predictions if r["error"]) == models["predictions"]["errors"]

    # -- the campaign: two rounds of propose → the lab's values → ingest, then the status ------------
    loop = first["campaign"]
    assert [r["proposed"] for r in loop["rounds"]] == [20, 20]
    assert [r["answered"] for r in loop["rounds"]] == [20, 20]
    status = loop["status"]
    first_n, second_n = (it["n_train"] for it in status["iterations"])
    assert 55 <= first_n <= 60 and second_n == first_n + 20  # the 60 the lab had (as ingested), then +20
    assert status["proposals"] == {"total": 40, "answered": 40, "open": 0}
    assert status["budget"]["molecules_left"] == 0
    assert Path(loop["plot"]).read_bytes()[:4] == b"\x89PNG"

    # -- serving: one v1 request (one molecule is not a SMILES) and one v2 request, all logged -------
    served = first["serve"]
    assert [r["smiles"] for r in served["results"]] == ["CCO", "c1ccccc1O", "CC(C)(C)c1ccc(cc1)S(=O)(=O)N",
                                                        "not-a-smiles"]  # fmt: skip
    assert [r["error"] is None for r in served["results"]] == [True, True, True, False]
    assert served["v2"]["model_name"] == "freesolv-expt" and served["logged"] == 5

    # -- monitoring: the ChEMBL batch is not FreeSolv's chemistry; retraining on the same data with
    # the same recipe gives the same model, which the gate rejects --------------------------------
    watched = first["monitor"]
    checks = {c["name"]: c["verdict"] for c in watched["report"]["checks"]}
    assert watched["report"]["verdict"] == "alert" and checks["descriptor_drift"] == "alert"
    assert watched["report"]["window"]["n"] == 2000 + 5
    assert Path(watched["html"]).read_text().count("<img") >= 4
    assert watched["retrain"]["triggered"] and not watched["retrain"]["promoted"]
    assert any(t.startswith("drift") for t in watched["retrain"]["triggers"])

    # -- second run, human output: the same workspace is reused, nothing is trained again ----------
    human = molops("demo", "--dir", ws, cwd=tmp_path, env=env).ok()
    assert "demo finished" in human.stderr and "Traceback" not in human.stderr
    for step in STEPS:
        assert step in human.stdout, step
    assert "Model exploring" not in human.stdout  # the registered versions are shown, not retrained
    second = molops("demo", "--dir", ws, "--json", cwd=tmp_path, env=env).json()
    assert second["models"]["trained"] == []
    assert second["monitor"]["retrain"] is None  # decided by the first run
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
        "hydration": 3,  # the campaign's: the lab's first 60, then two measured batches
    }
    # a file already ingested is not ingested again, so a re-run changes nothing at all
    assert again["solubility"]["unchanged"] and second["update"]["unchanged"]
    assert (again["solubility"]["added"], again["solubility"]["updated"]) == (0, 0)
    assert again["solubility"]["version"] == second["update"]["version"] == 2
    assert second["versions"] == [1, 2]
