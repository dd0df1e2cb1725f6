"""Running live oracles on chunks: real subprocesses (a command, a Python function), with the
failures a docking script or a lab queue produces."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from molops.active.oracle import Oracle, OracleError, call_chunk, run_batch

FLAKY = Path(__file__).resolve().parents[2] / "data" / "flaky_oracle.py"
MOLECULES = [(f"K{i}", "C" * (i + 1)) for i in range(8)]


@pytest.fixture
def lookup(tmp_path):
    path = tmp_path / "lookup.csv"
    path.write_text("inchikey,value\n" + "".join(f"K{i},{-i - 0.5}\n" for i in range(8)))
    return path


def _flaky(lookup: Path, *options: str) -> Oracle:
    return Oracle.parse(f"{sys.executable} {FLAKY} {{in}} {{out}} --lookup {lookup} {' '.join(options)}")


def _settle(oracle: Oracle, **kwargs) -> dict[str, dict]:
    """Every molecule's journal row from a whole run_batch, plus the rejected rows under 'rejected'."""
    rows: dict[str, dict] = {"rejected": {}}
    options = {"chunk_size": 4, "parallel": 2, "timeout_per_molecule": 2.0} | kwargs
    for settled in run_batch(oracle, MOLECULES, **options):
        for r in settled.rows:
            if r["outcome"] == "rejected":
                rows["rejected"][r["id"]] = r["reason"]
            else:
                assert r["id"] not in rows, "a molecule settled twice"
                rows[r["id"]] = r
    return rows


def test_answers_every_molecule_with_its_value_and_extra_columns(lookup):
    rows = _settle(_flaky(lookup))
    assert {k: r["value"] for k, r in rows.items() if k != "rejected"} == {
        f"K{i}": -i - 0.5 for i in range(8)
    }
    assert all(
        r["outcome"] == "value" and r["extra"] == '{"pose_score": "0.5"}'
        for k, r in rows.items()
        if k != "rejected"
    )
    assert rows["rejected"] == {}


def test_one_bad_molecule_fails_alone_with_its_reason(lookup):
    """A hang and a crash sink whole chunks; split down, only those two molecules fail."""
    started = time.monotonic()
    rows = _settle(_flaky(lookup, "--hang K1 --crash K6 --nan K3 --unknown"), timeout_per_molecule=1.0)
    assert rows["K1"]["outcome"] == "failed" and rows["K1"]["reason"] == "timed out after 1 s"
    assert rows["K6"]["outcome"] == "failed"
    assert rows["K6"]["reason"] == "the oracle exited with code 1: segfault in the docking engine"
    assert rows["K3"]["outcome"] == "failed" and rows["K3"]["reason"] == "value is NaN"
    assert {k for k, r in rows.items() if k != "rejected" and r["outcome"] == "value"} == {
        "K0", "K2", "K4", "K5", "K7"
    }  # fmt: skip
    assert rows["rejected"] == {"NOT-A-MOLECULE": "a row for an unknown id"}
    # the hung chunk of 4 (4 s), its half (2 s) and the molecule (1 s): every hung oracle was killed
    assert time.monotonic() - started < 30


def test_random_failures_are_retried_until_each_molecule_settles(lookup):
    rows = _settle(_flaky(lookup, "--fail-rate 0.5"), chunk_size=8, parallel=1)
    # a call of one molecule never fails at random: every molecule gets its value in the end
    assert all(r["outcome"] == "value" for k, r in rows.items() if k != "rejected")
    assert len(rows) == 9


