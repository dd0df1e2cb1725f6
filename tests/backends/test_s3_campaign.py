"""Campaign state on a real S3-compatible server (moto, on loopback), changed by conditional writes.

Two workspace directories sharing one bucket see one campaign; two ``propose`` calls racing on it
from two processes cannot both succeed: the loser fails with one sentence and leaves nothing the
campaign names. The conditional-write primitive itself is tested against the server too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from integration._cli import Result, assert_one_line_error, clean_env, finish, molops
from molops.active.errors import CampaignExistsError
from molops.active.recipe import Recipe
from molops.active.remote import CampaignChangedError, RemoteState, StateConflictError
from molops.active.state import CampaignConfig, CampaignState, Objective
from molops.active.store import CampaignStore
from molops.data.builtin import BUILTINS
from molops.storage import Storage
from molops.workspace import Workspace

from ._s3 import Bucket

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RF = '{"n_estimators": 20}'

#: ``molops ARGV…`` whose first campaign-state commit waits until as many processes as the barrier
#: folder's name says reached theirs: both proposes have read the same state before either commits.
_HELD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from molops.active import remote
    from molops.cli.main import main

    barrier, parties = Path(sys.argv[1]), int(sys.argv[2])
    original = remote.RemoteState.write

    def held(self, document, base):
        (barrier / str(os.getpid())).touch()
        deadline = time.monotonic() + 300
        while len(list(barrier.iterdir())) < parties:
            if time.monotonic() > deadline:
                raise SystemExit("barrier: the other propose never reached its commit")
            time.sleep(0.01)
        return original(self, document, base)

    remote.RemoteState.write = held
    sys.argv = ["molops", *sys.argv[3:]]
    main()
    """
)


def _held(barrier: Path, *args: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _HELD, str(barrier), "2", *(str(a) for a in args)],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _status(ws: Path) -> dict[str, Any]:
    return molops("campaign", "status", "sol", "-w", ws, "--json").json()


def test_a_campaign_on_s3_is_shared_and_two_racing_proposes_cannot_both_win(
    s3: Bucket, tmp_path: Path
) -> None:
    url = s3.url("team")
    a, b = tmp_path / "a", tmp_path / "b"
    molops("init", a, "--storage", url).ok()
    molops("init", b, "--storage", url).ok()
    molops("data", "ingest", "--builtin", "freesolv", "-w", a, "--json").json()
    pool = BUILTINS["solubility-test"].path()  # an SDF of molecules FreeSolv has not measured
    molops(
        "campaign", "create", "sol", "-d", "freesolv", "--pool", pool, "--target", "expt", "--minimize",
        "--model", "rf", "--params", RF, "--featurizer", "morgan", "--batch-size", "4", "--no-pains",
        "-w", a, "--json",
    ).json()  # fmt: skip
    first = molops("campaign", "propose", "sol", "--no-track", "-w", a, "--json").json()
    assert first["iteration"]["number"] == 1
    assert first["proposals_file"].startswith(url + "/campaigns/sol/proposals/iteration-0001-")

    # B sees the campaign and what A proposed, from the bucket (it has no campaign folder of its own)
    assert molops("campaign", "list", "-w", b, "--json").json()["campaigns"][0]["name"] == "sol"
    seen_a, seen_b = _status(a), _status(b)
    assert seen_b == seen_a
    assert not (b / "campaigns" / "sol" / "campaign.json").exists()
    assert not (a / "campaigns" / "sol" / "campaign.json").exists()

    # two proposes from two machines, both holding at their commit until both got there
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [_held(barrier, "campaign", "propose", "sol", "--no-track", "-w", ws, "--json") for ws in (a, b)]
    results: list[Result] = [finish(p, timeout=300) for p in procs]
    won = [r for r in results if r.returncode == 0]
    lost = [r for r in results if r.returncode != 0]
    assert len(won) == 1 and len(lost) == 1, "\n".join(map(str, results))
    assert won[0].json()["iteration"]["number"] == 2
    assert_one_line_error(
        lost[0], "campaign 'sol' changed while proposing", "another propose committed iteration 2",
        "run propose again",
    )  # fmt: skip

    # one new iteration, with the winner's proposals; the loser logged no predictions
    status = _status(b)
    assert status == _status(a)
    assert [it["iteration"] for it in status["iterations"]] == [1, 2]
    assert [it["proposed"] for it in status["iterations"]] == [4, 4]
    winner = won[0].json()
    state = RemoteState(Storage.at(url), "sol")
    named = json.loads(state.read()[0])["iterations"]
    assert [it["proposals"] for it in named] == [
        first["proposals_file"].removeprefix(url + "/campaigns/sol/"),
        winner["proposals_file"].removeprefix(url + "/campaigns/sol/"),
    ]
    exported = tmp_path / "log.csv"
    molops("predictions", "export", exported, "--source", "campaign", "-w", b, "--json").json()
    requests = set(pd.read_csv(exported)["request_id"])
    assert requests == {"sol/iteration-0001", "sol/iteration-0002"}
    assert len(pd.read_csv(exported)) == 8  # two batches of 4


def test_a_conditional_write_refuses_a_stale_or_second_writer(s3: Bucket) -> None:
    state = RemoteState(Storage.at(s3.url("p")), "c")
    assert not state.exists()
    assert state.write('{"n": 0}', None) == 0
    with pytest.raises(StateConflictError):
        state.write('{"n": "again"}', None)  # create, when it exists: refused
    assert state.read() == ('{"n": 0}', 0)
    assert state.write('{"n": 1}', 0) == 1
    with pytest.raises(StateConflictError):
        state.write('{"n": "stale"}', 0)  # an update on the version another writer replaced
    assert state.read() == ('{"n": 1}', 1)
    assert state.write('{"n": 2}', 1) == 2

    frame = pd.DataFrame({"smiles": ["CCO", "CCN"], "rank": [1, 2]})
    state.write_frame("proposals/x.parquet", frame)
    pd.testing.assert_frame_equal(state.read_frame("proposals/x.parquet"), frame)
    for key in s3.keys("p/campaigns/c/"):
        assert s3.head(key).get("ServerSideEncryption") == "AES256", key


def test_a_read_between_load_and_commit_does_not_hide_a_concurrent_change(s3: Bucket, tmp_path: Path) -> None:
    """Propose reads the state again on its way (the measured set, the stopping rules): those reads
    must not move the version its commit builds on, or it would overwrite a change made meanwhile."""
    url = s3.url("team")
    molops("init", tmp_path / "a", "--storage", url).ok()
    molops("init", tmp_path / "b", "--storage", url).ok()
    mine = CampaignStore(Workspace.open(tmp_path / "a"), "c")
    theirs = CampaignStore(Workspace.open(tmp_path / "b"), "c")
    config = CampaignConfig(
        name="c", dataset="d", pool="pool.csv", objective=Objective(target="y", maximize=True),
        recipe=Recipe(), created="2026-01-01T00:00:00+00:00", created_by="alice", molops_version="0",
    )  # fmt: skip
    mine._save(CampaignState(config=config))
    with pytest.raises(CampaignExistsError):
        theirs._save(CampaignState(config=config))  # a second create

    stale = mine.load(for_update=True)
    other = theirs.load(for_update=True)
    other.cost_floor = 1.0
    theirs._save(other, "proposing", "propose")
    mine.load()  # a plain read, as the measured set's, sees the new state ...
    stale.cost_floor = 2.0
    with pytest.raises(CampaignChangedError, match=r"changed while proposing \(another command changed it\)"):
        mine._save(stale, "proposing", "propose")  # ... but the commit still builds on what it read
    assert theirs.load().cost_floor == 1.0
