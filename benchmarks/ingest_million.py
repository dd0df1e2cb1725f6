"""Ingest memory at scale (issue 19): a million unique rows with 2 workers, peak memory sampled.

Prints ONE JSON line on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/ingest_million.py                   # 1M rows, 2 workers
    .venv/bin/python benchmarks/ingest_million.py --rows 100000     # the slope, quicker

Input: ``benchmarks/synthetic_library.py``'s N unique drug-like analogues (``smiles``, ``score``;
the score is Crippen logP + 0.1 × heavy atoms), a .csv.gz made once and reused. Every string and
every molecule is distinct, so no cache gets a free hit.

How memory is measured: ``molops data ingest``'s library call (``Dataset.ingest``, 2 workers, into
a fresh workspace) runs in a child process; every 0.2 s this process sums, over that child and all
its descendants (the fork server and the workers), the RSS (``memory_info().rss``) and the PSS
(``memory_full_info().pss``: shared pages divided among the processes sharing them, so pages the
workers share with the fork server are counted once). The peaks of both sums are reported; RSS
over-counts shared pages, PSS does not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _memory import TreeMemory
from ingest import machine
from synthetic_library import ensure_library

CHILD = """
import json, sys, time
from molops.workspace import Workspace
ws = Workspace.init(sys.argv[1])
started = time.perf_counter()
report = ws.dataset("million").ingest(sys.argv[2], smiles_col="smiles", target_col="score",
                                      workers=int(sys.argv[3]))
print(json.dumps({"wall_s": time.perf_counter() - started, **report.model_dump()}))
"""


def run(path: Path, workers: int, interval: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="molops-million-") as tmp:
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(Path(tmp) / "ws"), str(path), str(workers)],
            stdout=subprocess.PIPE,
            text=True,
        )
        with TreeMemory(child.pid, interval) as memory:
            out, _ = child.communicate()
        wall = time.perf_counter() - started
        if child.returncode != 0:
            raise SystemExit(f"the ingest child failed with exit status {child.returncode}")
    report = json.loads(out.strip().splitlines()[-1])
    return {
        "rows": report["rows_in"],
        "accepted": report["accepted"],
        "quarantined": report["quarantined"],
        "workers": workers,
        "workers_used": report["workers_used"],
        "ingest_wall_s": round(report["wall_s"], 1),
        "process_wall_s": round(wall, 1),
        "rows_per_s": round(report["rows_in"] / report["wall_s"], 1),
        "peak_rss_mb_sum": memory.peak.rss_mb,
        "peak_pss_mb_sum": memory.peak.pss_mb if memory.pss_available else None,
        "processes_at_peak": memory.peak.procs,
        "samples": memory.samples,
        "interval_s": interval,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between memory samples")
    parser.add_argument("--input", type=Path, default=None, help="ingest this CSV(.gz) instead")
    args = parser.parse_args(argv)
    path = (args.input or ensure_library(args.rows)).resolve()
    load = [os.getloadavg()[0]]
    print(f"ingesting {path} with {args.workers} workers", file=sys.stderr, flush=True)
    result = run(path, args.workers, args.interval)
    load.append(os.getloadavg()[0])
    print(
        json.dumps(
            {
                "benchmark": "ingest_million",
                "input": str(path),
                "machine": {**machine(), "load_avg_1m": [round(x, 1) for x in load]},
                **result,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
