"""The shared benchmark file (10,449 docked Enamine molecules) through the CLI: counts reconcile,
and parallel validation gives exactly what serial validation gives."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from molops.data.ingest import PARALLEL_MIN_BYTES

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


def _padded_csv(path: Path, rows: Sequence[tuple[str, str]]) -> Path:
    """*rows* with a padding column, so that the file is over PARALLEL_MIN_BYTES."""
    pad = "x" * 200
    with path.open("w", encoding="utf-8") as f:
        f.write("smiles,score,note\n")
        f.writelines(f"{s},{v},{pad}\n" for s, v in rows)
    assert path.stat().st_size > PARALLEL_MIN_BYTES
    return path


def test_enamine_parallel_equals_serial(workspace, tmp_path):
    """The .gz is under PARALLEL_MIN_BYTES, so it is validated in the CLI's own process whatever
    --workers says; a padded copy is over it, so two worker processes validate it. Both give the
    same molecules and counts. (The two ingests are started together only to save time: they
    write different datasets, so neither waits for the other's lock.)"""
    source = require_enamine()
    assert source.stat().st_size < PARALLEL_MIN_BYTES
    padded = _padded_csv(tmp_path / "enamine-padded.csv", enamine())
    procs = {
        1: start(*_ingest_argv(source, "enamine-w1", 2, workspace)),
        2: start(*_ingest_argv(padded, "enamine-w2", 2, workspace)),
    }
    reports = {w: finish(p, timeout=300).json() for w, p in procs.items()}
    for r in reports.values():
        assert (r["version"], r["unchanged"], r["rows_in"]) == (1, False, ENAMINE_ROWS)
        assert r["rows_in"] == r["accepted"] + r["quarantined"] + r["merged_duplicates"]
        assert r["accepted"] == r["added"]
        assert sum(r["reasons"].values()) == r["quarantined"]
    # the pool really ran for the padded file (5,000-row chunks), and not for the small .gz
    assert (reports[2]["chunks"], reports[2]["workers_used"]) == (3, 2)
    assert (reports[1]["chunks"], reports[1]["workers_used"]) == (3, 0)
    keys = ("rows_in", "accepted", "quarantined", "merged_duplicates", "reasons", "flagged_replicates")
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
        exports[w] = [{k: v for k, v in r.items() if k != "source"} for r in read_csv(out)]
    assert exports[2] == exports[1]  # the same molecules and values; only the file name differs
    rows = exports[1]
    assert len(rows) == reports[1]["accepted"]
    assert len({r["inchikey"] for r in rows}) == len(rows)
    assert sum(int(r["score_n"]) for r in rows) == reports[1]["accepted"] + reports[1]["merged_duplicates"]


def test_worker_pool_gives_the_serial_result(workspace, tmp_path):
    """A file over PARALLEL_MIN_BYTES (padding column) in small chunks makes many work units, so
    the pool really runs (the report says how many processes validated chunks), out of order, and
    its result must still equal the serial one."""
    path = _padded_csv(tmp_path / "padded.csv", enamine()[:3000])
    env = clean_env(MOLOPS_INGEST__CHUNK_ROWS="200")
    parallel = molops(*_ingest_argv(path, "pool", 2, workspace), env=env).json()
    serial = molops(*_ingest_argv(path, "serial", 1, workspace), env=env).json()
    assert (parallel["chunks"], parallel["workers_used"]) == (15, 2)
    assert (serial["chunks"], serial["workers_used"]) == (15, 0)
    keys = ("rows_in", "accepted", "quarantined", "merged_duplicates", "reasons", "flagged_replicates")
    assert {k: parallel[k] for k in keys} == {k: serial[k] for k in keys}
    assert parallel["rows_in"] == 3000
    exports = []
    for name in ("pool", "serial"):
        out = tmp_path / f"{name}.csv"
        molops("data", "export", name, out, "-w", workspace).ok()
        exports.append(out.read_bytes())
    assert exports[0] == exports[1]
