"""Shared-workspace benchmark (issue 15): the same commands on a local workspace and on S3 + Postgres.

Prints ONE JSON object on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/shared_workspace.py                 # 3,000 rows, a 3,000-molecule pool
    .venv/bin/python benchmarks/shared_workspace.py --rows 5000 --pool 5000

Each step is a ``molops`` command, run as a user runs it (one process each, so every time includes
the command's start-up, the same on both sides), on two fresh workspaces: a local one (tables in the
directory, MLflow on SQLite) and a shared one (``--storage s3://…`` on moto's S3 server and
``--tracking-uri postgresql://…`` on a throwaway PostgreSQL cluster, both on loopback and started
here with the backend tests' helper, ``tests/backends/_servers.py``; MLflow's artifacts then go to
the bucket too). Steps: ingest the first ``--rows`` molecules of
``../shared/data/enamine10k_scores.csv.gz``, build Morgan features for that dataset, train a small
random forest, create a campaign over the next ``--pool`` molecules and propose one batch. Reported:
each side's median seconds over ``--repeats`` fresh workspace pairs (the order alternating), and the
ratio shared/local.

moto is an in-memory emulator in a process on this machine, so a ratio measures what molops does
against an object-store API and a database server (more requests, serialisation, Delta commits),
not a real network's latency or bandwidth.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))  # the loopback backends shared with the backend tests
from backends._servers import moto_server, postgres_cluster  # noqa: E402

SOURCE = ROOT.parent / "shared" / "data" / "enamine10k_scores.csv.gz"
MOLOPS = [str(Path(sys.executable).parent / "molops")]  # the venv's console script
CAMPAIGN = "bench"
FEATURIZER = "morgan:counts=true"
BUCKET = "molops-bench"


def log(message: str) -> None:
    print(f"[shared_workspace] {message}", file=sys.stderr, flush=True)


def write_inputs(folder: Path, rows: int, pool: int) -> tuple[Path, Path]:
    """The dataset (smiles, score: the first *rows* molecules) and the pool (the next *pool*)."""
    with gzip.open(SOURCE, "rt", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        records = [r for _, r in zip(range(rows + pool), reader, strict=False)]
    if len(records) < rows + pool:
        raise SystemExit(f"{SOURCE}: {len(records)} rows; --rows plus --pool must be at most that")
    data, candidates = folder / "data.csv", folder / "pool.csv"
    with data.open("w", newline="") as f:
        csv.writer(f).writerows([["smiles", "score"], *records[:rows]])
    with candidates.open("w", newline="") as f:
        csv.writer(f).writerows([["smiles"], *([r[0]] for r in records[rows:])])
    return data, candidates


def steps(data: Path, pool: Path, trees: int) -> list[tuple[str, list[str]]]:
    """(name, molops arguments) of each timed step, in order."""
    # Morgan counts (train's default): the campaign's default recipe, RDKit 2D descriptors, would
    # make the step mostly descriptor arithmetic, the same on both sides
    morgan = ["--featurizer", FEATURIZER]
    rf = ["--model", "rf", "--params", json.dumps({"n_estimators": trees}), *morgan]
    objective = ["-d", "enamine", "--pool", str(pool), "--target", "score", "--minimize"]
    return [
        ("ingest", ["data", "ingest", str(data), "-d", "enamine", "--target-col", "score", "--workers", "1"]),
        ("features", ["features", "build", "-d", "enamine", *morgan, "--workers", "1"]),
        ("train", ["train", "-d", "enamine", *rf]),
        ("campaign_create", ["campaign", "create", CAMPAIGN, *objective, *rf]),
        ("propose", ["campaign", "propose", CAMPAIGN, "--batch-size", "50"]),
    ]


def run_steps(
    ws: Path, init: list[str], env: dict[str, str], plan: list[tuple[str, list[str]]]
) -> dict[str, float]:
    """Initialise workspace *ws* and time each step of *plan* there; seconds per step."""
    _molops(["init", str(ws), *init], env)
    seconds: dict[str, float] = {}
    for name, args in plan:
        started = time.perf_counter()
        _molops([*args, "-w", str(ws), "--json"], env)
        seconds[name] = round(time.perf_counter() - started, 2)
        log(f"  {name}: {seconds[name]:.2f} s")
    return seconds


def _molops(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run([*MOLOPS, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"molops {' '.join(args[:3])} failed ({done.returncode}):\n{done.stderr[-3000:]}")


def load() -> list[float]:
    """The 1, 5 and 15-minute load averages (this machine may be shared)."""
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=3000, help="Dataset molecules.")
    parser.add_argument("--pool", type=int, default=3000, help="Campaign pool molecules (scored by propose).")
    parser.add_argument("--trees", type=int, default=50, help="Random forest trees (train and the campaign).")
    parser.add_argument(
        "--repeats", type=int, default=2, help="Fresh workspace pairs; the median is reported."
    )
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MOLOPS_", "AWS_", "PG"))}
    load_before = load()
    local: list[dict[str, float]] = []
    shared: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="molops-shared-bench-") as tmp:
        folder = Path(tmp)
        data, pool = write_inputs(folder, args.rows, args.pool)
        plan = steps(data, pool, args.trees)
        log("starting PostgreSQL and moto on loopback")
        with postgres_cluster() as pg, moto_server() as s3:
            s3.client().create_bucket(Bucket=BUCKET)
            env = base | s3.env() | pg.env()
            for r in range(args.repeats):  # the order alternates, so neither side always goes first
                prefix = f"team{r}"
                shared_init = [
                    "--storage",
                    f"s3://{BUCKET}/{prefix}",
                    "--tracking-uri",
                    pg.url(pg.create_database()),
                ]
                sides = [
                    ("local", folder / f"local{r}", [], base),
                    ("shared", folder / f"shared{r}", shared_init, env),
                ]
                for side, ws, init, side_env in sides[:: 1 if r % 2 == 0 else -1]:
                    log(f"repeat {r + 1}/{args.repeats}: {side} workspace")
                    (local if side == "local" else shared).append(run_steps(ws, init, side_env, plan))
                keys = s3.client().list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/mlartifacts/")
                assert keys.get("KeyCount", 0) > 0, "the shared workspace logged no artifact to the bucket"
    median = {k: round(statistics.median(run[k] for run in local), 2) for k in local[0]}
    median_shared = {k: round(statistics.median(run[k] for run in shared), 2) for k in shared[0]}
    result: dict[str, Any] = {
        "benchmark": "shared_workspace",
        "rows": args.rows,
        "pool": args.pool,
        "trees": args.trees,
        "repeats": args.repeats,
        "seconds_local": median,
        "seconds_shared": median_shared,
        "ratio_shared_to_local": {k: round(median_shared[k] / median[k], 2) for k in median},
        "runs": {"local": local, "shared": shared},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": load_before,
            "load_after": load(),
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
