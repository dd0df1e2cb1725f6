"""Review decisions on a campaign whose state is on S3 (moto, on loopback): two workspace
directories sharing one bucket see each other's decisions, and two reviewers committing at the
same moment both keep theirs (the loser of the conditional write decides again on the new state)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from molops.active import remote
from molops.active.campaign import Campaign
from molops.active.review import record_decisions, review_state
from molops.workspace import Workspace
from unit.active._batch import campaign_with_batch

from ._s3 import Bucket

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_decisions_on_s3_are_shared_and_concurrent_ones_both_land(
    s3: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = s3.url("team")
    a = Workspace.init(tmp_path / "a", storage=url)
    b = Workspace.init(tmp_path / "b", storage=url)
    campaign_with_batch(a)
    record_decisions(Campaign(a, "c"), reject=["2"], reason="IP", user="alice")
    seen = review_state(Campaign(b, "c"))  # B has no copy of the batch: read from the bucket
    assert [p.status for p in seen.proposals] == ["pending review", "rejected"] + ["pending review"] * 2
    assert seen.proposals[1].decided_by == "alice" and seen.proposals[1].reason == "IP"
    assert not (tmp_path / "b" / "campaigns" / "c" / "campaign.json").exists()

    # both reviewers read the same state, then both commit: one loses the conditional write
    barrier, original, calls = threading.Barrier(2, timeout=120), remote.RemoteState.write, []

    def held(self: remote.RemoteState, document: str, base: int | None) -> int:
        calls.append(base)
        if len(calls) <= 2:
            barrier.wait()
        return original(self, document, base)

    monkeypatch.setattr(remote.RemoteState, "write", held)
    errors: list[BaseException] = []

    def decide(ws: Workspace, **kwargs: Any) -> None:
        try:
            record_decisions(Campaign(ws, "c"), **kwargs)
        except BaseException as exc:  # reported below, with the test's assertion
            errors.append(exc)

    threads = [
        threading.Thread(target=decide, args=(a,), kwargs={"accept": ["1"], "user": "alice"}),
        threading.Thread(target=decide, args=(b,), kwargs={"swaps": {"3": "CCO"}, "user": "bob"}),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert calls[0] == calls[1] and len(calls) == 3  # same base read by both; one retried
    final = review_state(Campaign(b, "c"))
    assert [p.status for p in final.proposals] == ["accepted", "rejected", "swapped", "pending review"]
    assert {d.user for d in final.decisions} == {"alice", "bob"}
    out = {final.proposals[1].inchikey, final.proposals[2].inchikey}  # rejected, and swapped out
    assert Campaign(a, "c").load().rejected().keys() == out
    entries = a.audit.read(action="campaign.review")
    assert sorted(e.user for e in entries) == ["alice", "alice", "bob"]
