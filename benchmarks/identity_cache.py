"""Identity cache benchmark: what its in-memory index costs per string, and what compaction buys.

Prints ONE JSON line on stdout. From the repository root:

    .venv/bin/python benchmarks/identity_cache.py                          # defaults below
    .venv/bin/python benchmarks/identity_cache.py --rows 1000000 --files 200 --per-file 500

Protocol (synthetic strings: ~40-character SMILES-like text, a 27-character InChIKey, as an ingest
stores them):

* ``index``: an :class:`IdentityLookup` built over ``--rows`` results: the Arrow bytes of the
  partition's columns per row, the index's own bytes per row (hashes and order), and the peak of
  Python and numpy allocations during the build (tracemalloc, a second build: the Python strings
  the hashes are computed from exist only then).
* ``compaction``: ``--files`` appends of ``--per-file`` results each (one per ingest, without the
  automatic compaction), then the indexed load and a scanned lookup of a sample of the strings
  before and after :meth:`IdentityCache.compact` (fastest of three each), whose time is reported;
  both answers are checked equal before and after.

On a shared machine compare the before/after figures of one run, not across runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from deltalake import write_deltalake

from molops.chem.standardize import StandardizerSettings
from molops.data.identity_cache import RESULT_SCHEMA, TABLE_SCHEMA, IdentityCache, IdentityLookup
from molops.storage import Storage

ALPHABET = "CNOc1()=[]@H+-#"


def index_cost(rows: int) -> dict[str, Any]:
    rng = random.Random(0)
    raw = ["".join(rng.choice(ALPHABET) for _ in range(38)) + str(i) for i in range(rows)]
    table = pa.table(
        {
            "raw": raw,
            "smiles": raw,
            "inchikey": [f"{i:014d}-ABCDEFGHIJ-N" for i in range(rows)],
            "heavy_atoms": pa.array(np.full(rows, 20, np.int32)),
            "molecular_weight": np.full(rows, 300.0),
            "reason": pa.nulls(rows, pa.string()),
            "detail": pa.nulls(rows, pa.string()),
        },
        schema=RESULT_SCHEMA,
    )
    del raw
    gc.collect()
    started = time.perf_counter()
    lookup = IdentityLookup(table)
    build_s = time.perf_counter() - started
    index_bytes = lookup._hashes.nbytes + lookup._order.nbytes
    del lookup
    gc.collect()
    tracemalloc.start()
    again = IdentityLookup(table)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "rows": rows,
        "arrow_bytes_per_row": round(table.nbytes / rows, 1),
        "index_bytes_per_row": index_bytes / rows,
        "build_peak_python_numpy_bytes_per_row": round(peak / rows, 1),
        "build_s": round(build_s, 3),
        "lookups": len(again),
    }


def _append(cache: IdentityCache, rows: list[tuple[Any, ...]]) -> None:
    """One ingest's append, without the automatic compaction that :meth:`IdentityWriter.publish` runs."""
    columns = list(zip(*rows, strict=True))
    batch = pa.record_batch(
        [pa.array([cache.rules] * len(rows), pa.string())]
        + [pa.array(col, f.type) for col, f in zip(columns, RESULT_SCHEMA, strict=True)],
        schema=TABLE_SCHEMA,
    )
    write_deltalake(cache.storage.root, pa.Table.from_batches([batch]), mode="append", partition_by=["rules"])


def compaction(files: int, per_file: int) -> dict[str, Any]:
    cache = IdentityCache(Storage.at(Path(tempfile.mkdtemp()) / "identities"), StandardizerSettings())
    texts: list[str | None] = []
    for f in range(files):
        rows = [
            (f"C{'C' * (i % 30)}N{f}_{i}", f"C{i}", f"{f:06d}{i:08d}-ABCDEFGHIJ-N", 20, 300.0, None, None)
            for i in range(per_file)
        ]
        texts += [str(r[0]) for r in rows[:: max(1, per_file // 5)]]
        _append(cache, rows)

    def timed() -> tuple[float, float, dict[int, Any]]:
        """The fastest of three indexed loads and three scanned finds (the first pays warm-up)."""
        loads, scans = [], []
        for _ in range(3):
            started = time.perf_counter()
            indexed = cache.load().find(texts)
            loads.append(time.perf_counter() - started)
            started = time.perf_counter()
            scanned = cache.scanner().find(texts)
            scans.append(time.perf_counter() - started)
            assert indexed == scanned and len(indexed) == len(texts)
        return min(loads), min(scans), indexed

    load_before, scan_before, before = timed()
    started = time.perf_counter()
    cache.compact(min_files=0)
    compact_s = time.perf_counter() - started
    load_after, scan_after, after = timed()
    assert before == after
    return {
        "files": files,
        "rows": files * per_file,
        "files_after": len(cache._files()),
        "compact_s": round(compact_s, 3),
        "load_s": [round(load_before, 3), round(load_after, 3)],
        "scanned_find_s": [round(scan_before, 3), round(scan_after, 3)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="results in the indexed lookup")
    parser.add_argument("--files", type=int, default=200, help="appends before compaction")
    parser.add_argument("--per-file", type=int, default=500, help="results per append")
    args = parser.parse_args()
    result = {
        "load_average": os.getloadavg()[0],
        "compaction": compaction(args.files, args.per_file),
        "index": index_cost(args.rows),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
