"""Losing a race on a campaign kept on S3 (moto, on loopback): nothing half-recorded, nothing left over.

The race is real: while one directory's ``propose`` or ``ingest`` works (seen through its own
progress callback, so the other change lands between its read and its commit), the other directory
commits a change to the same campaign. A losing ``ingest`` has already committed its dataset
version, so it records its results on top of the winner's state instead of dropping them; a losing
``propose`` deletes the proposals file it wrote, which no state names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from integration._cli import molops, write_csv
from molops.active.campaign import Campaign
from molops.active.remote import CampaignChangedError, RemoteState
from molops.active.store import CampaignStore
from molops.data.builtin import BUILTINS
from molops.storage import Storage
from molops.workspace import Workspace

from ._s3 import Bucket

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RF = '{"n_estimators": 10}'


def _team(s3: Bucket, tmp_path: Path) -> tuple[Path, Path, str]:
    """Directories A and B on one bucket, with FreeSolv and campaign ``sol`` created from A."""
    url = s3.url("team")
    a, b = tmp_path / "a", tmp_path / "b"
    molops("init", a, "--storage", url).ok()
    molops("init", b, "--storage", url).ok()
    molops("data", "ingest", "--builtin", "freesolv", "-w", a, "--json").json()
    created = molops(
        "campaign", "create", "sol", "-d", "freesolv", "--pool", BUILTINS["solubility-test"].path(),
        "--target", "expt", "--minimize", "--model", "rf", "--params", RF, "--featurizer", "morgan",
        "--batch-size", "4", "--no-pains", "-w", a, "--json",
    ).json()  # fmt: skip
    assert created["path"] == f"{url}/campaigns/sol"  # not A's local folder: B has none
    return a, b, url


class Interloper:
    """B's change to the campaign, made once, from inside A's command (its progress callback)."""

    def __init__(self, ws: Path) -> None:
        self.store = CampaignStore(Workspace.open(ws), "sol")
        self.done = False

    def __call__(self, *progress: Any) -> None:
        if self.done:
            return
        self.done = True
        state = self.store.load(for_update=True)
        state.cost_floor = 1.5  # any change: a commit on top of the state A read
        self.store._save(state, "noting a cost floor", "it")


def _named(url: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(RemoteState(Storage.at(url), "sol").read()[0])
    return document


def test_an_ingest_that_loses_its_race_still_records_its_results(s3: Bucket, tmp_path: Path) -> None:
    a, b, url = _team(s3, tmp_path)
    first = molops("campaign", "propose", "sol", "--no-track", "-w", a, "--json").json()
    lab = write_csv(
        tmp_path / "lab.csv", ["smiles", "expt"], [[p["smiles"], -2.0] for p in first["proposals"]]
    )
    interloper = Interloper(b)
    taken = Campaign.open(Workspace.open(a), "sol").ingest(lab, progress=interloper)
    assert interloper.done
    assert (taken.ingest.number, taken.ingest.dataset_version, taken.ingest.answered) == (1, 2, 4)

    state = _named(url)
    assert state["cost_floor"] == 1.5  # B's change kept
    assert [(i["number"], i["dataset_version"], i["answered"]) for i in state["ingests"]] == [(1, 2, 4)]
    status = molops("campaign", "status", "sol", "-w", b, "--json").json()
    assert status["proposals"]["open"] == 0
    # one results file, the one the record names (the file of the lost attempt was deleted)
    tables = {k.split("/")[4] for k in s3.keys("team/campaigns/sol/results/")}
    assert tables == {state["ingests"][0]["results"].split("/")[1]}


def test_a_propose_that_loses_its_race_leaves_no_object_behind(s3: Bucket, tmp_path: Path) -> None:
    a, b, url = _team(s3, tmp_path)
    interloper = Interloper(b)
    with pytest.raises(CampaignChangedError, match="changed while proposing"):
        Campaign.open(Workspace.open(a), "sol").propose(track=False, progress=interloper)
    assert interloper.done
    assert _named(url)["iterations"] == []
    assert s3.keys("team/campaigns/sol/proposals/") == []
    assert list((a / "campaigns" / "sol" / "proposals").glob("*.parquet")) == []

    won = molops("campaign", "propose", "sol", "--no-track", "-w", b, "--json").json()
    named = _named(url)["iterations"][0]["proposals"]
    assert won["proposals_file"] == f"{url}/campaigns/sol/{named}"
    assert {k.split("/")[4] for k in s3.keys("team/campaigns/sol/proposals/")} == {named.split("/")[1]}
