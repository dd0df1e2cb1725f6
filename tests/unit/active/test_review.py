"""Human review of a proposed batch (``molops.active.review``) on a local workspace: decisions
recorded with who and when, the batch and the budget as they leave it, and the refusals.

The campaign here is its state and one proposals file, written through the campaign's own store;
proposing for real (and its exclusions) is tested through the CLI in
``tests/integration/test_campaign_review_cli.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from molops import Workspace
from molops.active.campaign import Campaign
from molops.active.filters import Filters, FilterSet
from molops.active.review import (
    ReviewError,
    parse_ids,
    parse_swaps,
    record_decisions,
    review_state,
)
from molops.active.state import IngestRecord, budget_summary
from molops.active.status import review_counts, summarize
from molops.models.reference import fingerprints, max_similarity

from ._batch import BATCH, campaign_with_batch, inchikey_of


@pytest.fixture
def campaign(ws: Workspace) -> Campaign:
    return campaign_with_batch(ws)


def test_a_new_batch_is_pending_review(campaign: Campaign) -> None:
    review = review_state(campaign)
    assert review.iteration == 1 and not review.closed
    assert [p.status for p in review.proposals] == ["pending review"] * 4
    assert review.counts == {"pending review": 4, "accepted": 0, "rejected": 0, "swapped": 0}
    assert review.decisions == []


def test_decisions_are_recorded_with_who_and_when_in_the_state_and_the_audit_log(
    campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOLOPS_USER", "carol")
    result = record_decisions(
        campaign,
        accept=["1"],
        reject=[inchikey_of(BATCH[1]).lower()],  # an InChIKey, in any case
        reason="Toxicophore",  # the vocabulary's own spelling is kept
        swaps={"3": "OCCC.Cl"},  # the swap is standardised: its parent, canonical
    )
    assert [(d.rank, d.action, d.user) for d in result.recorded] == [
        (1, "accept", "carol"),
        (2, "reject", "carol"),
        (3, "swap", "carol"),
    ]
    rejected, swapped = result.recorded[1], result.recorded[2]
    assert rejected.reason == "toxicophore" and rejected.time
    assert swapped.swap_smiles == "CCCO" and swapped.swap_inchikey == inchikey_of("CCCO")
    # the state read back by a fresh object (another process) has them
    again = review_state(Campaign(campaign.ws, "c"))
    assert [p.status for p in again.proposals] == ["accepted", "rejected", "swapped", "pending review"]
    assert again.proposals[1].decided_by == "carol" and again.proposals[1].reason == "toxicophore"
    entries = campaign.ws.audit.read(action="campaign.review")
    assert len(entries) == 1 and entries[0].user == "carol" and entries[0].subject == "c"
    assert entries[0].details["rejected"] == [2] and entries[0].details["accepted"] == [1]


@pytest.fixture
def reviewed(campaign: Campaign) -> Campaign:
    """Proposal 1 accepted, 2 rejected, 3 swapped for ethanol, 4 pending; decided by dave."""
    record_decisions(
        campaign, accept=[1], reject=[2], reason="not synthesisable", swaps={3: "CCO"}, user="dave"
    )
    return campaign


def test_the_batch_as_review_left_it(reviewed: Campaign) -> None:
    frame = reviewed.proposals()
    assert frame["rank"].tolist() == [1, 3, 4]  # the rejected one is not asked for
    assert frame["review"].tolist() == ["accepted", "swapped", "pending review"]
    swap = frame.iloc[1]
    assert swap["smiles"] == "CCO" and swap["inchikey"] == inchikey_of("CCO")
    assert np.isnan(swap["predicted_mean"]) and swap["reason"] == "swapped in by dave"
    # never proposed again: the rejected one and the one swapped out
    assert reviewed.load().rejected() == {
        inchikey_of(BATCH[1]): "CCOC(C)=O",
        inchikey_of(BATCH[2]): "CC(C)CO",
    }


def test_the_budget_counts_every_proposal_not_rejected(ws: Workspace) -> None:
    campaign = campaign_with_batch(ws, costs=[1.0, 2.0, 4.0, 8.0], budget=10)
    state = campaign.load()
    assert state.molecules_used() == 4 and state.cost_used() == 15.0  # pending counts as spent
    record_decisions(campaign, reject=[2], reason="IP", swaps={3: "CCO"}, accept=[1])
    state = campaign.load()
    assert state.molecules_used() == 3  # the rejection gives its slot back; a swap keeps its slot
    assert state.cost_used() == 13.0  # ... and its cost (the swap counts at the one it replaced)
    summary = budget_summary(state)
    assert summary["molecules_used"] == 3 and summary["molecules_left"] == 7
    assert summary["molecules_rejected"] == 1


def test_the_last_decision_on_a_proposal_is_the_one_in_force(reviewed: Campaign) -> None:
    record_decisions(reviewed, accept=[2, 3], user="erin")
    review = review_state(reviewed)
    assert [p.status for p in review.proposals] == ["accepted"] * 3 + ["pending review"]
    assert review.proposals[1].decided_by == "erin"
    assert len(review.decisions) == 5  # the history is kept
    assert reviewed.load().rejected() == {}
    # a swapped-in molecule is named by its InChIKey too
    record_decisions(reviewed, swaps={4: "CCN"}, user="erin")
    record_decisions(reviewed, reject=[inchikey_of("CCN")], reason="IP", user="erin")
    assert review_state(reviewed).proposals[3].status == "rejected"


def test_status_lists_the_decisions_and_counts_per_iteration(reviewed: Campaign) -> None:
    state = reviewed.load()
    assert review_counts(state.iterations[0]) == {
        "pending review": 1,
        "accepted": 1,
        "rejected": 1,
        "swapped": 1,
    }
    measured = pd.DataFrame({"inchikey": [], "smiles": [], "y": []})
    status = summarize("c", state, 0, measured, reviewed.proposals(state))
    assert [(d["iteration"], d["id"], d["action"], d["user"]) for d in status.decisions] == [
        (1, 1, "accept", "dave"),
        (1, 2, "reject", "dave"),
        (1, 3, "swap", "dave"),
    ]
    assert status.decisions[1]["reason"] == "not synthesisable" and status.decisions[1]["time"]
    assert status.proposals == {"total": 3, "answered": 0, "open": 3}  # the rejected one is not open
    assert status.iterations[0]["review"]["rejected"] == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"accept": ["9"]}, "iteration 1 of campaign 'c' has no proposal '9'; expected an id from 1 to 4"),
        ({"accept": ["NOTAKEY"]}, "has no proposal 'NOTAKEY'"),
        ({"reject": ["1"]}, "rejecting proposals needs a reason: 'not synthesisable', 'IP', 'toxicophore'"),
        ({"reject": ["1"], "reason": "  "}, "rejecting proposals needs a reason"),
        ({"accept": ["1"], "reason": "IP"}, "reason 'IP' explains rejections or swaps, and none were given"),
        ({"swaps": {"1": "C1CC"}}, "the swap for proposal 1 of iteration 1 of campaign 'c': 'C1CC' is not a"),
        ({"swaps": {"1": "c1ccccc1O"}}, "is the proposed molecule itself; accept it instead"),
        ({"swaps": {"1": "c1ccncc1"}}, "'c1ccncc1' is already proposal 4 of the batch"),
        ({"accept": ["1"], "reject": ["1"], "reason": "IP"}, "is given two decisions (accept and reject)"),
        ({}, "no decision given: accept, reject or swap at least one proposal"),
    ],
)
def test_a_bad_input_is_one_sentence_and_records_nothing(
    campaign: Campaign, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ReviewError) as caught:
        record_decisions(campaign, **kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert review_state(campaign).decisions == []


def test_decisions_are_all_or_nothing(campaign: Campaign) -> None:
    with pytest.raises(ReviewError, match="'C1CC' is not a molecule molops accepts"):
        record_decisions(campaign, accept=["2"], reject=["3"], reason="IP", swaps={"1": "C1CC"})
    assert review_state(campaign).decisions == []  # the good accept and reject were not kept


def test_an_iteration_that_does_not_exist_or_whose_results_came_back_is_refused(campaign: Campaign) -> None:
    with pytest.raises(ReviewError, match="campaign 'c' has no iteration 2; its iterations are 1 to 1"):
        record_decisions(campaign, 2, accept=["1"])
    state = campaign.load(for_update=True)
    state.ingests.append(
        IngestRecord(
            number=1,
            time="t",
            user="u",
            source="r.csv",
            dataset_version=1,
            unchanged=False,
            rows_in=1,
            accepted=1,
            quarantined=0,
            answered=1,
            remeasured=0,
            unproposed=0,
            results=None,
            iterations=[1],
        )
    )
    campaign._save(state)
    with pytest.raises(
        ReviewError, match=r"iteration 1 of campaign 'c' already has results ingested \(ingest 1\)"
    ):
        record_decisions(campaign, 1, accept=["1"])
    assert review_state(campaign).closed


def test_a_campaign_without_proposals_has_nothing_to_review(ws: Workspace) -> None:
    campaign = campaign_with_batch(ws)
    state = campaign.load(for_update=True)
    state.iterations.clear()
    campaign._save(state)
    with pytest.raises(
        ReviewError, match="campaign 'c' has proposed nothing yet; run campaign propose first"
    ):
        review_state(campaign)


def test_close_analogues_of_a_rejected_molecule_are_filtered_only_when_asked() -> None:
    rejected, analogue, other = "c1ccccc1CCO", "c1ccccc1CCCO", "CC(=O)Nc1ccc(O)cc1"
    packed = fingerprints([rejected, analogue, other])[0]
    sim = max_similarity(packed[1:], packed[:1])
    assert sim[0] > 0.4 > sim[1]  # the premise: one close analogue, one unrelated molecule
    rules = FilterSet(Filters(exclude_analogues_above=0.4), [rejected])
    assert rules.reason(analogue) == "rejected_analogue"
    assert rules.reason(rejected) == "rejected_analogue"
    assert rules.reason(other) is None
    assert FilterSet(Filters(), [rejected]).reason(analogue) is None  # off by default
    assert Filters(exclude_analogues_above=0.4).active()


# -- the command line's IDS ----------------------------------------------------------------------------
_ID = st.text(st.characters(blacklist_characters=",", blacklist_categories=("Cs", "Z", "C")), min_size=1)


@given(st.lists(_ID, max_size=8), st.data())
def test_ids_given_comma_separated_or_repeated_parse_to_the_same_list(
    ids: list[str], data: st.DataObject
) -> None:
    # split the ids into groups, each one option value with its ids joined by commas (and spaces)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(ids)), max_size=4)))
    groups = [ids[a:b] for a, b in zip([0, *cuts], [*cuts, len(ids)], strict=True)]
    values = [" , ".join(g) + data.draw(st.sampled_from(["", ",", ", "])) for g in groups]
    assert parse_ids(values) == list(dict.fromkeys(ids))


def test_swaps_split_at_the_first_equals_sign_and_refuse_a_bad_pair() -> None:
    assert parse_swaps(["3=C=O", " 4 = CCO "]) == {"3": "C=O", "4": "CCO"}
    with pytest.raises(ReviewError, match=r"--swap 'CCO' is not ID=SMILES; expected e\.g\. --swap 3=CCO"):
        parse_swaps(["CCO"])
    with pytest.raises(ReviewError, match="--swap names proposal '3' twice"):
        parse_swaps(["3=CCO", "3=CCN"])
