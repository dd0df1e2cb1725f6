"""Ingest benchmark (issue 3): molops ingest throughput and peak memory against a bare RDKit loop.

Prints ONE JSON object on stdout; progress goes to stderr. Run from the repository root:

    .venv/bin/python benchmarks/ingest.py                 # 100k rows + the 1M-row memory run
    .venv/bin/python benchmarks/ingest.py --skip-large    # quick: the 100k-row part only

Input: the 10,449 Enamine molecules of ``../shared/data/enamine10k_scores.csv.gz`` (or
``--source``), repeated with seeded random SMILES spellings and noisy scores and shuffled, so rows
are not identical strings (molops standardises each distinct string of a chunk once). Generated
files are cached under ``benchmarks/out/``.

Measured in one run:

* the bare loop: ``Chem.MolToSmiles(Chem.MolFromSmiles(s))`` over the file's SMILES, one process
  (the time includes reading the CSV, as ingest's does);
* ``Dataset.ingest`` on 1 worker and on all cores (``workers=0``), each into a fresh workspace;
* per-step costs (µs per molecule) of the standardisation recipe, on a sample;
* peak RSS of ingesting the large file (default 1M rows, all cores): the ingest runs in a fresh
  child process; a thread samples the RSS of that process plus its children (the worker pool).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import rdkit
from rdkit import Chem, RDLogger
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from _memory import TreeMemory

RDLogger.DisableLog("rdApp.*")

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
DEFAULT_SOURCE = HERE.parent.parent / "shared" / "data" / "enamine10k_scores.csv.gz"  # ../shared
SEED = 20240603
NOISE_SD = 0.3  # standard deviation of the noise added to each replicate's score

GOAL_RATIO_1_WORKER = 0.8
GOAL_RATIO_ALL_CORES = 1.0
GOAL_PEAK_RSS_MB = 2048.0

console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


# -- input files ---------------------------------------------------------------------------------
def load_source(path: Path) -> list[tuple[str, float]]:
    with gzip.open(path, "rt", newline="") if path.suffix == ".gz" else path.open(newline="") as f:
        return [(row["smiles"], float(row["score"])) for row in csv.DictReader(f)]


def make_csv(rows: int, source: Path, seed: int = SEED) -> Path:
    """*rows* rows of (smiles, score), cached: a shuffled sample of ceil(rows / N) spellings per
    molecule.

    Spellings are RDKit random SMILES (seeded per molecule); small molecules have few distinct
    spellings, so some strings repeat, more so for the large file. Scores get Gaussian noise.
    """
    path = OUT / f"ingest_{rows}_seed{seed}.csv"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    molecules = load_source(source)
    n = len(molecules)
    per_mol = math.ceil(rows / n)
    rng = np.random.default_rng(seed)
    smiles: list[str] = []
    scores: list[float] = []
    with _progress() as bar:
        task = bar.add_task(f"generating {path.name}", total=per_mol * n)
        for i, (smi, score) in enumerate(molecules):
            count = per_mol
            mol = Chem.MolFromSmiles(smi)
            if mol is None:  # keep the original text: ingest must quarantine it
                spellings = [smi] * count
            else:
                spellings = list(Chem.MolToRandomSmilesVect(mol, count, randomSeed=seed + i))
            smiles += spellings
            scores += list(score + rng.normal(0.0, NOISE_SD, count))
            bar.advance(task, count)
    order = rng.permutation(len(smiles))[:rows]
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["smiles", "score"])
        writer.writerows((smiles[j], f"{scores[j]:.3f}") for j in order)
    tmp.replace(path)
    return path


def read_smiles(path: Path) -> list[str]:
    with path.open(newline="") as f:
        reader = csv.reader(f)
        next(reader)
        return [row[0] for row in reader]


# -- measurements --------------------------------------------------------------------------------
def bare_loop(path: Path) -> dict[str, Any]:
    """Parse and canonicalise every SMILES of *path* in this process; time includes reading."""
    started, cpu = time.perf_counter(), time.process_time()
    smiles = read_smiles(path)
    failed = 0
    with _progress() as bar:
        task = bar.add_task("bare RDKit loop", total=len(smiles))
        for i, s in enumerate(smiles):
            mol = Chem.MolFromSmiles(s)
            if mol is None:
                failed += 1
            else:
                Chem.MolToSmiles(mol)
            if i % 2000 == 0:
                bar.update(task, completed=i)
        bar.update(task, completed=len(smiles))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    rate = len(smiles) / seconds
    return {"rows": len(smiles), "seconds": seconds, "cpu_seconds": cpu, "rows_per_s": rate, "failed": failed}


def molops_ingest(path: Path, workers: int, label: str) -> dict[str, Any]:
    """Ingest *path* into a fresh workspace with *workers*; rows/s over the whole call."""
    from molops.compute.local import default_workers
    from molops.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="molops-bench-") as tmp, _progress() as bar:
        dataset = Workspace.init(Path(tmp) / "ws").dataset("bench")
        task = bar.add_task(label, total=None)

        def progress(rows: int, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        started, cpu = time.perf_counter(), time.process_time()
        report = dataset.ingest(
            path, smiles_col="smiles", target_col="score", workers=workers, progress=progress
        )
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        molecules = len(dataset.read())
    return {
        "rows": report.rows_in,
        "seconds": seconds,
        "cpu_seconds": cpu,  # of this process only: all the work when workers == 1
        "rows_per_s": report.rows_in / seconds,
        "workers": default_workers(workers),
        "accepted": report.accepted,
        "quarantined": report.quarantined,
        "merged_duplicates": report.merged_duplicates,
        "molecules": molecules,
        "reasons": report.reasons,
    }


def step_costs(path: Path, sample: int) -> dict[str, Any]:
    """µs per molecule of each step of molops' standardisation, on the first *sample* rows.

    Each molecule goes through the steps of ``Standardizer.standardize`` one after the other, as in
    ingest, with a timer around each step (timing a step in isolation over many molecules makes it
    look cheaper: caches stay warm). Costs are averaged over all sampled rows, so conditional steps
    (fragment and charge handling run only for SMILES with '.', '+' or '-') weigh by how often they
    run; ``runs`` says how often. Mirrors ``Standardizer.standardize``: keep the two in step.
    """
    from rdkit.Chem import Descriptors

    from molops.chem.standardize import Rejected, Standardizer

    smiles = read_smiles(path)[:sample]
    std = Standardizer()
    names = (
        "parse_and_sanitise",
        "fragment_check",
        "fragment_chooser",
        "normalize",
        "charge_check",
        "uncharger",
        "canonical_smiles",
        "checks",
        "molecular_weight",
        "inchikey",
        "free",
    )
    spent = dict.fromkeys(("bare_parse", "bare_canonical_smiles", "bare_free", *names), 0.0)
    runs = dict.fromkeys(names, 0)
    clock = time.perf_counter

    def bare(s: str) -> None:
        t0 = clock()
        mol = Chem.MolFromSmiles(s)
        t1 = clock()
        if mol is not None:
            Chem.MolToSmiles(mol)
        t2 = clock()
        del mol
        t3 = clock()
        spent["bare_parse"] += t1 - t0
        spent["bare_canonical_smiles"] += t2 - t1
        spent["bare_free"] += t3 - t2

    def step(name: str, started: float) -> float:
        now = clock()
        spent[name] += now - started
        runs[name] += 1
        return now

    def molops(s: str) -> None:
        t = clock()
        mol = std.parse(s)
        t = step("parse_and_sanitise", t)
        if isinstance(mol, Rejected):
            return
        simple = not any(c in s for c in ".+-")
        if not simple:
            several = len(Chem.GetMolFrags(mol)) > 1
            t = step("fragment_check", t)
            if several:
                mol = std._fragment_chooser.choose(std._metal_disconnector.Disconnect(mol))
                t = step("fragment_chooser", t)
        parent = std._normalizer.normalize(mol)
        t = step("normalize", t)
        if not simple:
            charged = any(atom.GetFormalCharge() for atom in parent.GetAtoms())
            t = step("charge_check", t)
            if charged:
                parent = std._uncharger.uncharge(parent)
                t = step("uncharger", t)
        canonical = Chem.MolToSmiles(parent)
        t = step("canonical_smiles", t)
        std.check(parent, canonical)
        t = step("checks", t)
        Descriptors.MolWt(parent)
        t = step("molecular_weight", t)
        Chem.MolToInchiKey(parent)
        t = step("inchikey", t)
        del mol, parent
        step("free", t)

    for fn in (bare, molops):  # warm-up
        for s in smiles[:200]:
            fn(s)
    spent = dict.fromkeys(spent, 0.0)
    runs = dict.fromkeys(names, 0)
    for fn in (bare, molops):  # one loop each, as in the real runs (interleaving slows both)
        for s in smiles:
            fn(s)
    started = clock()
    for s in smiles:
        std.standardize(s)
    whole = clock() - started

    def us(seconds: float) -> float:
        return round(seconds / len(smiles) * 1e6, 1)

    costs: dict[str, Any] = {name: us(value) for name, value in spent.items()}
    costs["bare_total"] = us(spent["bare_parse"] + spent["bare_canonical_smiles"] + spent["bare_free"])
    costs["molops_sum_of_steps"] = us(sum(spent[name] for name in names))
    costs["standardize_total"] = us(whole)
    costs["sample_rows"] = len(smiles)
    costs["runs"] = runs
    return costs


def large_run(path: Path, workers: int) -> dict[str, Any]:
    """Ingest *path* in a fresh child process while sampling its (and its workers') RSS."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child-ingest",
        str(path),
        "--large-workers",
        str(workers),
    ]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    with TreeMemory(child.pid, interval=0.05) as memory:
        out, _ = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"large ingest failed (exit {child.returncode})")
    result = json.loads(out)
    result["peak_rss_mb"] = memory.peak.rss_mb
    result["peak_rss_main_mb"] = memory.peak.own_rss_mb
    result["processes_at_peak"] = memory.peak.procs
    return result


