"""Campaign scale benchmark (issue 6): one ``campaign propose`` over a ~1M-molecule pool.

Prints ONE JSON object on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/campaign_scale.py                    # ~915k-molecule pool
    .venv/bin/python benchmarks/campaign_scale.py --rows 100000      # quicker

The measured molecules are the 10,449 Enamine docking scores of
``../shared/data/enamine10k_scores.csv.gz`` (a dataset); the pool is ``benchmarks/featurize.py``'s
analog pool (alkyl chains grown on the Enamine molecules: distinct molecules, cached under
``benchmarks/out/``). The recipe is a random forest (100 trees) on Morgan counts with greedy
acquisition, batch 100: Morgan counts because the default recipe's RDKit 2D descriptors cost
≈ 6 ms a molecule (≈ 1.5 CPU-hours for this pool on 2 cores) and this run is about the pipeline,
not the model. Each propose runs in a child process whose peak RSS (with its workers) is sampled
every 0.2 s: the first (cold: the pool's identity table and features are built) and the second
(warm: everything from the cache, so the time is training + scoring); with several executors
(``--executor none,local,ray``) one warm propose runs on each.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from featurize import SOURCE, log, make_pool, run_sampled

PROPOSE = """
import json, sys, time
from molops.active import Campaign
from molops.compute import get_executor
from molops.workspace import Workspace
ws = Workspace.open(sys.argv[1])
executor = None if sys.argv[2] == "none" else get_executor(sys.argv[2], 0, None, ("molops.active.scan",))
t = time.perf_counter()
result = Campaign.open(ws, "scale").propose(executor=executor)
it = result.iteration
print(json.dumps({"seconds": time.perf_counter() - t, "seconds_scoring": it.seconds_scoring,
                  "scored": it.scored, "pool_rows": it.pool_rows, "proposed": it.proposed,
                  "molecules_per_s": it.molecules_per_s, "excluded": it.excluded}))
"""


def measured_child(argv: list[str]) -> dict[str, Any]:
    """Run *argv* (its stdout is one JSON object) and add its peak RSS with its children's."""
    out, peak = run_sampled(argv)
    return json.loads(out) | {"peak_rss_mb": round(peak / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="Pool molecules asked of the generator.")
    parser.add_argument(
        "--executor",
        default="none",
        help="Where to score: none (in process, default), local or ray; several, comma-separated",
    )
    args = parser.parse_args()
    pool = make_pool(args.rows)
    from molops.active import Campaign, Objective, Recipe
    from molops.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="molops-scale-") as tmp:
        ws = Workspace.init(Path(tmp) / "ws")
        log("ingesting the Enamine scores")
        ws.dataset("enamine").ingest(SOURCE, smiles_col="smiles", target_col="score")
        recipe = Recipe(featurizer="morgan:counts=true", model="rf", model_params={"n_estimators": 100})
        Campaign.create(
            ws, "scale", dataset="enamine", pool=pool, objective=Objective(target="score", maximize=False),
            recipe=recipe, batch_size=100,
        )  # fmt: skip
        executors = args.executor.split(",")
        runs = []
        # cold once (the pool's identity and features are built), then one warm propose per executor
        for label, executor in [("cold", executors[0]), *(("warm", e) for e in executors)]:
            log(f"propose ({label}, executor {executor})")
            argv = [sys.executable, "-c", PROPOSE, str(ws.root), executor]
            runs.append({"run": label, "executor": executor} | measured_child(argv))
            log(json.dumps(runs[-1]))
    print(json.dumps({
        "benchmark": "campaign_scale",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "pool": str(pool), "recipe": recipe.model_dump(), "executor": args.executor, "runs": runs,
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
