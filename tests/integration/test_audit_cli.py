"""``molops audit``: two people changing one workspace through the real CLI on built-in data, and the
timeline of who did what, in order, with the filters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from molops.data.builtin import BUILTINS

from ._cli import clean_env, molops, write_csv

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAME = "freesolv-expt"
RF = '{"n_estimators": 10, "n_jobs": 1}'


def test_who_did_what(workspace, tmp_path):
    ws = ["-w", workspace]
    alice, bob = clean_env(MOLOPS_USER="alice"), clean_env(MOLOPS_USER="bob")
    molops("data", "ingest", "--builtin", "freesolv", *ws, "--json", env=alice).json()
    for _ in range(2):
        molops("train", "-d", "freesolv", "-m", "rf", "--params", RF, *ws, "--json", env=alice).json()
    cut = datetime.now(UTC)  # alice's processes have exited: every row after this is bob's or later
    molops("models", "promote", NAME, "2", "--reason", "lower RMSE", *ws, "--json", env=bob).json()
    pool = BUILTINS["solubility-test"].path()  # an SDF of molecules FreeSolv has not measured
    molops(
        "campaign", "create", "sol", "-d", "freesolv", "--pool", pool, "--target", "expt", "--minimize",
        "--model", "rf", "--params", RF, "--featurizer", "morgan", "--batch-size", "4", "--no-pains",
        *ws, "--json", env=bob,
    ).json()  # fmt: skip
    proposed = molops("campaign", "propose", "sol", "--no-track", *ws, "--json", env=bob).json()
    measured = [[p["smiles"], -5.0] for p in proposed["proposals"][:2]]
    results = write_csv(tmp_path / "results.csv", ["smiles", "expt"], measured)
    molops("campaign", "ingest", "sol", results, *ws, "--json", env=alice).json()

    entries = molops("audit", *ws, "--json").json()["entries"]
    timeline = [(e["user"], e["action"], e["subject"], e["version"]) for e in entries]
    assert timeline == [
        ("alice", "dataset.ingest", "freesolv", "1"),
        ("alice", "model.train", NAME, "1"),
        ("alice", "model.train", NAME, "2"),
        ("bob", "model.promote", NAME, "2"),
        ("bob", "campaign.create", "sol", None),
        ("bob", "campaign.propose", "sol", "1"),
        ("alice", "dataset.ingest", "freesolv", "2"),
        ("alice", "campaign.ingest", "sol", "2"),
    ]
    times = [datetime.fromisoformat(e["time"]) for e in entries]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    trained, promoted, proposal = entries[1]["details"], entries[3]["details"], entries[5]["details"]
    assert (trained["alias"], trained["dataset"], trained["dataset_version"]) == ("champion", "freesolv", 1)
    assert promoted == {"alias": "champion", "previous": 1, "operation": "promote", "reason": "lower RMSE"}
    assert proposal["proposed"] == 4
    assert entries[7]["details"]["answered"] == 2

    since = molops("audit", "--since", cut.isoformat(), *ws, "--json").json()
    assert [e["action"] for e in since["entries"]] == [a for _, a, _, _ in timeline[3:]]
    assert since["count"] == 5
    assert molops("audit", "--since", "1h", *ws, "--json").json()["count"] == 8
    by_bob = molops("audit", "--user", "bob", "--action", "campaign", *ws, "--json").json()["entries"]
    assert [e["action"] for e in by_bob] == ["campaign.create", "campaign.propose"]
    human = molops("audit", *ws, env=clean_env(COLUMNS="250")).ok().stdout  # a row per line
    assert "model.promote" in human and "bob" in human and "reason=lower RMSE" in human
    nothing = molops("audit", "--user", "carol", *ws).ok().stdout
    assert "no recorded changes match" in nothing


def test_a_bad_since_is_one_line(workspace):
    res = molops("audit", "--since", "yesterday", "-w", workspace)
    assert res.returncode != 0 and res.stdout == ""
    assert res.stderr.startswith("error: time 'yesterday' is not valid") and "Traceback" not in res.stderr
