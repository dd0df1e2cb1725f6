"""Issue 17's proof at test size, through the CLI on FreeSolv: a slow, flaky oracle (random failed
calls, molecules with no value, hangs killed by their time budget) that logs every call, a SIGKILL
of ``campaign run`` in the middle of a batch, and a second ``campaign run`` that finishes the job.
Nothing recorded before the kill is sent again, no result is lost, no oracle outlives the kill,
and each dataset version is one whole batch."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from _wait import wait_until
from molops import Workspace
from molops.active import Campaign
from molops.active.oracle_batch import OracleBatch
from molops.active.oracle_procs import marked, owner_token

from . import test_campaign_run_cli as base
from ._cli import finish, molops, start

freesolv = base.freesolv  # the fixture: FreeSolv, campaign ``c`` (a pool of 120, batches of 8)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FLAKY = "--delay 0.02 --jitter 0.2 --fail-rate 0.2 --molecule-fail-rate 0.15 --hang-rate 0.05 --seed 3"


def _journaled(ws: Path) -> pd.DataFrame:
    """Every result journaled so far (values and failures) of every batch, finished or not."""
    campaign = Campaign.open(Workspace.open(ws), "c")
    state = campaign.load()
    frames = [OracleBatch(campaign, state, it).journal.read() for it in state.iterations]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["id", "outcome"])
    return rows[rows["outcome"].isin(["value", "failed"])].drop_duplicates("id")


def _killable(ws: Path) -> bool:
    """Iteration 2's batch is being answered: one of its chunks is journaled, others are to come."""
    campaign = Campaign.open(Workspace.open(ws), "c")
    batch = OracleBatch.current(campaign)
    if batch is None or batch.iteration.number != 2:
        return False
    journal = batch.journal.read()
    return bool(journal["outcome"].isin(["value", "failed"]).any()) and len(batch.pending(journal)) > 0


def test_a_flaky_oracle_run_killed_mid_batch_resumes_and_loses_nothing(tmp_path, freesolv):
    ws = freesolv["ws"]
    count = tmp_path / "calls.txt"
    oracle = base._oracle(freesolv, f"--count {count} {FLAKY}")
    argv = ["campaign", "run", "c", "--oracle", oracle, "--parallel", 2, "--chunk-size", 2,
            "--timeout-per-molecule", 1, "--no-track", "-w", ws, "--json"]  # fmt: skip
    token = owner_token(Campaign.open(Workspace.open(ws), "c")._where, "c")
    proc = start(*argv, "--iterations", 3)
    try:  # killed while oracle calls (marked with the campaign's token) are running
        wait_until(lambda: _killable(ws) and marked(token), 240, "iteration 2 in flight", interval=0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        finish(proc)
    assert proc.returncode == -signal.SIGKILL
    wait_until(lambda: not marked(token), 15, "every oracle process of the killed run to die")
    before = _journaled(ws)  # everything recorded before the kill
    sent_before = Counter(count.read_text().split())
    ds = Workspace.open(ws).dataset("fs")
    assert ds.latest_version() == 2  # iteration 1 ingested whole, iteration 2 not at all

    res = molops(*argv, "--iterations", 2, timeout=600).json()  # the resumed batch counts
    assert res["resumed"] is True and [b["iteration"] for b in res["batches"]] == [2, 3]
    sent = Counter(count.read_text().split())
    again = {k for k in before["id"] if sent[k] != sent_before[k]}
    assert not again, f"recorded before the kill, sent again: {again}"

    # no result lost: each value journaled before the kill is in the dataset, once
    data, truth = ds.read().set_index("inchikey"), base._truth(freesolv)
    for key in before.loc[before["outcome"] == "value", "id"]:
        assert data.loc[key, "expt"] == pytest.approx(truth[key]) and data.loc[key, "expt_n"] == 1
    # every molecule of every batch settled: a value in the dataset, or a failure with its reason
    status = molops("campaign", "status", "c", "-w", ws, "--json").json()
    failed = {f["inchikey"]: f["reason"] for f in status["failures"]}
    members = set(Campaign.open(Workspace.open(ws), "c").proposals()["inchikey"])
    measured = set(data.index[data["expt"].notna()])
    assert members <= measured | set(failed) and not set(failed) & measured
    assert failed and all(failed.values())  # the seeded failures and hangs, each with its reason
    # each dataset version after the first is one whole batch: exactly its answered molecules
    batches = Campaign.open(Workspace.open(ws), "c").load().batches
    assert [b.dataset_version for b in batches] == [2, 3, 4] and ds.latest_version() == 4
    for b in batches:
        new = _values(ds, b.dataset_version) - _values(ds, b.dataset_version - 1)
        assert len(new) == b.answered and b.sent == b.answered + len(b.failures)


def _values(ds, version: int) -> set[str]:
    frame = ds.read(version)
    return set(frame.loc[frame["expt"].notna(), "inchikey"])
