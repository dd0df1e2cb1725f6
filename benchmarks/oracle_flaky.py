"""Live-oracle benchmark (issue 17): ``campaign run`` with a slow, flaky oracle, killed and resumed,
against the same campaign with a well-behaved lookup oracle.

Prints ONE JSON object on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/oracle_flaky.py
    .venv/bin/python benchmarks/oracle_flaky.py --iterations 3 --batch 0.005   # quicker

Protocol: the Enamine 10k docking set (lower is better), a 1% random initial dataset (the same
for both runs), then ``--iterations`` batches of 1% proposed by ``molops campaign run`` with a quick
recipe (``--create``; the default GP on RDKit 2D descriptors spends minutes on the pool's
features on 2 cores), each answered by ``tests/data/flaky_oracle.py`` reading the true scores:
(a) as a plain lookup; (b) slow and flaky: a random sleep per call, one call in ten failing whole
(the chunk is split and retried), a seeded share of molecules answered with no value, NaN or text,
and a smaller share hanging until their time budget kills them. Run (b) is killed with SIGKILL
once, in the middle of a batch (after its first settled chunk of iteration ``--kill-at``), and run
again to the end. Every id each call is sent goes to a counting file, so the report can show that
no molecule whose result was journaled before the kill was sent again, and how many calls each
molecule took (splits after a failed call send a molecule more than once before its result).
The metric is MolPAL's: the fraction of the true top 1% in the campaign's dataset after each batch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "enamine10k_scores.csv.gz"
ORACLE = ROOT / "tests" / "data" / "flaky_oracle.py"
MOLOPS = str(Path(sys.executable).with_name("molops"))
FAST_RECIPE = """--model rf --featurizer morgan --params '{"n_estimators": 100, "n_jobs": 2}'"""
FLAKY = "--jitter 0.3 --fail-rate 0.1 --molecule-fail-rate 0.05 --hang-rate 0.01 --seed 17"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def molops(*args: Any, timeout: float = 900) -> dict[str, Any]:
    proc = subprocess.run(
        [MOLOPS, *map(str, args), "--json"], capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise SystemExit(f"molops {' '.join(map(str, args))} failed:\n{proc.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--init", type=float, default=0.01)
    parser.add_argument("--batch", type=float, default=0.01)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--top-k", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=13)
    parser.add_argument("--timeout-per-molecule", type=float, default=0.5)
    parser.add_argument("--kill-at", type=int, default=3, help="the iteration whose batch is killed")
    parser.add_argument(
        "--create",
        default=FAST_RECIPE,
        help="`campaign create`'s recipe options (default: a random forest on Morgan bits, which is quick)",
    )
    args = parser.parse_args()

    from molops.active.simulate import load_library

    started = time.perf_counter()
    library = load_library(args.data, "smiles", "score")
    n = len(library)
    k, init, batch = round(args.top_k * n), round(args.init * n), round(args.batch * n)
    order = np.argsort(library.y, kind="stable")  # lowest first, ties by file order
    top = {library.inchikeys[i] for i in order[:k]}
    log(f"library: {n} molecules (top {k}) in {time.perf_counter() - started:.0f} s")

    with tempfile.TemporaryDirectory(prefix="molops-oracle-bench-") as tmp:
        folder = Path(tmp)
        lookup, pool = folder / "lookup.csv", folder / "pool.csv"
        pd.DataFrame({"inchikey": library.inchikeys, "value": library.y}).to_csv(lookup, index=False)
        pd.DataFrame({"smiles": library.smiles}).to_csv(pool, index=False)
        first = np.random.default_rng(args.seed).choice(n, init, replace=False)
        pd.DataFrame({"smiles": [library.smiles[i] for i in first], "score": library.y[first]}).to_csv(
            folder / "init.csv", index=False
        )
        ws = folder / "ws"
        subprocess.run([MOLOPS, "init", str(ws)], check=True, capture_output=True)
        for name in ("lookup", "flaky"):
            molops("data", "ingest", folder / "init.csv", "-d", name, "--smiles-col", "smiles",
                   "--target-col", "score", "-w", ws)  # fmt: skip
            molops("campaign", "create", name, "-d", name, "--pool", pool, "--target", "score", "--minimize",
                   "--batch-size", batch, "--no-pains", *shlex.split(args.create), "-w", ws)  # fmt: skip

        def run_argv(name: str, count: Path, extra: str, iterations: int = args.iterations) -> list[str]:
            oracle = f"{sys.executable} {ORACLE} {{in}} {{out}} --lookup {lookup} --count {count} {extra}"
            return [MOLOPS, "campaign", "run", name, "--oracle", oracle, "--iterations", str(iterations),
                    "--parallel", str(args.parallel), "--chunk-size", str(args.chunk_size),
                    "--timeout-per-molecule", str(args.timeout_per_molecule), "--no-track", "-w", str(ws),
                    "--json"]  # fmt: skip

        # (a) and (b) side by side: the oracle calls mostly wait, and the benchmark stays near 5 min
        t0 = time.perf_counter()
        count_a = folder / "calls-lookup.txt"
        lookup_run = subprocess.Popen(run_argv("lookup", count_a, ""), stdout=subprocess.PIPE, text=True)

        count_b, calls_b = folder / "calls-flaky.txt", folder / "calls-flaky.log"
        flaky = f"{FLAKY} --log {calls_b}"
        killed = kill_mid_batch(run_argv("flaky", count_b, flaky), ws, args.kill_at)
        settled_before = killed["settled"]
        sent_before = Counter(count_b.read_text().split())
        log(f"(b) killed in iteration {killed['iteration']} with {len(settled_before)} results journaled")
        rest = run_argv("flaky", count_b, flaky, args.iterations - args.kill_at + 1)  # the resumed one counts
        b = json.loads(subprocess.run(rest, check=True, capture_output=True, text=True).stdout)
        seconds_b = time.perf_counter() - t0
        sent = Counter(count_b.read_text().split())
        again = sorted(key for key in settled_before if sent[key] != sent_before[key])
        in_flight = sorted(k for k in sent_before if k not in settled_before and sent[k] > sent_before[k])
        log(f"(b) flaky: resumed, {len(b['batches'])} batches; {len(again)} recorded molecules sent again")

        out_a, _ = lookup_run.communicate()
        if lookup_run.returncode != 0:
            raise SystemExit(f"campaign run lookup failed with code {lookup_run.returncode}")
        log(f"(a) lookup: {len(json.loads(out_a)['batches'])} batches")
        late = sent_after_recorded(ws, "flaky", calls_b)

        curves = {name: curve(ws, name, top) for name in ("lookup", "flaky")}
        failures = Counter(
            _reason_kind(f["reason"]) for f in molops("campaign", "status", "flaky", "-w", ws)["failures"]
        )
        calls_per_molecule = Counter(sent.values())
        result = {
            "benchmark": "oracle_flaky",
            "data": args.data.name,
            "protocol": vars(args) | {"data": args.data.name, "k": k, "flaky_options": FLAKY},
            "curves": curves,
            "seconds_both_runs": round(seconds_b, 1),
            "lookup": {
                "oracle_calls": sum(Counter(count_a.read_text().split()).values()),
            },
            "flaky": {
                "killed_in_iteration": killed["iteration"],
                "journaled_before_kill": len(settled_before),
                "oracle_processes_at_kill": killed["running"],
                "oracle_processes_left_after_kill": killed["orphans"],
                "recorded_then_sent_again": len(again),
                "in_flight_at_kill_sent_again": len(in_flight),
                "sent_after_its_result_was_journaled": late,
                "molecules_sent": len(sent),
                "calls_per_molecule": {str(c): m for c, m in sorted(calls_per_molecule.items())},
                "failures_by_reason": dict(failures.most_common()),
                "splits_after_resume": b["splits"],
                "batches": [
                    {
                        "iteration": r["iteration"],
                        "sent": r["sent"],
                        "answered": r["answered"],
                        "failed": len(r["failures"]),
                        "dataset_version": r["dataset_version"],
                    }
                    for r in b["batches"]
                ],
            },
            "seconds": round(time.perf_counter() - started, 1),
            "machine": {
                "platform": platform.platform(),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
            },
        }
        print(json.dumps(result, indent=1))


def kill_mid_batch(argv: list[str], ws: Path, iteration: int) -> dict[str, Any]:
    """Start ``campaign run``; SIGKILL it once iteration *iteration*'s batch has a settled chunk
    in its journal (polled). Returns the iteration, every result journaled by then, and how many
    oracle processes were still alive a few seconds after the kill (the guard should leave none)."""
    from molops import Workspace
    from molops.active import Campaign
    from molops.active.oracle_batch import OracleBatch
    from molops.active.oracle_procs import marked, owner_token

    token = owner_token(Campaign.open(Workspace.open(ws), "flaky")._where, "flaky")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 900
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"campaign run ended (code {proc.returncode}) before it could be killed")
            if time.monotonic() > deadline:
                raise SystemExit("campaign run never reached the batch to kill")
            campaign = Campaign.open(Workspace.open(ws), "flaky")
            current = OracleBatch.current(campaign)
            if current is not None and current.iteration.number == iteration:
                journal = current.journal.read()
                running = len(marked(token))  # oracle processes (guards included) at the kill
                if journal["outcome"].isin(["value", "failed"]).any() and running:
                    break
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    campaign = Campaign.open(Workspace.open(ws), "flaky")
    state = campaign.load()
    settled = set()
    batch = OracleBatch.current(campaign, state)
    for b in state.batches:  # finished batches: every molecule sent
        settled |= set(OracleBatch(campaign, state, state.iterations[b.iteration - 1]).journal.read()["id"])
    if batch is not None:
        journal = batch.journal.read()
        settled |= set(journal.loc[journal["outcome"].isin(["value", "failed"]), "id"])
    end = time.monotonic() + 10
    while marked(token) and time.monotonic() < end:
        time.sleep(0.05)
    return {"iteration": iteration, "settled": settled, "running": running, "orphans": len(marked(token))}


def sent_after_recorded(ws: Path, name: str, calls: Path) -> int:
    """How many times a call began after the molecule's result was journaled (the whole run,
    the kill included): each call's start time in *calls* against the journal's commit times."""
    from molops import Workspace
    from molops.active import Campaign
    from molops.active.oracle_batch import OracleBatch

    campaign = Campaign.open(Workspace.open(ws), name)
    state = campaign.load()
    journal = pd.concat([OracleBatch(campaign, state, it).journal.read() for it in state.iterations])
    journal = journal[journal["outcome"].isin(["value", "failed"])]
    recorded = journal.groupby("id")["time_ns"].min()
    late = 0
    for line in calls.read_text().splitlines():
        stamp, key = line.split()
        late += key in recorded.index and int(stamp) > int(recorded[key])
    return late


def curve(ws: Path, name: str, top: set[str]) -> list[dict[str, Any]]:
    """The fraction of the top found in each dataset version of the campaign's dataset."""
    from molops import Workspace

    ds = Workspace.open(ws).dataset(name)
    points = []
    for v in ds.versions():
        frame = ds.read(v.version)
        measured = set(frame.loc[frame["score"].notna(), "inchikey"])
        points.append(
            {
                "version": v.version,
                "evaluated": len(measured),
                "top_found": round(len(top & measured) / len(top), 3),
            }
        )
    return points


def _reason_kind(reason: str) -> str:
    """A failure reason without its numbers, so the same kind counts once."""
    if reason.startswith("timed out"):
        return "timed out"
    if reason.startswith("value") and "is not a number" in reason:
        return "value is not a number"
    return reason


if __name__ == "__main__":
    main()
