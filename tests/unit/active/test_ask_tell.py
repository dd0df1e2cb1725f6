"""The Python face of live oracles: ``Campaign.open(ws, NAME).ask(n)`` and ``.tell(results)`` on
FreeSolv, recording exactly what ``campaign run`` records."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from molops import Workspace
from molops.active import Campaign, CampaignError
from molops.active.oracle_batch import OracleBatch

from .test_campaign import OBJECTIVE, RECIPE, measured_workspace, split_freesolv


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return split_freesolv(tmp_path_factory.mktemp("freesolv"))


@pytest.fixture
def campaign(tmp_path, files) -> Campaign:
    ws = measured_workspace(tmp_path / "ws", files)
    Campaign.create(
        ws, "c", dataset="fs", pool=files["pool"], objective=OBJECTIVE, recipe=RECIPE, batch_size=6
    )
    return Campaign.open(Workspace.open(ws.root), "c")


def _truth(files) -> dict[str, float]:
    truth = files["truth"]
    return dict(zip(truth["inchikey"], truth["expt"], strict=True))


def test_ask_tell_records_values_failures_and_one_dataset_version(campaign, files):
    truth = _truth(files)
    ds = campaign.ws.dataset("fs")
    batch = campaign.ask(track=False)
    assert list(batch.columns[:2]) == ["id", "smiles"] and len(batch) == 6
    assert {"predicted_mean", "predicted_std", "rank", "iteration"} <= set(batch.columns)
    ids = list(batch["id"])
    # asking again before telling gives the same molecules: nothing new is proposed
    assert list(campaign.ask(track=False)["id"]) == ids and len(campaign.load().iterations) == 1
    first = campaign.tell([(ids[0], truth[ids[0]]), (ids[1], "n/a"), ("NOT-AN-ID", 1.0)])
    assert (first.answered, first.failed, first.pending, first.finished) == (1, 1, 4, None)
    assert [r.reason for r in first.rejected] == ["a row for an unknown id"]
    assert ds.latest_version() == 1  # nothing is ingested until the batch is complete
    assert list(campaign.ask(track=False)["id"]) == ids[2:]  # only what is still pending
    again = campaign.tell({ids[0]: 0.0})  # already recorded: the first answer counts
    assert [r.reason for r in again.rejected] == ["already recorded"] and again.answered == 0
    frame = pd.DataFrame({"id": ids[2:5], "value": [truth[i] for i in ids[2:5]], "plate": "P1", "reason": ""})
    frame.loc[2, ["value", "reason"]] = [float("nan"), "a bubble in the well"]
    assert campaign.tell(frame).pending == 1
    last = campaign.tell({}, failures={ids[5]: "the vial broke"})
    record = last.finished
    assert record is not None and (record.sent, record.answered) == (6, 3)
    assert {f.inchikey: f.reason for f in record.failures} == {
        ids[1]: "value 'n/a' is not a number",
        ids[4]: "a bubble in the well",
        ids[5]: "the vial broke",
    }
    assert ds.latest_version() == 2 and record.dataset_version == 2
    data = ds.read().set_index("inchikey")
    for key in (ids[0], ids[2], ids[3]):
        assert data.loc[key, "expt"] == pytest.approx(truth[key]) and data.loc[key, "expt_n"] == 1
    status = campaign.status()
    assert {f["inchikey"] for f in status.failures} == {ids[1], ids[4], ids[5]}
    assert status.ingests[-1]["answered"] == 3
    assert status.ingests[-1]["iterations"] == [1]  # the batch's iteration: its review is closed
    with pytest.raises(CampaignError, match="no batch waiting for results; call ask first"):
        campaign.tell({ids[0]: 1.0})
    # failed molecules are never proposed again (the next batch is all new) unless retried
    nxt = campaign.ask(track=False)
    assert not set(nxt["id"]) & set(ids)
    retried = campaign.ask(retry_failed=True, track=False)
    assert set(retried["id"]) == set(nxt["id"]) | {ids[1], ids[4], ids[5]}
    campaign.tell({k: truth[k] for k in retried["id"]})
    assert campaign.status().failures == []
    assert ds.latest_version() == 3


def test_finishing_again_after_a_crash_makes_no_second_dataset_version(campaign, files, tmp_path):
    """The crash window between the dataset commit and the state write: finishing again finds the
    ingest by its batch id in the dataset's lineage and only records it."""
    truth = _truth(files)
    ids = list(campaign.ask(track=False)["id"])
    campaign.tell({k: truth[k] for k in ids})
    ds = campaign.ws.dataset("fs")
    assert ds.latest_version() == 2
    finished = campaign.load()
    # the state as it was before the finishing write: the ingest and the batch record not there
    state = finished.model_copy(deep=True)
    state.ingests.clear()
    state.batches.clear()
    campaign._save(state)
    # meanwhile the lab re-measured one of the molecules: a second ingest of the batch would
    # overwrite that newer value with the oracle's
    smiles = ds.read().set_index("inchikey").loc[ids[0], "smiles"]
    remeasured = tmp_path / "remeasured.csv"
    pd.DataFrame({"smiles": [smiles], "expt": [42.0]}).to_csv(remeasured, index=False)
    ds.ingest(remeasured, smiles_col="smiles", target_col="expt")
    assert ds.latest_version() == 3
    batch = OracleBatch.current(campaign)
    assert batch is not None and batch.pending().empty
    record = batch.finish()
    assert ds.latest_version() == 3  # no second version of the same batch
    assert ds.read().set_index("inchikey").loc[ids[0], "expt"] == 42.0
    assert record.dataset_version == 2 and record.answered == 6
    reloaded = campaign.load()
    assert reloaded.ingests[0].dataset_version == 2 and reloaded.ingests[0].answered == 6
    assert not reloaded.ingests[0].unchanged and reloaded.ingests[0].rows_in == 6
    assert [b.batch for b in reloaded.batches] == [record.batch]
    assert batch.finish() == record  # and finishing a finished batch changes nothing
    assert len(campaign.load().batches) == 1


