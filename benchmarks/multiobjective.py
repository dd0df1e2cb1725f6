"""Multi-objective benchmark (issue 17): docking score and QED on the Enamine 10k set.

Prints ONE JSON line on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/multiobjective.py                  # 3 repeats, every strategy
    .venv/bin/python benchmarks/multiobjective.py --repeats 1 --strategies pareto,random

Protocol: MolPAL's (benchmarks/active_learning.py) with a second objective. 10,446 unique
molecules, the docking ``score`` (lower is better) and RDKit's QED (higher is better, computed here
and revealed, like the score, only once a molecule is acquired); a 1% random initial batch, then
five 1% batches, so 6% of the library is evaluated. Both objectives are scaled to [0, 1] over the
library (0 the worst value in it). Metrics, after every batch: the hypervolume of the acquired
molecules as a fraction of the whole library's, with the reference point at the library's worst
(``hv_worst``: easy, a few good molecules cover most of it) and at its median on both objectives
(``hv_median``: only molecules better than half the library on both count); and the fraction of the
library's best Pareto fronts acquired (``front_top``: the first non-dominated fronts, peeled until
they hold at least 1% of the library). Strategies, all on
molops' default recipe (Tanimoto GP on RDKit 2D descriptors), with one model per objective where
they use two, through the same scoring and picking code as ``campaign propose``:

* ``pareto``: hypervolume improvement at the optimistic point, believer batch (kappa 1);
* ``desirability``: the weighted desirability product, both weights 1 (kappa 1);
* ``single``: greedy on the docking score alone (what a single-objective campaign does);
* ``random``: uniform picks.
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
STRATEGIES = ("pareto", "desirability", "single", "random")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def qed(smiles: list[str]) -> np.ndarray:
    from rdkit import Chem
    from rdkit.Chem import QED

    return np.asarray([QED.qed(Chem.MolFromSmiles(s)) for s in smiles], dtype=np.float64)


def best_fronts(points: np.ndarray, fraction: float) -> set[int]:
    """The rows of the first non-dominated fronts, peeled until they hold *fraction* of them."""
    from molops.active.pareto import non_dominated

    left, taken = np.arange(len(points)), []
    while len(taken) < fraction * len(points) and len(left):
        front = non_dominated(points[left])
        taken += left[front].tolist()
        left = left[~front]
    return set(taken)


def one_repeat(strategy: str, X: np.ndarray, y: np.ndarray, args: Any, seed: int) -> list[list[int]]:
    """The acquired rows after each batch, for one strategy and one initial batch."""
    from molops.active.multi_acquisition import pick_pareto, scoring_for
    from molops.active.objectives import objectives_of
    from molops.active.recipe import Recipe
    from molops.active.selection import top_n

    n = len(y)
    rng = np.random.default_rng([seed, 0])
    n_init, n_batch = round(args.init * n), round(args.batch * n)
    acquired = np.zeros(n, dtype=bool)
    acquired[rng.choice(n, n_init, replace=False)] = True
    history = [np.flatnonzero(acquired).tolist()]
    recipe = Recipe().check()
    two = strategy in ("pareto", "desirability")
    multi = objectives_of(["score:min", "qed:max"], strategy, args.kappa)[1] if two else None
    for _ in range(args.iterations):
        train, pool = np.flatnonzero(acquired), np.flatnonzero(~acquired)
        if strategy == "random":
            chosen = pool[rng.choice(len(pool), n_batch, replace=False)]
        else:
            objectives = multi.objectives if multi else objectives_of(["score:min"])[:1]
            means, stds = [], []
            for i, o in enumerate(objectives):
                utility = o.utility(y[train, i])
                transform = recipe.target_transform().fit(utility)
                model = recipe.surrogate().fit(X[train], transform.transform(utility))
                m, s = transform.inverse(*model.predict(X[pool]))
                means.append(m)
                stds.append(s)
            M, S = np.column_stack(means), np.column_stack(stds)
            if multi is None:
                chosen = pool[top_n(M[:, 0], n_batch)]
            else:
                scoring = scoring_for(multi, {"score": y[train, 0], "qed": y[train, 1]})
                scores = scoring.score(M, S)
                if strategy == "desirability":
                    chosen = pool[top_n(scores, n_batch)]
                else:  # the campaign's window: the best 50 per pick, then the believer
                    window = top_n(scores, min(len(pool), 50 * n_batch))
                    fps = np.zeros((len(window), 1), dtype=np.uint8)
                    chosen = pool[window[pick_pareto(scoring, M[window], S[window], n_batch, fps, 1.0)]]
        acquired[chosen] = True
        history.append(np.flatnonzero(acquired).tolist())
    return history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--init", type=float, default=0.01)
    parser.add_argument("--batch", type=float, default=0.01)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--kappa", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    from molops.active.pareto import hypervolume, non_dominated
    from molops.active.recipe import Recipe, featurize
    from molops.active.simulate import load_library
    from molops.compute.local import LocalExecutor

    started = time.perf_counter()
    executor = LocalExecutor(args.workers, preload=("molops.data.validation", "molops.features.build"))
    library = load_library(args.data, "smiles", "score", executor=executor)
    log(f"{len(library)} molecules; QED and {Recipe().featurizer} features ...")
    t0 = time.perf_counter()
    X, valid = featurize(library.smiles, Recipe().featurizer, executor)
    keep = np.flatnonzero(valid)
    y = np.column_stack([library.y, qed(library.smiles)])[keep]
    X = X[keep]
    seconds_features = time.perf_counter() - t0
    # both objectives as utilities scaled to [0, 1] over the library: the reference is its worst
    utility = np.column_stack([-y[:, 0], y[:, 1]])
    scaled = (utility - utility.min(axis=0)) / np.ptp(utility, axis=0)
    refs = {"hv_worst": np.zeros(2), "hv_median": np.median(scaled, axis=0)}
    wholes = {name: hypervolume(scaled, ref) for name, ref in refs.items()}
    top = best_fronts(scaled, 0.01)
    log(f"library front: {int(non_dominated(scaled).sum())} molecules; best fronts: {len(top)}")

    def metrics(rows: list[int]) -> dict[str, float]:
        out = {name: round(hypervolume(scaled[rows], ref) / wholes[name], 4) for name, ref in refs.items()}
        return out | {"front_top": round(len(top & set(rows)) / len(top), 4)}

    results: dict[str, Any] = {}
    for strategy in args.strategies.split(","):
        curves: list[list[dict[str, float]]] = []
        seconds = []
        for r in range(args.repeats):
            t = time.perf_counter()
            history = one_repeat(strategy, X, y, args, seed=r)
            seconds.append(time.perf_counter() - t)
            curves.append([metrics(h) for h in history])
            log(f"{strategy} repeat {r}: {curves[-1][-1]} in {seconds[-1]:.1f} s")
        results[strategy] = {"seconds_per_repeat": round(float(np.mean(seconds)), 1)}
        for name in (*refs, "front_top"):
            per = np.asarray([[point[name] for point in c] for c in curves])
            results[strategy][name] = {
                "curve_mean": [round(float(v), 4) for v in per.mean(axis=0)],
                "final_mean": round(float(per[:, -1].mean()), 4),
                "final_sd": round(float(per[:, -1].std()), 4),
            }
    print(
        json.dumps(
            {
                "benchmark": "multiobjective",
                "data": str(args.data),
                "molecules": len(y),
                "objectives": ["score:min", "qed:max"],
                "protocol": {
                    "init": args.init,
                    "batch": args.batch,
                    "iterations": args.iterations,
                    "repeats": args.repeats,
                    "kappa": args.kappa,
                },
                "library_front_size": int(non_dominated(scaled).sum()),
                "best_fronts_size": len(top),
                "results": results,
                "seconds_features": round(seconds_features, 1),
                "seconds": round(time.perf_counter() - started, 1),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            }
        )
    )


if __name__ == "__main__":
    main()
