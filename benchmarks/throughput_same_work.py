"""Throughput against equal work (issue 19): molops ingest and pool builds against a plain loop
that does the same chemistry, measured in the same run.

Prints ONE JSON line on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/throughput_same_work.py                  # 20k rows, 3 repeats
    .venv/bin/python benchmarks/throughput_same_work.py --rows 5000 --repeats 1

Input: ``benchmarks/out/ingest_<rows>_seed….csv`` (made by benchmarks/ingest.py's generator): the
10,449 Enamine molecules, each written as ~2 seeded random SMILES, with noisy scores, shuffled.
Every string is distinct and every run uses a fresh workspace, so every row is *unseen*: no
SMILES cache (per file or per workspace) gets a free hit. Each molecule does appear about twice,
so the standardiser's memory of InChIKeys per canonical parent SMILES computes about half of them
(as on any file with salts or respellings); ``--input`` with rows of distinct molecules (e.g. the
head of ``benchmarks/synthetic_library.py``'s output, unzipped) gives the case with no repeats.
``--ingest-only`` skips the pool and dataset-path comparisons.

Baselines, one process, a plain loop over the rows:

* ingest: read the CSV; per row ``float(score)``, ``MolFromSmiles`` (parse + sanitise),
  ``LargestFragmentChooser(preferOrganic=True).choose``, ``Normalizer().normalize``,
  ``Uncharger(canonicalOrder=True).uncharge``, ``MolToSmiles``, ``MolToInchiKey``;
* pool: the same without the target, plus Morgan (r=2, 2048 bits) of the parent into numpy;
* dataset path: ``MolFromSmiles`` + Morgan over the dataset's (standardised) SMILES.

molops, each into a fresh workspace: ``Dataset.ingest`` (the library call behind ``molops data
ingest``) with 1 and 2 workers; ``features.build_pool(file, "morgan")`` cold with 1 and 2
workers, then warm; ``features.build_dataset(dataset, "morgan", workers=1)`` cold. Each repeat
runs every baseline next to the molops runs it is compared with; ratios are baseline time /
molops time within a repeat, and the JSON gives each repeat's ratios and their median. The
SMILES results a process remembers are cleared before each "unseen" run; one extra 1-worker
ingest of the same file into a new workspace, right after, is the repeated-strings case.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import rdFingerprintGenerator
from rdkit.Chem.MolStandardize import rdMolStandardize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import DEFAULT_SOURCE, machine, make_csv

RDLogger.DisableLog("rdApp.*")

GOALS = {
    "ingest_1_worker": 1.3,
    "ingest_2_workers": 2.4,
    "pool_cold_1_worker": 1.3,
    "pool_cold_2_workers": 2.4,
    "pool_warm_over_cold": 50.0,
    "dataset_path_1_worker": 0.9,
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def baseline(path: Path, *, target: bool, morgan: bool) -> int:
    """The plain loop; returns the rows it identified (its output is kept, as ingest's is)."""
    chooser = rdMolStandardize.LargestFragmentChooser(preferOrganic=True)
    normalizer = rdMolStandardize.Normalizer()
    uncharger = rdMolStandardize.Uncharger(canonicalOrder=True)
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    out: list[tuple[str, str, float]] = []
    fingerprints: list[np.ndarray] = []
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        for smiles, score in reader:
            value = float(score) if target else 0.0
            mol = Chem.MolFromSmiles(smiles)
            if mol is None:
                continue
            mol = uncharger.uncharge(normalizer.normalize(chooser.choose(mol)))
            out.append((Chem.MolToInchiKey(mol), Chem.MolToSmiles(mol), value))
            if morgan:
                fingerprints.append(generator.GetFingerprintAsNumPy(mol))
    if morgan:
        np.stack(fingerprints)
    return len(out)


def parse_morgan(smiles: list[str]) -> int:
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    out = np.zeros((len(smiles), 2048), dtype=np.uint8)
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        if mol is not None:
            out[i] = generator.GetFingerprintAsNumPy(mol)
    return len(smiles)


def forget() -> None:
    """Clear what this process remembers from earlier runs: SMILES results, and the standardiser
    (with the InChIKeys it remembers per canonical parent SMILES)."""
    from molops.data.validation import standardized_smiles, standardizer

    standardized_smiles.cache_clear()
    standardizer.cache_clear()


def one_repeat(path: Path, tmp: Path, k: int, ingest_only: bool = False) -> dict[str, Any]:
    from molops.workspace import Workspace

    r: dict[str, Any] = {}

    # workspaces are created outside the timings: only the ingest or build itself is timed
    ws1, ws2 = (Workspace.init(tmp / f"ingest-{k}-{w}") for w in (1, 2))
    pws1, pws2 = (Workspace.init(tmp / f"pool-{k}-{w}") for w in (1, 2))

    def ingest(ws: Any, workers: int) -> Any:
        return ws.dataset("bench").ingest(path, smiles_col="smiles", target_col="score", workers=workers)

    log(f"repeat {k}: ingest baseline")
    _, base_s, base_cpu = timed(lambda: baseline(path, target=True, morgan=False))
    log(f"repeat {k}: molops ingest, 1 worker")
    forget()  # unseen: nothing this process remembers from earlier runs
    rep1, one_s, one_cpu = timed(lambda: ingest(ws1, 1))
    log(f"repeat {k}: molops ingest, 1 worker, every string seen before by this process")
    seen_ws = Workspace.init(tmp / f"ingest-{k}-seen")
    _, seen_s, _ = timed(lambda: ingest(seen_ws, 1))
    log(f"repeat {k}: molops ingest, 2 workers")
    rep2, two_s, _ = timed(lambda: ingest(ws2, 2))
    assert rep1.accepted == rep2.accepted, (rep1, rep2)
    r["ingest"] = {
        "baseline_s": base_s,
        "baseline_cpu_s": base_cpu,
        "one_worker_s": one_s,
        "one_worker_cpu_s": one_cpu,
        "two_workers_s": two_s,
        "one_worker_strings_seen_s": seen_s,
        "two_workers_used": rep2.workers_used,
        "rows": rep1.rows_in,
        "molecules": rep1.accepted,
    }
    ingest_ratios = {
        "ingest_1_worker": base_s / one_s,
        "ingest_1_worker_cpu": base_cpu / one_cpu,
        "ingest_2_workers": base_s / two_s,
        "ingest_1_worker_strings_seen": base_s / seen_s,
    }
    if ingest_only:
        r["ratios"] = ingest_ratios
        log(f"repeat {k}: " + ", ".join(f"{n} {v:.2f}" for n, v in r["ratios"].items()))
        return r

    log(f"repeat {k}: pool baseline (+ Morgan)")
    _, pbase_s, pbase_cpu = timed(lambda: baseline(path, target=False, morgan=True))

    log(f"repeat {k}: molops pool cold, 1 worker")
    forget()
    prep1, pone_s, pone_cpu = timed(lambda: pws1.features.build_pool(path, "morgan", workers=1))
    log(f"repeat {k}: molops pool cold, 2 workers")
    prep2, ptwo_s, _ = timed(lambda: pws2.features.build_pool(path, "morgan", workers=2))
    log(f"repeat {k}: molops pool warm")
    warm, warm_s, _ = timed(lambda: pws2.features.build_pool(path, "morgan", workers=2))
    assert warm.computed == 0 and prep1.computed == prep2.computed
    r["pool"] = {
        "baseline_s": pbase_s,
        "baseline_cpu_s": pbase_cpu,
        "one_worker_s": pone_s,
        "one_worker_cpu_s": pone_cpu,
        "two_workers_s": ptwo_s,
        "warm_s": warm_s,
        "computed": prep1.computed,
    }

    smiles = ws1.dataset("bench").read()["smiles"].tolist()
    log(f"repeat {k}: dataset path baseline (parse + Morgan), {len(smiles)} molecules")
    _, dbase_s, _ = timed(lambda: parse_morgan(smiles))
    log(f"repeat {k}: molops dataset path, 1 worker")
    _, dset_s, _ = timed(lambda: ws1.features.build_dataset(ws1.dataset("bench"), "morgan", workers=1))
    r["dataset"] = {"baseline_s": dbase_s, "one_worker_s": dset_s, "molecules": len(smiles)}

    r["ratios"] = {
        **ingest_ratios,
        "pool_cold_1_worker": pbase_s / pone_s,
        "pool_cold_1_worker_cpu": pbase_cpu / pone_cpu,
        "pool_cold_2_workers": pbase_s / ptwo_s,
        "pool_warm_over_cold": ptwo_s / warm_s,
        "dataset_path_1_worker": dbase_s / dset_s,
    }
    log(f"repeat {k}: " + ", ".join(f"{n} {v:.2f}" for n, v in r["ratios"].items()))
    return r


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ingest-only", action="store_true", help="only the ingest comparisons")
    parser.add_argument("--input", type=Path, default=None, help="a CSV (smiles, score) to use instead")
    args = parser.parse_args(argv)
    path = (args.input or make_csv(args.rows, DEFAULT_SOURCE)).resolve()
    load = [os.getloadavg()[0]]
    repeats = []
    with tempfile.TemporaryDirectory(prefix="molops-samework-") as tmp:
        for k in range(args.repeats):
            repeats.append(one_repeat(path, Path(tmp), k, args.ingest_only))
            load.append(os.getloadavg()[0])
    median = {n: round(statistics.median(r["ratios"][n] for r in repeats), 3) for n in repeats[0]["ratios"]}
    result = {
        "benchmark": "throughput_same_work",
        "input": str(path),
        "rows": repeats[0]["ingest"]["rows"],
        "machine": {**machine(), "load_avg_1m": [round(x, 1) for x in load]},
        "median_ratios": median,
        "goals": {
            n: {"goal": g, "median": median[n], "met": median[n] >= g}
            for n, g in GOALS.items()
            if n in median
        },
        "repeats": [
            {part: {n: round(v, 3) for n, v in values.items()} for part, values in r.items()} for r in repeats
        ],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
