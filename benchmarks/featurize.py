"""Featurization benchmark (issue 4): molops feature builds against a bare RDKit Morgan loop.

Prints ONE JSON object on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/featurize.py                # 100k molecules + the 1M-pool memory run
    .venv/bin/python benchmarks/featurize.py --skip-large   # quick: the 100k part only

Input: distinct molecules made from the 10,449 Enamine molecules of
``../shared/data/enamine10k_scores.csv.gz`` by growing an n-alkyl chain (1..k carbons) on one of
their hydrogen-bearing atoms, so every row is a different molecule (a cache must not get free
hits from repeats). Files are cached under ``benchmarks/out/``.

Measured in one run, on the same molecules:

* bare loop: ``Chem.MolFromSmiles`` + Morgan (r=2, 2048 bits) ``GetFingerprintAsNumPy`` into a
  preallocated numpy matrix, one process;
* molops, dataset path (identities already known from ingest): cold cache on 1 process and on all
  cores, then warm;
* molops, pool path (a raw SMILES file: standardisation and InChIKey per molecule first): cold on
  all cores, then warm (identity table and features cached);
* peak RSS (process + workers) while building a 1M-molecule pool cold on all cores.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import rdkit
from rdkit import Chem, RDLogger
from rdkit.Chem import rdFingerprintGenerator

RDLogger.DisableLog("rdApp.*")

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
SOURCE = HERE.parent.parent / "shared" / "data" / "enamine10k_scores.csv.gz"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def analogs(mol: Chem.Mol, count: int) -> list[str]:
    """*count* distinct analogs: chains of 1..L carbons on successive H-bearing atoms."""
    sites = [a.GetIdx() for a in mol.GetAtoms() if a.GetTotalNumHs() > 0]
    out: list[str] = []
    length = 1
    while len(out) < count and sites:
        for site in sites:
            rw = Chem.RWMol(mol)
            prev = site
            for _ in range(length):
                new = rw.AddAtom(Chem.Atom(6))
                rw.AddBond(prev, new, Chem.BondType.SINGLE)
                prev = new
            try:
                Chem.SanitizeMol(rw)
            except Exception:  # a site whose H count cannot take a bond
                continue
            out.append(Chem.MolToSmiles(rw))
            if len(out) == count:
                break
        length += 1
    return out


def make_pool(rows: int) -> Path:
    path = OUT / f"featurize_pool_{rows}.smi"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    with gzip.open(SOURCE, "rt") as fh:
        next(fh)
        sources = [line.split(",", 1)[0] for line in fh]
    per = -(-rows // len(sources))
    smiles: set[str] = set()
    for i, s in enumerate(sources):
        mol = Chem.MolFromSmiles(s)
        if mol is not None:
            smiles.update(analogs(mol, per))
        if i % 1000 == 0:
            log(f"generating {path.name}: {i}/{len(sources)} sources, {len(smiles)} molecules")
    chosen = sorted(smiles)
    rng = np.random.default_rng(7)
    chosen = [chosen[i] for i in rng.permutation(len(chosen))[:rows]]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("smiles\n" + "\n".join(chosen) + "\n")
    tmp.replace(path)
    return path


def bare_loop(smiles: list[str]) -> dict[str, Any]:
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    out = np.zeros((len(smiles), 2048), dtype=np.uint8)
    started = time.perf_counter()
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        if mol is not None:
            out[i] = gen.GetFingerprintAsNumPy(mol)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "mol_per_s": len(smiles) / seconds, "bits_set": int(out.sum())}


def timed(fn: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def run_main(rows: int) -> dict[str, Any]:
    from molops.workspace import Workspace

    pool = make_pool(rows)
    smiles = pool.read_text().split("\n")[1:-1]
    log(f"bare loop over {len(smiles)} molecules")
    bare = bare_loop(smiles)
    results: dict[str, Any] = {"rows": len(smiles), "bare_loop_mol_per_s": round(bare["mol_per_s"], 1)}
    with tempfile.TemporaryDirectory(prefix="molops-featbench-") as tmp:
        # dataset path: identities come from the dataset (ingest is benchmarked separately)
        for label, workers in (("1_process", 1), ("all_cores", 0)):
            ws = Workspace.init(Path(tmp) / f"ws-{label}")
            data = Path(tmp) / "pool.csv"
            if not data.exists():
                data.write_text("smiles,y\n" + "\n".join(f"{s},0" for s in smiles) + "\n")
            log(f"ingest for the dataset path ({label})")
            ws.dataset("pool").ingest(data, smiles_col="smiles", target_col="y")
            log(f"dataset path, cold, {label}")
            cold, cold_s = timed(
                lambda ws=ws, w=workers: ws.features.build_dataset(ws.dataset("pool"), "morgan", workers=w)
            )
            results[f"dataset_cold_{label}_mol_per_s"] = round(cold.n / cold_s, 1)
            results[f"dataset_cold_{label}_workers"] = cold.workers
            if label == "all_cores":
                warm, warm_s = timed(lambda ws=ws: ws.features.build_dataset(ws.dataset("pool"), "morgan"))
                assert warm.computed == 0
                results["dataset_warm_mol_per_s"] = round(warm.n / warm_s, 1)
                X, _valid = ws.features.get("morgan", ws.dataset("pool").read()["inchikey"])
                results["cached_bits_set"] = int(X.sum())
        ws = Workspace.init(Path(tmp) / "ws-pool")
        log("pool path, cold, all cores (standardise + InChIKey + featurize)")
        cold, cold_s = timed(lambda: ws.features.build_pool(pool, "morgan"))
        results["pool_cold_all_cores_mol_per_s"] = round(cold.n / cold_s, 1)
        log("pool path, warm")
        warm, warm_s = timed(lambda: ws.features.build_pool(pool, "morgan"))
        assert warm.computed == 0
        results["pool_warm_mol_per_s"] = round(warm.n / warm_s, 1)
    return results


def run_sampled(argv: list[str]) -> tuple[str, int]:
    """Run *argv* to the end; its stdout and the peak RSS in bytes of it plus its children
    (summed, sampled every 0.2 s)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        parent = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                procs = [parent, *parent.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, _ = proc.communicate()
    stop.set()
    thread.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:3]} exited {proc.returncode}")
    return out, peak