def test_output_problems_are_reasons_not_crashes(tmp_path):
    script = tmp_path / "bad.py"
    script.write_text(
        textwrap.dedent(
            """
            import csv, sys
            rows = list(csv.DictReader(open(sys.argv[1])))
            with open(sys.argv[2], "w") as f:
                f.write("id,value\\n")
                odd = {"K0": "K0,abc\\n", "K1": "K1,\\n", "K2": "K2,1\\nK2,2\\n", "K3": ""}
                for r in rows:
                    f.write(odd.get(r["id"], f"{r['id']},inf\\n"))
            """
        )
    )
    call = call_chunk(Oracle.parse(f"{sys.executable} {script} {{in}} {{out}}"), MOLECULES[:5], 10.0)
    assert call.failed is None
    from molops.active.oracle import judge

    got = {(r["id"], r["outcome"], r["reason"]) for r in judge(call)}
    assert got == {
        ("K0", "failed", "value 'abc' is not a number"),
        ("K1", "failed", "no value"),
        ("K2", "value", None),
        ("K2", "rejected", "a second row for the same id (the first counts)"),
        ("K3", "failed", "the oracle returned no row for it"),
        ("K4", "failed", "value is infinite"),
    }
    nothing = tmp_path / "nothing.py"
    nothing.write_text("pass\n")
    call = call_chunk(Oracle.parse(f"{sys.executable} {nothing} {{in}} {{out}}"), MOLECULES[:2], 10.0)
    assert call.failed == "the oracle exited 0 but wrote no output file"
    columns = tmp_path / "columns.py"
    columns.write_text("import sys; open(sys.argv[2], 'w').write('name,score\\nK0,1\\n')\n")
    call = call_chunk(Oracle.parse(f"{sys.executable} {columns} {{in}} {{out}}"), MOLECULES[:2], 10.0)
    assert call.failed == "its output has no 'id' or 'value' column (columns: name, score)"
    # a script that is a file but not executable: every molecule fails with why, nothing raises
    call = call_chunk(Oracle.parse(f"{columns} {{in}} {{out}}"), MOLECULES[:2], 10.0)
    assert call.failed is not None and call.failed.startswith("the oracle could not start ([Errno 13]")


def test_python_function_oracles(tmp_path, monkeypatch):
    (tmp_path / "labfns.py").write_text(
        textwrap.dedent(
            """
            import pandas as pd

            def lengths(batch):
                return [len(s) for s in batch["smiles"]]

            def as_frame(batch):
                if "CCC" in set(batch["smiles"]):
                    raise ValueError("cannot dock CCC")
                return pd.DataFrame({"id": batch["id"], "value": 1.0, "note": "ok"})

            def as_mapping(batch):
                return {i: 2.0 for i in batch["id"]}
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    rows = _settle(Oracle.parse("python:labfns:lengths"), timeout_per_molecule=30.0)
    assert {k: r["value"] for k, r in rows.items() if k != "rejected"} == {f"K{i}": i + 1.0 for i in range(8)}
    rows = _settle(Oracle.parse("python:labfns:as_frame"), timeout_per_molecule=30.0)
    assert rows["K2"]["reason"] == "the oracle raised ValueError: cannot dock CCC"
    assert sum(r["outcome"] == "value" for k, r in rows.items() if k != "rejected") == 7
    assert rows["K0"]["extra"] == '{"note": "ok"}'
    rows = _settle(Oracle.parse("python:labfns:as_mapping"), timeout_per_molecule=30.0, chunk_size=8)
    assert all(r["value"] == 2.0 for k, r in rows.items() if k != "rejected")


def test_an_oracle_that_cannot_run_is_refused_up_front(tmp_path):
    with pytest.raises(OracleError, match="expected a command with \\{in\\} and \\{out\\}"):
        Oracle.parse("dock.sh input.csv")
    with pytest.raises(OracleError, match="no program 'no-such-docker-tool'"):
        Oracle.parse("no-such-docker-tool {in} {out}")
    with pytest.raises(OracleError, match="expected python:module:function"):
        Oracle.parse("python:labfns")
    with pytest.raises(OracleError, match="no module 'not_a_module_here'"):
        Oracle.parse("python:not_a_module_here:f", cwd=tmp_path)


# The oracle on Ray tasks (--executor ray) is tests/unit/compute/test_ray.py's
# test_an_oracle_on_ray_a_bad_molecule_still_fails_alone: a module is the unit an xdist worker
# takes, so only there does it share that module's local Ray instead of starting its own.
