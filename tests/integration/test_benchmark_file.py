"""The shared benchmark file (10,449 docked Enamine molecules) through the CLI: counts reconcile,
and parallel validation gives exactly what serial validation gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._cli import (
    ENAMINE_ROWS,
    clean_env,
    enamine,
    finish,
    molops,
    read_csv,
    require_enamine,
    start,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _ingest_argv(path: Path, dataset: str, workers: int, ws: Path) -> list[object]:
    return [
        "data",
        "ingest",
        path,
        "-d",
        dataset,
        "--smiles-col",
        "smiles",
        "--target-col",
        "score",
        "--workers",
        workers,
        "-w",
        ws,
        "--json",
    ]


def test_enamine_parallel_equals_serial(workspace, tmp_path):
    """Both ingests run at once (different datasets: different locks)."""
    source = require_enamine()
    procs = {w: start(*_ingest_argv(source, f"enamine-w{w}", w, workspace)) for w in (2, 1)}
    reports = {w: finish(p, timeout=300).json() for w, p in procs.items()}
    for r in reports.values():
        assert (r["version"], r["unchanged"], r["rows_in"]) == (1, False, ENAMINE_ROWS)
        assert r["rows_in"] == r["accepted"] + r["quarantined"] + r["merged_duplicates"]
        assert r["accepted"] == r["added"]
        assert sum(r["reasons"].values()) == r["quarantined"]
    keys = (
        "rows_in",
        "accepted",
        "quarantined",
        "merged_duplicates",
        "reasons",
        "sha256",
        "flagged_replicates",
    )
    assert {k: reports[2][k] for k in keys} == {k: reports[1][k] for k in keys}

    listing = molops("data", "list", "-w", workspace, "--json").json()
    assert {d["name"]: d["molecules"] for d in listing["datasets"]} == {
        "enamine-w1": reports[1]["accepted"],
        "enamine-w2": reports[2]["accepted"],
    }

    exports = {}
    for w in (1, 2):
        out = tmp_path / f"w{w}.csv"
        molops("data", "export", f"enamine-w{w}", out, "-w", workspace).ok()
        exports[w] = out.read_bytes()
    assert exports[2] == exports[1]
    rows = read_csv(tmp_path / "w1.csv")
    assert len(rows) == reports[1]["accepted"]
    assert len({r["inchikey"] for r in rows}) == len(rows)
    assert sum(int(r["score_n"]) for r in rows) == reports[1]["accepted"] + reports[1]["merged_duplicates"]


def test_worker_pool_gives_the_serial_result(workspace, tmp_path):
    """The .gz above is under the 512 KB pool threshold, so it is validated in-process whatever
    --workers says. This file is over it (padding column), and small chunks make many work units,
    so the pool really runs, out of order, and its result must still equal the serial one."""
    rows = enamine()[:3000]
    path = tmp_path / "padded.csv"
    pad = "x" * 200
    with path.open("w", encoding="utf-8") as f:
        f.write("smiles,score,note\n")
        f.writelines(f"{s},{v},{pad}\n" for s, v in rows)
    assert path.stat().st_size > 512 << 10
    env = clean_env(MOLOPS_INGEST__CHUNK_ROWS="200")
    parallel = molops(*_ingest_argv(path, "pool", 2, workspace), env=env).json()
    serial = molops(*_ingest_argv(path, "serial", 1, workspace)).json()
    keys = ("rows_in", "accepted", "quarantined", "merged_duplicates", "reasons", "flagged_replicates")
    assert {k: parallel[k] for k in keys} == {k: serial[k] for k in keys}
    assert parallel["rows_in"] == 3000
    exports = []
    for name in ("pool", "serial"):
        out = tmp_path / f"{name}.csv"
        molops("data", "export", name, out, "-w", workspace).ok()
        exports.append(out.read_bytes())
    assert exports[0] == exports[1]