def test_run_stops_when_the_budget_or_the_pool_ends_it(tmp_path, files):
    """The loop without --iterations: the campaign's own limits end it, each with its reason."""
    import sys

    from molops.active import Budget, Filters
    from molops.active.oracle import Oracle
    from molops.active.run_loop import run

    ws = measured_workspace(tmp_path / "ws", files)
    lookup = tmp_path / "lookup.csv"
    truth = files["truth"]
    pd.DataFrame({"inchikey": truth["inchikey"], "value": truth["expt"]}).to_csv(lookup, index=False)
    flaky = Path(__file__).resolve().parents[2] / "data" / "flaky_oracle.py"
    oracle = Oracle.parse(f"{sys.executable} {flaky} {{in}} {{out}} --lookup {lookup}")
    # the PAINS in the pool, which the lookup lacks, filtered out
    limits = {"budget": Budget(iterations=2), "filters": Filters(pains=True)}
    budget = Campaign.create(ws, "b", dataset="fs", pool=files["pool"], objective=OBJECTIVE, recipe=RECIPE,
                             batch_size=5, **limits)  # fmt: skip
    result = run(budget, oracle, parallel=2, track=False)
    assert [b.answered for b in result.batches] == [5, 5]
    assert result.stopped_by == "budget" and "has used its budget of 2 iterations" in result.reason
    assert ws.dataset("fs").latest_version() == 3
    # a pool of three molecules: one batch takes them all, the next propose has nothing left
    small = tmp_path / "small.csv"
    pd.read_csv(files["pool"]).head(3).to_csv(small, index=False)
    pool = Campaign.create(
        ws, "p", dataset="fs", pool=small, objective=OBJECTIVE, recipe=RECIPE, batch_size=5
    )
    result = run(pool, oracle, track=False)
    assert [b.answered for b in result.batches] == [3]
    assert result.stopped_by == "pool" and "nothing was proposed" in result.reason