# -- report --------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    from molops._version import __version__

    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "rdkit": rdkit.__version__,
        "molops": __version__,
    }


def _r(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(x, digits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the throughput part")
    parser.add_argument("--rows-large", type=int, default=1_000_000, help="rows of the memory run")
    parser.add_argument("--skip-large", action="store_true", help="skip the memory run")
    parser.add_argument(
        "--large-workers",
        type=int,
        default=0,
        help="workers of the memory run (0 = all cores, molops' default)",
    )
    parser.add_argument(
        "--source",
        type=Path,
        default=DEFAULT_SOURCE,
        help="CSV(.gz) with smiles,score columns to draw molecules from",
    )
    parser.add_argument(
        "--profile-sample", type=int, default=2000, help="rows used for the per-step cost profile (0 to skip)"
    )
    parser.add_argument("--child-ingest", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child_ingest is not None:  # the memory run's child: ingest, print the result, exit
        result = molops_ingest(args.child_ingest, args.large_workers, "molops ingest (large)")
        print(json.dumps(result))
        return 0

    load_start = os.getloadavg()[0]
    path = make_csv(args.rows, args.source)
    large_path = None if args.skip_large else make_csv(args.rows_large, args.source)

    console.print(f"[bold]bare loop[/] over {path.name}")
    bare = bare_loop(path)
    console.print(f"[bold]molops ingest[/], 1 worker, {path.name}")
    one = molops_ingest(path, 1, "molops ingest (1 worker)")
    console.print(f"[bold]molops ingest[/], all cores, {path.name}")
    allc = molops_ingest(path, 0, "molops ingest (all cores)")
    steps = step_costs(path, args.profile_sample) if args.profile_sample > 0 else None
    large = None
    if large_path is not None:
        console.print(f"[bold]molops ingest[/], memory run, {large_path.name}")
        large = large_run(large_path, args.large_workers)

    ratio_1 = one["rows_per_s"] / bare["rows_per_s"]
    ratio_all = allc["rows_per_s"] / bare["rows_per_s"]
    peak = large["peak_rss_mb"] if large else None
    result = {
        "benchmark": "ingest",
        "machine": {**machine(), "load_avg_1m": {"start": load_start, "end": os.getloadavg()[0]}},
        "rows": bare["rows"],
        "input": str(path.relative_to(HERE.parent)),
        "bare_loop_rows_per_s": _r(bare["rows_per_s"]),
        "bare_loop_parse_failures": bare["failed"],
        "molops_1_worker_rows_per_s": _r(one["rows_per_s"]),
        "molops_all_cores_rows_per_s": _r(allc["rows_per_s"]),
        "workers_all_cores": allc["workers"],
        "ratio_1_worker": _r(ratio_1, 3),
        "ratio_all_cores": _r(ratio_all, 3),
        "large_rows": large["rows"] if large else None,
        "large_workers": large["workers"] if large else None,
        "large_peak_rss_mb": _r(peak),
        "large_peak_rss_main_process_mb": _r(large["peak_rss_main_mb"]) if large else None,
        "large_processes_at_peak": large["processes_at_peak"] if large else None,
        "large_rows_per_s": _r(large["rows_per_s"]) if large else None,
        "seconds": {
            "bare_loop": _r(bare["seconds"], 2),
            "molops_1_worker": _r(one["seconds"], 2),
            "molops_all_cores": _r(allc["seconds"], 2),
            "large": _r(large["seconds"], 2) if large else None,
        },
        # CPU time of the benchmark process: for the bare loop and the 1-worker ingest this is all
        # their work, so this ratio is not disturbed by other load on the machine.
        "cpu_seconds": {
            "bare_loop": _r(bare["cpu_seconds"], 2),
            "molops_1_worker": _r(one["cpu_seconds"], 2),
        },
        "ratio_1_worker_cpu_time": _r(bare["cpu_seconds"] / one["cpu_seconds"], 3),
        "ingest_reports": {
            name: {k: r[k] for k in ("accepted", "quarantined", "merged_duplicates", "molecules", "reasons")}
            for name, r in (("1_worker", one), ("all_cores", allc), ("large", large))
            if r
        },
        "step_costs_us": steps,
        "goals": {
            "ingest_1_worker_ge_0.8x_bare_loop": {
                "goal": f"ratio_1_worker >= {GOAL_RATIO_1_WORKER}",
                "measured": _r(ratio_1, 3),
                "pass": ratio_1 >= GOAL_RATIO_1_WORKER,
            },
            "ingest_all_cores_faster_than_bare_loop": {
                "goal": f"ratio_all_cores > {GOAL_RATIO_ALL_CORES}",
                "measured": _r(ratio_all, 3),
                "pass": ratio_all > GOAL_RATIO_ALL_CORES,
            },
            "peak_rss_1M_rows_lt_2048_mb": {
                "goal": f"large_peak_rss_mb < {GOAL_PEAK_RSS_MB:g} (at {args.rows_large} rows)",
                "measured": _r(peak),
                "pass": None if peak is None else peak < GOAL_PEAK_RSS_MB,
            },
        },
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
