"""Ingest into an existing large dataset: time and peak memory of adding a small batch.

Prints ONE JSON object on stdout; progress goes to stderr. Run from the repository root:

    .venv/bin/python benchmarks/ingest_existing.py                      # 1M molecules, batches of 100
    .venv/bin/python benchmarks/ingest_existing.py --rows 200000 --batch 1000

A campaign's feedback loop ingests a batch of results into its measured dataset again and again;
with a large dataset that ingest reads the whole current version, merges the batch into it and
writes the next version. The dataset is built quickly and without chemistry: the batch's
molecules are ingested first (version 1, real InChIKeys), then ``--rows`` filler molecules with
made-up keys are committed as version 2 through the dataset store. Timed, each in a fresh
``molops data ingest`` process whose whole process tree's RSS is sampled: the same batch with
new values (every molecule updated), and a batch of new molecules (every molecule added).

To measure another tree (e.g. the commit before a change), put its ``src`` first on PYTHONPATH:
``PYTHONPATH=/path/to/tree/src .venv/bin/python benchmarks/ingest_existing.py``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from rich.console import Console

from _memory import TreeMemory

HERE = Path(__file__).resolve().parent
ENAMINE = HERE.parent.parent / "shared" / "data" / "enamine10k_scores.csv.gz"  # ../shared
console = Console(stderr=True)


def _molops(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("molops")
    return [str(script), *args] if script.is_file() else [sys.executable, "-m", "molops.cli.main", *args]


def _write_batch(path: Path, rows: list[tuple[str, float]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["smiles", "score"])
        writer.writerows(rows)
    return path


def _timed_ingest(ws: Path, batch: Path) -> dict[str, Any]:
    """``molops data ingest`` of *batch* in a fresh process: its report, wall time and peak memory."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        _molops(
            "data",
            "ingest",
            str(batch),
            "--dataset",
            "lib",
            "--target-col",
            "score",
            "--workspace",
            str(ws),
            "--json",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with TreeMemory(proc.pid, interval=0.05) as memory:
        out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"molops data ingest {batch} failed:\n{err}")
    report = json.loads(out)
    return {
        "wall_s": round(time.perf_counter() - started, 3),
        "ingest_s": report["seconds"],
        "added": report["added"],
        "updated": report["updated"],
        "peak": memory.peak.as_dict(),
    }


def _add_filler(ws: Path, rows: int) -> None:
    """Commit the current version plus *rows* filler molecules as the next version."""
    from molops.data.replicates import first_version, group_replicates
    from molops.data.store import snapshot_schema
    from molops.workspace import Workspace

    store = Workspace.open(ws).dataset("lib").store
    current = store.read_table() if hasattr(store, "read_table") else pa.Table.from_pandas(store.read())
    latest = store.latest_version()
    assert latest is not None
    keys = [f"FILLER{i:010d}-UHFFFAOYSA-N" for i in range(rows)]
    values = np.random.default_rng(0).normal(size=rows).tolist()
    grouped = group_replicates(keys, keys, values, list(range(rows)))
    if not isinstance(grouped, pa.Table):  # a tree before the Arrow merge grouped into a frame
        grouped = pa.Table.from_pandas(grouped.reset_index(), preserve_index=False)
    filler = first_version(grouped, target="score", version=latest + 1, source="filler").snapshot
    offset = pa.compute.max(current.column("order")).as_py() + 1
    filler = filler.set_column(2, "order", pa.compute.add(filler.column("order"), offset))
    schema = snapshot_schema(["score"])
    table = pa.concat_tables([current.select(schema.names).cast(schema), filler.cast(schema)])
    with store.lock():
        store.commit(table, {"version": latest + 1, "operation": "filler", "target": "score"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="filler molecules in the dataset")
    parser.add_argument("--batch", type=int, default=100, help="molecules per ingested batch")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    with gzip.open(ENAMINE, "rt") as handle:
        library = [(r["smiles"], float(r["score"])) for r in csv.DictReader(handle)]
    rng = np.random.default_rng(1)
    picked = [library[i] for i in rng.choice(len(library), 2 * args.batch, replace=False)]
    known, fresh = picked[: args.batch], picked[args.batch :]
    import molops

    with tempfile.TemporaryDirectory(prefix="molops-ingest-existing-") as tmp:
        ws = Path(tmp) / "ws"
        subprocess.run(_molops("init", str(ws)), check=True, capture_output=True)
        console.print(f"building a dataset of {args.rows:,} + {args.batch} molecules")
        first = _timed_ingest(ws, _write_batch(Path(tmp) / "known.csv", known))
        assert first["added"] == args.batch, first
        started = time.perf_counter()
        _add_filler(ws, args.rows)
        build_s = time.perf_counter() - started
        runs: dict[str, list[dict[str, Any]]] = {"update": [], "add": []}
        for r in range(args.repeats):
            shifted = [(s, v + r + 1) for s, v in known]
            runs["update"].append(_timed_ingest(ws, _write_batch(Path(tmp) / f"update{r}.csv", shifted)))
            console.print(f"update {r}: {runs['update'][-1]}")
        # new molecules: each repeat adds the fresh batch once (later repeats update it)
        runs["add"].append(_timed_ingest(ws, _write_batch(Path(tmp) / "add.csv", fresh)))
        console.print(f"add: {runs['add'][-1]}")

    print(
        json.dumps(
            {
                "benchmark": "ingest_existing",
                "molops": molops.__file__,
                "rows": args.rows,
                "batch": args.batch,
                "build_filler_s": round(build_s, 1),
                "runs": runs,
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_1min": os.getloadavg()[0],
                },
            }
        )
    )


if __name__ == "__main__":
    main()
