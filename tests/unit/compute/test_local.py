"""LocalExecutor: ordered, bounded, streaming map, inline or over a process pool."""

from __future__ import annotations

import operator
import os

import pandas as pd
import pytest

from molops.chem.standardize import StandardizerSettings
from molops.compute.local import LocalExecutor, default_workers
from molops.data import ingest as ingest_module
from molops.data.validation import validate_chunk


def test_default_workers():
    assert default_workers(3) == 3
    assert default_workers(1) == 1
    assert default_workers(0) == len(os.sched_getaffinity(0))
    assert default_workers(-1) == default_workers(0)
    assert LocalExecutor(0).workers == default_workers(0)
    assert LocalExecutor(5).workers == 5


def test_inline_map_is_ordered_and_in_this_process():
    units = [(i, 10 * i) for i in range(20)]
    assert list(LocalExecutor(1).map(operator.add, units)) == [11 * i for i in range(20)]
    pids = set(LocalExecutor(1).map(os.getpid, [()] * 3))
    assert pids == {os.getpid()}


def test_inline_map_is_lazy():
    consumed = []

    def units():
        for i in range(100):
            consumed.append(i)
            yield (i,)

    results = LocalExecutor(1).map(abs, units())
    assert consumed == []
    assert next(results) == 0
    assert consumed == [0]


def test_inline_map_propagates_errors():
    results = LocalExecutor(1).map(int, [("1",), ("x",), ("3",)])
    assert next(results) == 1
    with pytest.raises(ValueError, match="invalid literal"):
        next(results)


def test_empty_input():
    assert list(LocalExecutor(1).map(abs, [])) == []
    assert list(LocalExecutor(2).map(abs, [])) == []


CHUNKS = [
    (["CCO", "OCC", "xyz", None, "[Na+].[O-]C(=O)c1ccccc1"], ["1", "2", "3", "4", "NA"]),
    (["c1ccccc1", "O", "[CH3]", "CC(=O)O"], ["<1", "2", "3", "inf"]),
    (["C" * 120, "CCN.Cl", "C1CC", "CN(=O)=O"], ["1", "2", "3", "4"]),
] * 3


def _units():
    for structures, targets in CHUNKS:
        yield structures, targets, {}, "smiles", StandardizerSettings(), (None, 3.0)


def test_process_pool_gives_identical_results_in_order():
    inline = list(LocalExecutor(1).map(validate_chunk, _units()))
    pooled = list(
        LocalExecutor(2, preload=("molops.data.validation",)).map(validate_chunk, _units(), in_flight=3)
    )
    assert pooled == inline
    assert [v.accepted for v in pooled[:3]] == [[0, 1], [], [1]]  # "4" is above the range


def test_process_pool_runs_elsewhere_and_keeps_order():
    pool = LocalExecutor(2)
    pids = list(pool.map(os.getpid, [()] * 6))
    assert os.getpid() not in pids
    assert list(pool.map(operator.mul, [(i, i) for i in range(50)])) == [i * i for i in range(50)]


def test_process_pool_is_bounded():
    consumed = []

    def units():
        for i in range(1000):
            consumed.append(i)
            yield (i,)

    results = LocalExecutor(2).map(abs, units(), in_flight=3)
    assert next(results) == 0
    assert len(consumed) == 3  # never more than in_flight units read ahead
    assert next(results) == 1
    assert len(consumed) == 4
    results.close()  # shuts the pool down


def test_process_pool_propagates_errors():
    with pytest.raises(ValueError, match="invalid literal"):
        list(LocalExecutor(2).map(int, [("1",), ("x",), ("3",)]))


def test_ingest_with_a_pool_equals_ingest_inline(ws, write, monkeypatch):
    monkeypatch.setattr(ingest_module, "PARALLEL_MIN_BYTES", 0)  # small files use the pool too
    smiles = ["CCO", "OCC", "c1ccccc1", "xyz", "O", "CC(=O)[O-].[Na+]", "CCN", "[CH3]", "CCCC"]
    lines = [f"{smiles[i % len(smiles)]},{i % 7 if i % 11 else 'NA'},{'n' * (i % 13)}" for i in range(600)]
    path = write("a.csv", "smiles,y,note\n" + "\n".join(lines) + "\n")
    ws.config.ingest.chunk_rows = 100
    reports = {}
    for workers in (1, 2):
        ds = ws.dataset(f"w{workers}")
        ds.identities = None  # no workspace cache: both runs standardise every row themselves
        reports[workers] = ds.ingest(path, smiles_col="smiles", target_col="y", workers=workers)
    one, two = reports[1], reports[2]
    # the pool really ran: six chunks validated in worker processes (small ones: one worker may
    # take them all before the other has started), and inline in this process
    assert (one.chunks, one.workers_used, two.chunks) == (6, 0, 6)
    assert two.workers_used in (1, 2)
    same = {"dataset", "seconds", "workers_used"}
    assert two.model_dump(exclude=same) == one.model_dump(exclude=same)
    assert one.rows_in == 600
    pd.testing.assert_frame_equal(ws.dataset("w2").read(), ws.dataset("w1").read())
    q1, q2 = ws.dataset("w1").quarantine(), ws.dataset("w2").quarantine()
    cols = ["row", "reason", "detail", "raw", "hash"]
    pd.testing.assert_frame_equal(q2[cols], q1[cols])


def test_a_file_under_the_threshold_is_validated_in_this_process(ws, write):
    """Below PARALLEL_MIN_BYTES a pool costs more than it saves: one process, whatever ``workers``."""
    lines = [f"{'C' * (1 + i % 9)}O,{i}" for i in range(300)]
    path = write("small.csv", "smiles,y\n" + "\n".join(lines) + "\n")
    assert path.stat().st_size < ingest_module.PARALLEL_MIN_BYTES
    ws.config.ingest.chunk_rows = 100
    report = ws.dataset("small").ingest(path, smiles_col="smiles", target_col="y", workers=2)
    assert (report.rows_in, report.chunks, report.workers_used) == (300, 3, 0)


_MAIN_SCRIPT = """
import os, sys
from molops.compute.local import LocalExecutor

with open(sys.argv[1], "a") as marks:  # one line per process that runs this script
    marks.write(f"{os.getpid()}\\n")


def square(x):
    return x * x


if __name__ == "__main__":
    fn = square if sys.argv[2] == "main" else abs
    pids = list(LocalExecutor(2).map(os.getpid, [()] * 4)) if fn is abs else []
    assert list(LocalExecutor(2).map(fn, [(-i,) for i in range(6)])) == [fn(-i) for i in range(6)]
"""


@pytest.mark.parametrize("where", ["package", "main"])
def test_workers_run_the_main_script_only_for_a_function_defined_there(tmp_path, where):
    """The main script (the CLI, a benchmark) costs each worker its imports; a function from a
    package does not need it, one defined in the script does."""
    import subprocess
    import sys

    script, marks = tmp_path / "script.py", tmp_path / "marks.txt"
    script.write_text(_MAIN_SCRIPT)
    subprocess.run([sys.executable, str(script), str(marks), where], check=True, timeout=120)
    runs = marks.read_text().split()
    assert len(runs) == (1 if where == "package" else 3)  # the parent, and each worker for "main"