def peak_rss_child(rows: int) -> dict[str, Any]:
    """Build a *rows*-molecule pool cold in a child process; sample its RSS plus its workers'."""
    pool = make_pool(rows)
    with tempfile.TemporaryDirectory(prefix="molops-featbench-") as tmp:
        code = (
            "import sys, time; from molops.workspace import Workspace\n"
            "ws = Workspace.init(sys.argv[1]); t = time.perf_counter()\n"
            "r = ws.features.build_pool(sys.argv[2], 'morgan')\n"
            "print(r.n, time.perf_counter() - t)"
        )
        out, peak = run_sampled([sys.executable, "-c", code, str(Path(tmp) / "ws"), str(pool)])
        n, seconds = out.split()
        return {
            "large_rows": int(n),
            "large_peak_rss_mb": round(peak / 2**20, 1),
            "large_mol_per_s": round(int(n) / float(seconds), 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rows-large", type=int, default=1_000_000)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    result: dict[str, Any] = {
        "machine": {
            "cores": cores,
            "platform": platform.platform(),
            "python": platform.python_version(),
            "rdkit": rdkit.__version__,
        },
        **run_main(args.rows),
    }
    bare = result["bare_loop_mol_per_s"]
    result["ratio_dataset_cold_1_process"] = round(result["dataset_cold_1_process_mol_per_s"] / bare, 3)
    result["ratio_dataset_cold_all_cores"] = round(result["dataset_cold_all_cores_mol_per_s"] / bare, 3)
    result["ratio_pool_cold_all_cores"] = round(result["pool_cold_all_cores_mol_per_s"] / bare, 3)
    result["warm_over_cold_dataset"] = round(
        result["dataset_warm_mol_per_s"] / result["dataset_cold_all_cores_mol_per_s"], 1
    )
    result["warm_over_cold_pool"] = round(
        result["pool_warm_mol_per_s"] / result["pool_cold_all_cores_mol_per_s"], 1
    )
    if not args.skip_large:
        log(f"1M pool peak memory run ({args.rows_large} molecules)")
        result.update(peak_rss_child(args.rows_large))
    result["goals"] = {
        "cold_1_process_ge_0.9x_bare (dataset path)": result["ratio_dataset_cold_1_process"] >= 0.9,
        "cold_all_cores_ge_0.85x_cores_x_bare (dataset path)": result["ratio_dataset_cold_all_cores"]
        >= 0.85 * cores,
        "cold_all_cores_ge_0.85x_cores_x_bare (pool path)": result["ratio_pool_cold_all_cores"]
        >= 0.85 * cores,
        "warm_ge_20x_cold (pool path)": result["warm_over_cold_pool"] >= 20,
        "large_pool_peak_rss_lt_2048_mb": (
            result.get("large_peak_rss_mb", float("inf")) < 2048 if not args.skip_large else None
        ),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
