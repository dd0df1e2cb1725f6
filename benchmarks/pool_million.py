"""Pools of a million (issue 19): one cold ``campaign propose`` over an N-molecule pool, measured.

Prints ONE JSON line on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/pool_million.py --rows 100000            # ~100k pool
    .venv/bin/python benchmarks/pool_million.py --rows 1000000 --warm    # the goal's size, + a warm propose

The pool is ``benchmarks/synthetic_library.py``'s library of N distinct drug-like analogues (built
first if missing). The measured dataset is its first ``--train`` rows with the library's own
score column (Crippen logP + 0.1 × heavy atoms: cheap, and a function of the structure a forest
can learn); those molecules are in the pool too, so the propose excludes them as measured.
Recipe: Morgan counts (r=2, 2048) → the default random forest (300 trees) → its default
acquisition, batch 96, scored in the proposing process unless ``--executor local``.

The cold propose runs in a fresh child process that builds the pool's identity table and Morgan
counts (all cores), trains, scores every molecule and writes the batch; a thread here samples,
every 0.2 s, the RSS and the PSS (``memory_full_info().pss``: shared pages split between the
processes sharing them) of the child and all its descendants (fork server, feature workers) and
keeps the largest sums, for the build and for the rest of the propose separately. Rates: the
build's from its own report (rows/s of the pool build the propose ran); scoring's from the
iteration (molecules scored / seconds of the scoring phase alone, after the build), and per
CPU-second of that phase (all the process's threads), which a loaded machine disturbs far less.
``--warm`` runs a second propose (the next iteration, everything cached) in another child,
measured the same.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _memory import TreeMemory
from ingest import machine
from synthetic_library import ensure_library

FEATURIZER = "morgan:counts=true"
SAMPLE_S = 0.2
BUILD_FIELDS = ("featurizer", "n", "computed", "cached", "seconds", "rows_per_s", "workers")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def write_training(library: Path, rows: int, out: Path) -> Path:
    """The library's first *rows* rows (smiles, score) as a CSV: the campaign's measured data."""
    with gzip.open(library, "rt", newline="") as src, out.open("w", newline="") as dst:
        reader, writer = csv.reader(src), csv.writer(dst)
        writer.writerow(next(reader))
        for i, row in enumerate(reader):
            if i >= rows:
                break
            writer.writerow(row)
    return out


def last_phase(phase_file: Path) -> Callable[[], str]:
    """The phase the child last wrote to *phase_file* (one name per line; ``start`` before any)."""

    def phase() -> str:
        try:
            lines = phase_file.read_text().split()
        except FileNotFoundError:
            return "start"
        return lines[-1] if lines else "start"

    return phase


def measured_propose(ws: Path, executor: str) -> dict[str, Any]:
    """One propose in a child process, with its memory sampled; the child's JSON plus the peaks."""
    phase_file = ws / f"phase-{time.time_ns()}.txt"
    argv = [sys.executable, __file__, "--child", str(ws), executor, str(phase_file)]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    with TreeMemory(proc.pid, SAMPLE_S, phase=last_phase(phase_file)) as memory:
        out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"the propose child exited {proc.returncode}")
    peak = memory.peak.as_dict()
    return json.loads(out) | {
        "wall_s": round(time.perf_counter() - started, 1),
        "peak": {k: peak[k] for k in ("rss_mb", "pss_mb", "own_rss_mb")},
        "peak_by_phase": {name: p.as_dict() for name, p in memory.by_phase.items()},
        "samples": memory.samples,
    }


def child(ws_root: str, executor_name: str, phase_file: str) -> None:
    """The measured propose (in its own process): build, train, score, select, with its phases."""
    from molops.active import Campaign
    from molops.compute import get_executor
    from molops.features.store import FeatureStore
    from molops.workspace import Workspace

    marks = Path(phase_file)

    def phase(name: str) -> None:
        with marks.open("a") as fh:
            fh.write(f"{name}\n")

    builds: list[dict[str, Any]] = []
    build_pool = FeatureStore.build_pool

    def timed_build(self: FeatureStore, *args: Any, **kwargs: Any) -> Any:  # instruments the propose's build
        phase("build")
        report = build_pool(self, *args, **kwargs)
        builds.append(report.model_dump())
        phase("score")
        return report

    FeatureStore.build_pool = timed_build  # type: ignore[method-assign]  # benchmark instrumentation only
    ws = Workspace.open(ws_root)
    preload = ("molops.active.scan",)
    executor = None if executor_name == "none" else get_executor(executor_name, 0, None, preload)
    phase("train")
    started = time.perf_counter()
    result = Campaign.open(ws, "million").propose(executor=executor)
    it = result.iteration
    # molecules per CPU-second of the scoring phase: comparable across machine loads, wall rates are not
    score_cpu = (it.cpu_seconds or {}).get("score")
    print(
        json.dumps(
            {
                "seconds": round(time.perf_counter() - started, 1),
                "pool_rows": it.pool_rows,
                "scored": it.scored,
                "excluded": it.excluded,
                "proposed": it.proposed,
                "seconds_scoring": it.seconds_scoring,
                "scoring_mol_per_s": it.molecules_per_s,
                "scoring_mol_per_cpu_s": round(it.scored / score_cpu, 1) if score_cpu else None,
                "cpu_seconds": it.cpu_seconds,
                "build": [{k: b[k] for k in BUILD_FIELDS} for b in builds],
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="pool molecules (the library's size)")
    parser.add_argument("--train", type=int, default=3000, help="measured: the library's first rows")
    parser.add_argument("--executor", default="none", help="where to score: none (in process) or local")
    parser.add_argument("--warm", action="store_true", help="also a second propose, everything cached")
    parser.add_argument("--workspace", type=Path, default=None, help="keep the workspace here (new)")
    parser.add_argument("--library", type=Path, default=None, help="the library file (default: built)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0

    from molops.active import Campaign, Objective, Recipe
    from molops.workspace import Workspace

    library = args.library or ensure_library(args.rows)
    load = [round(os.getloadavg()[0], 1)]
    with tempfile.TemporaryDirectory(prefix="molops-million-") as tmp:
        root = args.workspace or Path(tmp) / "ws"
        ws = Workspace.init(root)
        train = write_training(library, args.train, Path(tmp) / "train.csv")
        log(f"ingesting {args.train} measured molecules")
        ws.dataset("library").ingest(train, smiles_col="smiles", target_col="score")
        recipe = Recipe(featurizer=FEATURIZER, model="rf")
        objective = Objective(target="score", maximize=True)
        Campaign.create(
            ws, "million", dataset="library", pool=library, objective=objective, recipe=recipe, batch_size=96
        )
        runs = []
        for label in ["cold", "warm"] if args.warm else ["cold"]:
            log(f"propose ({label}) over {library.name}")
            runs.append({"run": label} | measured_propose(root, args.executor))
            load.append(round(os.getloadavg()[0], 1))
            log(json.dumps(runs[-1]))
    result = {
        "benchmark": "pool_million",
        "pool": str(library),
        "train": args.train,
        "recipe": recipe.model_dump(),
        "executor": args.executor,
        "machine": {**machine(), "load_avg_1m": load},
        "runs": runs,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
