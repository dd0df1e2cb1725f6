"""``campaign run`` and human review: a batch chemists began reviewing is not sent until the
review ends (or ``send_unreviewed``), and then only as review left it (real oracle processes)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from molops import Workspace
from molops.active import Campaign
from molops.active.oracle import Oracle
from molops.active.review import record_decisions
from molops.active.run_loop import ReviewPendingError, run

from .test_campaign import OBJECTIVE, RECIPE, measured_workspace, split_freesolv

FLAKY = Path(__file__).resolve().parents[2] / "data" / "flaky_oracle.py"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return split_freesolv(tmp_path_factory.mktemp("freesolv"))


def _proposed(tmp_path, files, batch_size: int) -> tuple[Campaign, list[str], Oracle, Path]:
    """A campaign with a proposed batch (its ids), a lookup oracle and the file it counts ids in."""
    ws = measured_workspace(tmp_path / "ws", files)
    Campaign.create(
        ws, "c", dataset="fs", pool=files["pool"], objective=OBJECTIVE, recipe=RECIPE, batch_size=batch_size
    )
    campaign = Campaign.open(Workspace.open(ws.root), "c")
    ids = list(campaign.ask(track=False)["id"])
    lookup, count = tmp_path / "lookup.csv", tmp_path / "sent.txt"
    truth = files["truth"]
    pd.DataFrame({"inchikey": truth["inchikey"], "value": truth["expt"]}).to_csv(lookup, index=False)
    oracle = Oracle.parse(f"{sys.executable} {FLAKY} {{in}} {{out}} --lookup {lookup} --count {count}")
    return campaign, ids, oracle, count


def test_a_partly_reviewed_batch_waits_for_its_review(tmp_path, files):
    campaign, ids, oracle, count = _proposed(tmp_path, files, 5)
    record_decisions(campaign, accept=[1], reject=[2], reason="IP")
    with pytest.raises(ReviewPendingError) as caught:
        run(campaign, oracle, iterations=1, track=False)
    assert str(caught.value) == (
        "campaign 'c' iteration 1 is under review with 3 of its 5 proposals still pending review; "
        "finish it with `molops campaign review c` or pass --send-unreviewed to send them as they are"
    )
    assert not count.exists()  # nothing was sent

    result = run(campaign, oracle, iterations=1, track=False, send_unreviewed=True)
    (batch,) = result.batches
    assert (batch.sent, batch.answered) == (4, 4)
    assert sorted(count.read_text().split()) == sorted(ids[:1] + ids[2:])  # the rejected one stays out


def test_a_fully_reviewed_batch_is_sent_as_review_left_it(tmp_path, files):
    campaign, ids, oracle, count = _proposed(tmp_path, files, 3)
    record_decisions(campaign, accept=[1, 3], reject=[2], reason="toxicophore")
    (batch,) = run(campaign, oracle, iterations=1, track=False).batches
    assert (batch.sent, batch.answered) == (2, 2)
    assert sorted(count.read_text().split()) == sorted([ids[0], ids[2]])
