"""Active-learning benchmark (issue 6): MolPAL's protocol on the Enamine 10k docking set.

Prints ONE JSON object on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/active_learning.py                      # default, molpal, random
    .venv/bin/python benchmarks/active_learning.py --recipes default --repeats 5
    .venv/bin/python benchmarks/active_learning.py --recipe-json '{"model": "gp", "featurizer": "morgan"}'

Protocol (Graff et al., MolPAL): 10,446 unique molecules with docking scores against thymidylate
kinase (lower is better); a 1% random initial batch, then five 1% batches, so 6% of the library is
evaluated; the metric is the fraction of the true top 1% (k = 104 lowest scores, ties broken by
file order) acquired, after every batch, as mean ± sd over repeats with different initial batches.
Each recipe runs through the same code as ``molops campaign simulate``; features are computed
once per featurizer and shared by the recipes, and their time is reported separately.

Anchor, measured on this kind of machine with MolPAL 1.2.0 itself (5 seeds, fraction at 6%):
RF + greedy on its atom-pair fingerprint 0.47 ± 0.07, its NN + greedy 0.53 ± 0.04, RF + UCB
0.45 ± 0.06, RF on Morgan bits 0.30 ± 0.07, random 0.075 ± 0.02.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "enamine10k_scores.csv.gz"

#: Named recipes. ``molpal``: MolPAL's default RF (100 trees, depth 8, all features per split) on
#: its atom-pair fingerprint (2048 bits, path lengths 1–3), greedy — the harness check.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "molpal": {
        "model": "rf",
        "model_params": {"n_estimators": 100, "max_depth": 8, "max_features": 1.0},
        "featurizer": "atompair:length=2048,max_distance=3",
        "acquisition": "greedy",
    },
    "random": {"acquisition": "random", "model": "rf", "model_params": {"n_estimators": 10}},
    # Tanimoto/MinMax GP (exact) on RDKit 2D descriptors, greedy: the measured candidate default
    "gp-rdkit2d": {"model": "gp", "featurizer": "rdkit2d", "acquisition": "greedy"},
    "gp-pairs": {"model": "gp", "featurizer": "atompair+morgan:counts=true", "acquisition": "greedy"},
    # issue 19: one Tanimoto kernel on the fingerprints and one on the descriptors, weighed by
    # marginal likelihood; and the same model where descriptors cost too much (fingerprints only)
    "gp-split": {
        "model": "gp-split",
        "featurizer": "atompair+morgan:counts=true+rdkit2d",
        "acquisition": "greedy",
    },
    "gp-split-pairs": {
        "model": "gp-split",
        "featurizer": "atompair+morgan:counts=true",
        "acquisition": "greedy",
    },
    # the descriptor-free pick with the model's default acquisition (a GP's: UCB, beta = 1)
    "pairs": {"model": "gp-split", "featurizer": "atompair+morgan:counts=true"},
    # chemprop's D-MPNN (the `gnn` extra) with its defaults: an ensemble of 3, up to 50 epochs; on a
    # GPU when one is present. And the same with RDKit 2D descriptors joined to its encoding.
    "dmpnn": {"model": "dmpnn", "acquisition": "greedy"},
    "dmpnn-rdkit2d": {"model": "dmpnn", "model_params": {"descriptors": "rdkit2d"}, "acquisition": "greedy"},
}
MOLPAL_ANCHOR = {
    "molpal_rf_greedy_atompair": [0.47, 0.07],
    "molpal_nn_greedy_atompair": [0.53, 0.04],
    "molpal_rf_ucb_atompair": [0.45, 0.06],
    "molpal_rf_greedy_morgan": [0.30, 0.07],
    "random": [0.075, 0.02],
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--smiles-col", default=None, help="default: SDF mol blocks, a table's smiles")
    parser.add_argument("--target-col", default="score")
    parser.add_argument("--maximize", action="store_true", help="higher values are better (docking: lower)")
    parser.add_argument(
        "--recipes", default="default,molpal,random", help=f"comma-separated: {', '.join(PRESETS)}"
    )
    parser.add_argument("--recipe-json", action="append", default=[], help="an extra recipe as a JSON object")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", type=float, default=0.01)
    parser.add_argument("--batch", type=float, default=0.01)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--top-k", type=float, default=0.01)
    parser.add_argument(
        "--target",
        choices=["file", "sa-score"],
        default="file",
        help="'sa-score': replace the file's values by RDKit's synthetic-accessibility score of each "
        "molecule (issue 19's stand-in for a second library: the same molecules, another target)",
    )
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument(
        "--jobs", type=int, default=1, help="repeats run side by side in this many processes (same curves)"
    )
    args = parser.parse_args()

    from molops.active.recipe import Recipe, featurize
    from molops.active.simulate import load_library
    from molops.compute.local import LocalExecutor

    executor = LocalExecutor(args.workers, preload=("molops.data.validation", "molops.features.build"))
    started = time.perf_counter()
    library = load_library(args.data, args.smiles_col, args.target_col, executor=executor)
    if args.target == "sa-score":
        library.y = sa_scores(library.smiles)
    log(f"library: {len(library)} molecules in {time.perf_counter() - started:.1f} s")
    recipes = {name: PRESETS[name] for name in filter(None, args.recipes.split(","))}
    for i, text in enumerate(args.recipe_json):
        recipes[f"custom{i}"] = json.loads(text)
    features: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
    results: dict[str, Any] = {}
    for name, fields in recipes.items():
        recipe = Recipe(**fields).check().canonical()
        if recipe.featurizer not in features:
            t0 = time.perf_counter()
            X, valid = featurize(library.smiles, recipe.featurizer, executor)
            if not valid.all():
                log(f"   {int((~valid).sum())} molecules without features ({recipe.featurizer})")
            features[recipe.featurizer] = (X, valid, time.perf_counter() - t0)
        X, valid, feature_seconds = features[recipe.featurizer]
        log(f"{name}: {recipe.model} {recipe.model_params} on {recipe.featurizer}, {recipe.acquisition} ...")
        cpu0 = time.process_time()
        result = run_repeats(library, recipe, (X, valid), args)
        cpu = time.process_time() - cpu0  # this process's threads only: meaningless with --jobs > 1
        curve = [round(p.top_k_found_mean, 3) for p in result.curve]
        log(
            f"   {curve}  final {result.final.top_k_found_mean:.3f} ± {result.final.top_k_found_sd:.3f} "
            f"in {result.seconds:.0f} s, {cpu:.0f} CPU s (+ {feature_seconds:.0f} s features)"
        )
        results[name] = {
            "recipe": result.recipe,
            "curve": [p.model_dump() for p in result.curve],
            "final": result.final.model_dump(),
            "repeats": result.repeats,
            "seconds": result.seconds,
            "seconds_features": round(feature_seconds, 2),
            "seconds_per_repeat": round(result.seconds / args.repeats, 2),
            "cpu_seconds_per_repeat": round(cpu / args.repeats, 2) if args.jobs <= 1 else None,
        }
    print(
        json.dumps(
            {
                "benchmark": "active_learning",
                "data": str(args.data.name),
                "library": library.report(),
                "protocol": {
                    "target": args.target,
                    "init": args.init,
                    "batch": args.batch,
                    "iterations": args.iterations,
                    "top_k": args.top_k,
                    "maximize": args.maximize,
                    "repeats": args.repeats,
                    "seed": args.seed,
                },
                "machine": {
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "gpu": gpu_name(),
                },
                "jobs": args.jobs,
                "anchor_at_6_percent": MOLPAL_ANCHOR,
                "results": results,
            },
            indent=1,
        )
    )


def _simulate(library: Any, recipe: Any, features: Any, args: Any, first: int, repeats: int) -> Any:
    from molops.active.simulate import simulate

    return simulate(
        library,
        recipe,
        maximize=args.maximize,
        init=args.init,
        batch=args.batch,
        iterations=args.iterations,
        top_k=args.top_k,
        repeats=repeats,
        seed=args.seed,
        features=features,
        first_repeat=first,
    )


def run_repeats(library: Any, recipe: Any, features: Any, args: Any) -> Any:
    """All repeats, in one process or split over --jobs spawned ones (repeat r always draws its
    initial batch from seed (seed, r), so the curves are the same either way)."""
    if args.jobs <= 1:
        return _simulate(library, recipe, features, args, 0, args.repeats)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from molops.active.simulate import mean_curve

    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")  # a CUDA context does not survive fork
    with ProcessPoolExecutor(min(args.jobs, args.repeats), mp_context=context) as pool:
        futures = {
            pool.submit(_simulate, library, recipe, features, args, r, 1): r for r in range(args.repeats)
        }
        done = {}
        for future in as_completed(futures):
            done[futures[future]] = part = future.result()
            found = [p["top_k_found"] for p in part.repeats[0]]
            log(f"   repeat {futures[future]}: {found} in {time.perf_counter() - started:.0f} s")
    parts = [done[r] for r in range(args.repeats)]
    runs = [part.repeats[0] for part in parts]
    curve = mean_curve(runs)
    return parts[0].model_copy(
        update={
            "protocol": parts[0].protocol | {"repeats": args.repeats, "first_repeat": 0},
            "repeats": runs,
            "curve": curve,
            "final": curve[-1],
            "seconds": round(time.perf_counter() - started, 2),
        }
    )


def sa_scores(smiles: list[str]) -> np.ndarray:
    """Ertl and Schuffenhauer's synthetic-accessibility score (1 easy … 10 hard), from RDKit's
    Contrib: a sum of fragment contributions (Morgan environments, weighed by their frequency in
    PubChem) and size, ring, stereo and macrocycle penalties, so neither a fingerprint nor the
    RDKit 2D descriptors hold it as a column."""
    from rdkit import Chem, RDConfig

    sys.path.insert(0, str(Path(RDConfig.RDContribDir) / "SA_Score"))
    import sascorer  # type: ignore[import-not-found]  # RDKit's Contrib folder, not a package

    return np.array([sascorer.calculateScore(Chem.MolFromSmiles(s)) for s in smiles])


def gpu_name() -> str | None:
    """The GPU torch sees, if torch is installed and sees one."""
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


if __name__ == "__main__":
    main()
