"""The forest's pool-scoring walk (issue 19): molecules per CPU-second by chunk size, side by side
with the walk it replaced, and the flat all-trees walk of served requests.

Prints ONE JSON line on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/forest_walk.py                  # 300 trees, 3,000 training rows
    .venv/bin/python benchmarks/forest_walk.py --rows 16384 --chunks 4096 8192 16384

Data: Morgan counts (r=2, 2048) of ``benchmarks/synthetic_library.py``'s molecules (built first if
missing): the default forest (``rf``, 300 trees) is fitted on the first ``--train`` of them with
the library's score, and predicts the next ``--rows`` in chunks. Per chunk size, in the same
process, alternating ``--repeats`` times (best of each reported):

* ``sklearn``: what ``RandomForest.predict`` did before this walk: ``count_nonzero``, scipy's
  ``csr_matrix``, sklearn's ``forest.apply`` (a joblib task per tree), one gather of the leaf
  values of (rows × trees) leaf ids, the ensemble statistics;
* ``molops``: ``RandomForest.predict`` as it is.

Rates are molecules per CPU-second of this process (every thread): on a shared machine they move
far less with other people's load than wall-clock rates do (both are printed). The flat walk:
CPU milliseconds per request of 1 and 32 molecules, and bytes per node of its arrays.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import machine
from synthetic_library import ensure_library

FEATURIZER = "morgan:counts=true"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def features(library: Path, rows: int) -> tuple[np.ndarray, np.ndarray]:
    from molops.features.base import get_featurizer

    with gzip.open(library, "rt", newline="") as f:
        head = [r for _, r in zip(range(rows), csv.DictReader(f), strict=False)]
    values = get_featurizer(FEATURIZER).transform([r["smiles"] for r in head]).values
    return np.asarray(values, dtype=np.float32), np.array([float(r["score"]) for r in head])


def sklearn_predict(model: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The walk before this one, kept here as the baseline."""
    from molops.models.base import ensemble_stats

    Xw: Any = X
    if np.count_nonzero(X) <= 0.1 * X.size:
        Xw = csr_matrix(X, dtype=np.float32)
    leaves = model._forest.apply(Xw)
    return ensemble_stats(model._leaf_values[leaves + model._offsets].T)


def rate(predict: Callable[[np.ndarray], Any], X: np.ndarray, chunk: int) -> tuple[float, float]:
    """(molecules per CPU-second, per wall second) over *X* in chunks of *chunk* rows."""
    n = len(X) // chunk * chunk
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(0, n, chunk):
        predict(X[i : i + chunk])
    return n / (time.process_time() - cpu), n / (time.perf_counter() - wall)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=3000, help="training molecules")
    parser.add_argument("--rows", type=int, default=16384, help="molecules predicted per chunk size")
    parser.add_argument("--chunks", type=int, nargs="+", default=[4096, 8192, 16384])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--trees", type=int, default=300)
    args = parser.parse_args()

    from molops.models.zoo.forest import RandomForest

    load = [round(os.getloadavg()[0], 1)]
    library = ensure_library(20_000)
    log(f"featurizing {args.train + args.rows} molecules")
    X, y = features(library, args.train + args.rows)
    log(f"fitting {args.trees} trees on {args.train}")
    model = RandomForest(n_estimators=args.trees).fit(X[: args.train], y[: args.train])
    pool = X[args.train :]
    check = pool[:4096]
    before = model._leaf_values[model._forest.apply(csr_matrix(check)) + model._offsets].T
    same = bool(np.array_equal(before, model.tree_predictions(check)))  # every tree's prediction
    walks: dict[str, Callable[[np.ndarray], Any]] = {
        "sklearn": lambda A: sklearn_predict(model, A),
        "molops": model.predict,
    }
    chunks: dict[str, Any] = {}
    for chunk in args.chunks:
        best: dict[str, list[float]] = {name: [0.0, 0.0] for name in walks}
        for _ in range(args.repeats):
            for name, walk in walks.items():
                cpu_rate, wall_rate = rate(walk, pool, chunk)
                best[name] = [max(best[name][0], cpu_rate), max(best[name][1], wall_rate)]
        chunks[str(chunk)] = {
            **{f"{name}_mol_per_cpu_s": round(v[0]) for name, v in best.items()},
            **{f"{name}_mol_per_s": round(v[1]) for name, v in best.items()},
            "ratio_cpu": round(best["molops"][0] / best["sklearn"][0], 2),
        }
        log(f"{chunk}: {chunks[str(chunk)]}")
    flat = model.flat_forest()
    nodes = len(flat.feature)
    served = {}
    for n in (1, 32):
        started = time.process_time()
        calls = 0
        for i in range(0, 320, n):
            flat.apply(pool[i : i + n])
            calls += 1
        served[f"{n}_rows_cpu_ms"] = round((time.process_time() - started) / calls * 1000, 3)
    load.append(round(os.getloadavg()[0], 1))
    result = {
        "benchmark": "forest_walk",
        "trees": args.trees,
        "train": args.train,
        "rows": args.rows,
        "nodes": nodes,
        "tree_predictions_identical": same,
        "chunks": chunks,
        "flat_walk": {"bytes_per_node": round(flat.nbytes / nodes, 2), **served},
        "machine": {**machine(), "load_avg_1m": load},
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
