"""Shared-workspace benchmark (issue 15): the same commands on a local workspace and on S3 + Postgres.

Prints ONE JSON object on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/shared_workspace.py                 # 3,000 rows, 3,000-molecule pools
    .venv/bin/python benchmarks/shared_workspace.py --rows 3000 --pool 3500
    .venv/bin/python benchmarks/shared_workspace.py --features-only --repeats 3   # ingest and features

Each step is a ``molops`` command, run as a user runs it (one process each, so every time includes
the command's start-up, the same on both sides), on two fresh workspaces: a local one (tables in the
directory, MLflow on SQLite) and a shared one (``--storage s3://…`` on moto's S3 server and
``--tracking-uri postgresql://…`` on a throwaway PostgreSQL cluster, both on loopback and started
here with the backend tests' helper, ``tests/backends/_servers.py``; MLflow's artifacts then go to
the bucket too). Steps: ingest the first ``--rows`` molecules of
``../shared/data/enamine10k_scores.csv.gz``, build Morgan features for that dataset, train a small
random forest, create a campaign over the next ``--pool`` molecules and propose one batch, then
featurize a second pool (the ``--pool`` molecules after those) cold. Then the feature cache from a
second machine: on the shared side a second workspace directory initialised with the same storage
and tracking URIs builds the dataset's and the second pool's features, which it fetches from the
bucket (the script checks that it computed nothing); on the local side, where no second machine can
see the cache, the same workspace builds them again (warm, from its own disk). Reported: each
side's median seconds over ``--repeats`` fresh workspace pairs (the order alternating), the ratio
shared/local, and for the feature builds cold against warm.

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


def write_inputs(folder: Path, rows: int, pool: int) -> tuple[Path, Path, Path]:
    """The dataset (smiles, score: the first *rows* molecules), the campaign's pool (the next
    *pool*) and the pool that is only featurized (the *pool* after those)."""
    with gzip.open(SOURCE, "rt", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        records = [r for _, r in zip(range(rows + 2 * pool), reader, strict=False)]
    if len(records) < rows + 2 * pool:
        raise SystemExit(f"{SOURCE}: {len(records)} rows; --rows plus twice --pool must be at most that")
    data, candidates, other = folder / "data.csv", folder / "pool.csv", folder / "pool2.csv"
    with data.open("w", newline="") as f:
        csv.writer(f).writerows([["smiles", "score"], *records[:rows]])
    with candidates.open("w", newline="") as f:
        csv.writer(f).writerows([["smiles"], *([r[0]] for r in records[rows : rows + pool])])
    with other.open("w", newline="") as f:
        csv.writer(f).writerows([["smiles"], *([r[0]] for r in records[rows + pool :])])
    return data, candidates, other


def feature_steps(pool2: Path, suffix: str) -> list[tuple[str, list[str]]]:
    """The dataset's and the second pool's feature builds (timed cold, then from a second machine)."""
    morgan = ["--featurizer", FEATURIZER, "--workers", "1"]
    return [
        (f"features{suffix}", ["features", "build", "-d", "enamine", *morgan]),
        (f"features_pool{suffix}", ["features", "build", "--pool", str(pool2), *morgan]),
    ]


def steps(data: Path, pool: Path, pool2: Path, trees: int) -> list[tuple[str, list[str]]]:
    """(name, molops arguments) of each timed step on the first machine, in order."""
    # Morgan counts (train's default): the campaign's default recipe, RDKit 2D descriptors, would
    # make the step mostly descriptor arithmetic, the same on both sides
    morgan = ["--featurizer", FEATURIZER]
    rf = ["--model", "rf", "--params", json.dumps({"n_estimators": trees}), *morgan]
    objective = ["-d", "enamine", "--pool", str(pool), "--target", "score", "--minimize"]
    ingest = ["data", "ingest", str(data), "-d", "enamine", "--target-col", "score", "--workers", "1"]
    first, pool_build = feature_steps(pool2, "")
    return [
        ("ingest", ingest),
        first,
        ("train", ["train", "-d", "enamine", *rf]),
        ("campaign_create", ["campaign", "create", CAMPAIGN, *objective, *rf]),
        ("propose", ["campaign", "propose", CAMPAIGN, "--batch-size", "50"]),
        pool_build,  # its own pool, so the campaign's steps above are as before this step existed
    ]


def run_steps(
    ws: Path,
    init: list[str],
    env: dict[str, str],
    plan: list[tuple[str, list[str]]],
    second: tuple[Path | None, list[tuple[str, list[str]]]],
) -> dict[str, float]:
    """Initialise workspace *ws* and time each step of *plan* there, then each step of the
    *second* plan in a second workspace initialised the same way (or in *ws* when that is None);
    seconds per step."""
    _molops(["init", str(ws), *init], env)
    seconds: dict[str, float] = {}
    for name, args in plan:
        seconds[name] = _timed(name, [*args, "-w", str(ws), "--json"], env)[0]
    ws2, plan2 = second
    if ws2 is not None:
        _molops(["init", str(ws2), *init], env)
    for name, args in plan2:
        seconds[name], report = _timed(name, [*args, "-w", str(ws2 or ws), "--json"], env)
        if report["computed"]:  # warm means nothing computed, on either side
            raise SystemExit(f"{name}: {report['computed']} molecules were computed again: {report}")
    return seconds


def _timed(name: str, args: list[str], env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    out = _molops(args, env)
    seconds = round(time.perf_counter() - started, 2)
    log(f"  {name}: {seconds:.2f} s")
    return seconds, json.loads(out)


def _molops(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run([*MOLOPS, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"molops {' '.join(args[:3])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def load() -> list[float]:
    """The 1, 5 and 15-minute load averages (this machine may be shared)."""
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=3000, help="Dataset molecules.")
    parser.add_argument(
        "--pool", type=int, default=3000, help="Molecules per pool (the campaign's, and the featurized one)."
    )
    parser.add_argument("--trees", type=int, default=50, help="Random forest trees (train and the campaign).")
    parser.add_argument(
        "--repeats", type=int, default=2, help="Fresh workspace pairs; the median is reported."
    )
    parser.add_argument(
        "--features-only",
        action="store_true",
        help="Only ingest and the feature builds (no train, campaign or propose): more repeats in less time.",
    )
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MOLOPS_", "AWS_", "PG"))}
    load_before = load()
    local: list[dict[str, float]] = []
    shared: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="molops-shared-bench-") as tmp:
        folder = Path(tmp)
        data, pool, pool2 = write_inputs(folder, args.rows, args.pool)
        plan = steps(data, pool, pool2, args.trees)
        if args.features_only:
            plan = [(name, a) for name, a in plan if name in ("ingest", "features", "features_pool")]
        plan2 = feature_steps(pool2, "_warm")
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
                # the second machine: the local side has none (its cache is warm on its own disk)
                sides = [
                    ("local", folder / f"local{r}", [], base, None),
                    ("shared", folder / f"shared{r}", shared_init, env, folder / f"second{r}"),
                ]
                for side, ws, init, side_env, ws2 in sides[:: 1 if r % 2 == 0 else -1]:
                    log(f"repeat {r + 1}/{args.repeats}: {side} workspace")
                    seconds = run_steps(ws, init, side_env, plan, (ws2, plan2))
                    (local if side == "local" else shared).append(seconds)
                keys = s3.client().list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/mlartifacts/")
                if not args.features_only:  # (nothing is trained then)
                    assert keys.get("KeyCount", 0) > 0, (
                        "the shared workspace logged no artifact to the bucket"
                    )
    median = {k: round(statistics.median(run[k] for run in local), 2) for k in local[0]}
    median_shared = {k: round(statistics.median(run[k] for run in shared), 2) for k in shared[0]}
    result: dict[str, Any] = {
        "benchmark": "shared_workspace",
        "rows": args.rows,
        "pool": args.pool,
        "trees": args.trees,
        "features_only": args.features_only,
        "repeats": args.repeats,
        "seconds_local": median,
        "seconds_shared": median_shared,
        "ratio_shared_to_local": {k: round(median_shared[k] / median[k], 2) for k in median},
        # cold / warm: local warm is its own disk; shared warm is the second machine's fetch
        "ratio_cold_to_warm": {
            side: {k: round(m[k] / m[f"{k}_warm"], 2) for k in ("features", "features_pool")}
            for side, m in (("local", median), ("shared", median_shared))
        },
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
