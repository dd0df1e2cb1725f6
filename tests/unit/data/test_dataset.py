"""Dataset: ingest → versions, re-ingest, updates, diff, rollback, quarantine, units, export."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from molops import Workspace
from molops.chem.standardize import STANDARDIZER_VERSION
from molops.config import CONFIG_FILE
from molops.data.builtin import BUILTINS
from molops.data.dataset import Dataset
from molops.data.store import DatasetStore
from molops.errors import (
    ColumnNotFoundError,
    DatasetNotFoundError,
    InputFileError,
    InvalidNameError,
    UnitsMismatchError,
    VersionNotFoundError,
)

DATA = Path(__file__).resolve().parents[2] / "data"
ETHANOL = "LFQSCWFLJHTTHZ-UHFFFAOYSA-N"
PROPANE = "ATUOYWHBWRKTHZ-UHFFFAOYSA-N"
BUTANE = "IJDNQMDRQITEOD-UHFFFAOYSA-N"
BENZOIC_ACID = "WPYMKLBDIGXBTP-UHFFFAOYSA-N"

V1 = "smiles,y\nCCO,1.0\nOCC,3.0\nCCC,2\nxyz,4\n"
V2 = "smiles,y\nCCO,5\nCCCC,3\n"


def ingest(ds, path, target="y", **kw):
    kw.setdefault("workers", 1)
    return ds.ingest(path, smiles_col="smiles", target_col=target, **kw)


def invariant(report):
    assert report.rows_in == report.accepted + report.quarantined + report.merged_duplicates
    assert report.quarantined == sum(report.reasons.values())


@pytest.fixture
def ds(ws):
    return ws.dataset("sol")


# -- first ingest ------------------------------------------------------------------------------
def test_first_ingest_creates_version_1(ds, write):
    path = write("v1.csv", V1)
    assert not ds.exists()
    report = ingest(ds, path)
    invariant(report)
    assert report.dataset == "sol"
    assert report.version == 1
    assert report.unchanged is False
    assert (report.rows_in, report.accepted, report.quarantined, report.merged_duplicates) == (4, 2, 1, 1)
    assert (report.added, report.updated) == (2, 0)
    assert report.flagged_replicates == 1  # CCO measured as 1 and 3
    assert report.reasons == {"unparsable_structure": 1}
    assert (report.target, report.units, report.source) == ("y", None, "v1.csv")
    assert report.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ds.exists()
    assert ds.latest_version() == 1
    assert ds.targets() == ["y"]

    frame = ds.read()
    assert list(frame["inchikey"]) == [ETHANOL, PROPANE]
    assert list(frame["smiles"]) == ["CCO", "CCC"]
    assert list(frame["y"]) == [2.0, 2.0]
    assert list(frame["y_n"]) == [2, 1]
    assert [list(r) for r in frame["y_replicates"]] == [[1.0, 3.0], [2.0]]
    assert list(frame["y_disagree"]) == [True, False]
    assert list(frame["source"]) == ["v1.csv", "v1.csv"]


def test_version_lineage(ds, write):
    path = write("v1.csv", V1)
    ingest(ds, path, units="log(mol/L)")
    (info,) = ds.versions()
    assert (info.version, info.operation, info.molecules) == (1, "ingest", 2)
    lineage = info.lineage
    assert lineage["source"] == {"name": "v1.csv", "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    assert lineage["settings"] == {"aggregation": "mean", "on_existing": "replace"}
    assert (lineage["rows_in"], lineage["accepted"], lineage["quarantined"]) == (4, 2, 1)
    assert lineage["units"] == "log(mol/L)"
    assert lineage["target"] == "y"
    assert lineage["reasons"] == {"unparsable_structure": 1}
    assert len(lineage["ingest_id"]) == 32
    assert lineage["standardizer"] == STANDARDIZER_VERSION  # the rules that named its molecules


def test_a_dataset_ingested_before_e_z_was_identity_says_so(ds, write, monkeypatch):
    """Before standardiser 4 cis and trans isomers shared a key: a version ingested then may hold both
    in one row, and only a new ingest separates them, so the dataset says so until one does."""
    import molops.data.ingest as ingest_module

    path = write("ez.csv", "smiles,y\nC/C=C/C(=O)O,1.0\nC/C=C\\C(=O)O,2.0\nCCO,3.0\n")
    monkeypatch.setattr(ingest_module, "STANDARDIZER_VERSION", 3)
    ingest(ds, path)
    monkeypatch.undo()
    (warning,) = ds.identity_warnings()
    assert warning.startswith("dataset 'sol' version 1: 2 molecule(s) with a double bond's E/Z were ingested")
    assert "ingest the source files into a new dataset" in warning
    ingest(ds, write("more.csv", "smiles,y\nCCCC,1.0\n"))  # a later ingest does not rename version 1's rows
    assert "version 2: 2 molecule(s)" in ds.identity_warnings()[0]
    assert "(version 1)" in ds.identity_warnings()[0]


def test_no_identity_warning_for_current_rules_or_without_e_z(ds, ws, write, monkeypatch):
    import molops.data.ingest as ingest_module

    ingest(ds, write("ez.csv", "smiles,y\nC/C=C/C(=O)O,1.0\nC/C=C\\C(=O)O,2.0\n"))
    assert ds.identity_warnings() == []  # named by today's rules: two molecules
    assert len(ds.read()) == 2
    old = ws.dataset("plain")
    monkeypatch.setattr(ingest_module, "STANDARDIZER_VERSION", 3)
    ingest(old, write("plain.csv", "smiles,y\nCCO,1.0\nC1CCCCC1,2.0\n"))
    assert old.identity_warnings() == []  # old rules, but no E/Z for them to have merged


def test_reading_a_dataset_that_does_not_exist(ds):
    with pytest.raises(DatasetNotFoundError, match="'sol' does not exist"):
        ds.read()
    with pytest.raises(DatasetNotFoundError):
        ds.versions()


def test_reading_a_version_that_does_not_exist(ds, write):
    ingest(ds, write("v1.csv", V1))
    with pytest.raises(VersionNotFoundError) as info:
        ds.read(5)
    assert str(info.value) == "dataset 'sol' has no version 5; it has 1..1"


# -- re-ingest ---------------------------------------------------------------------------------
def test_reingesting_the_same_file_changes_nothing(ds, write):
    path = write("v1.csv", V1)
    first = ingest(ds, path)
    again = ingest(ds, path)
    invariant(again)
    assert again.unchanged is True
    assert again.version == 1
    assert (again.added, again.updated) == (0, 0)
    assert (again.rows_in, again.accepted, again.quarantined) == (
        first.rows_in,
        first.accepted,
        first.quarantined,
    )
    assert [v.version for v in ds.versions()] == [1]
    assert len(ds.quarantine()) == 1


def test_same_content_under_another_name_changes_nothing(ds, write):
    ingest(ds, write("v1.csv", V1))
    report = ingest(
        ds, write("copy.csv", V1.replace("OCC,3.0\n", "").replace("CCO,1.0\n", "CCO,3.0\nC(O)C,1\n"))
    )
    assert report.unchanged is True
    assert [v.version for v in ds.versions()] == [1]


def test_new_values_make_a_new_version_and_leave_the_old_one_alone(ds, write):
    ingest(ds, write("v1.csv", V1))
    before = ds.read(1)
    report = ingest(ds, write("v2.csv", V2))
    invariant(report)
    assert (report.version, report.unchanged, report.added, report.updated) == (2, False, 1, 1)
    pd.testing.assert_frame_equal(ds.read(1), before)
    latest = ds.read().set_index("inchikey")
    assert latest.loc[ETHANOL, "y"] == 5.0
    assert latest.loc[ETHANOL, "y_n"] == 1
    assert latest.loc[ETHANOL, "updated_version"] == 2
    assert latest.loc[ETHANOL, "first_version"] == 1
    assert latest.loc[PROPANE, "y"] == 2.0
    assert latest.loc[PROPANE, "updated_version"] == 1
    assert latest.loc[BUTANE, "first_version"] == 2
    assert list(ds.read()["order"]) == [0, 1, 2]
    assert [v.version for v in ds.versions()] == [1, 2]


def test_only_new_rejects_still_make_a_version(ds, write):
    ingest(ds, write("v1.csv", V1))
    report = ingest(ds, write("bad.csv", "smiles,y\nCCO,3\nCCO,1\nnope,1\n"))
    assert (report.unchanged, report.added, report.updated) == (False, 0, 0)
    assert report.version == 2
    pd.testing.assert_frame_equal(ds.read(2), ds.read(1))
    assert list(ds.quarantine(2)["raw"]) == ['{"smiles": "nope", "y": "1"}']


def test_read_returns_molecules_in_the_order_they_were_added(ds, write):
    first = [f"C{'C' * i}O" for i in range(40)]
    second = [f"C{'C' * i}N" for i in range(40)]
    ingest(ds, write("a.csv", "smiles,y\n" + "".join(f"{s},{i}\n" for i, s in enumerate(first))))
    ingest(ds, write("b.csv", "smiles,y\n" + "".join(f"{s},{i}\n" for i, s in enumerate(second)) + "CO,5\n"))
    frame = ds.read()
    assert list(frame["order"]) == list(range(80))
    assert list(frame["smiles"]) == first + second
    assert list(ds.read(1)["smiles"]) == first


# -- diff --------------------------------------------------------------------------------------
def test_diff(ds, write):
    ingest(ds, write("v1.csv", "smiles,y\nCCO,1\nCCC,2\n"))
    ingest(ds, write("v2.csv", V2))
    forward = ds.diff(1, 2)
    assert (forward.from_version, forward.to_version) == (1, 2)
    assert forward.counts() == {"added": 1, "removed": 0, "changed": 1}
    assert forward.added == [
        {"inchikey": BUTANE, "smiles": "CCCC", "y": 3.0, "y_std": None, "y_n": 1, "y_disagree": False}
    ]
    (change,) = forward.changed
    assert (change.inchikey, change.smiles, change.changes) == (ETHANOL, "CCO", {"y": [1.0, 5.0]})

    backward = ds.diff(2, 1)
    assert backward.counts() == {"added": 0, "removed": 1, "changed": 1}
    assert backward.removed[0]["inchikey"] == BUTANE
    assert backward.changed[0].changes == {"y": [5.0, 1.0]}

    assert ds.diff(2, 2).counts() == {"added": 0, "removed": 0, "changed": 0}
    with pytest.raises(VersionNotFoundError):
        ds.diff(1, 3)


def test_diff_sees_replicate_statistics(ds, write):
    ingest(ds, write("v1.csv", "smiles,y\nCCO,2\n"))
    ingest(ds, write("v2.csv", "smiles,y\nCCO,1\nCCO,3\n"))
    (change,) = ds.diff(1, 2).changed
    assert set(change.changes) == {"y_std", "y_n", "y_disagree"}  # the mean stays 2.0
    assert change.changes["y_n"] == [1, 2]
    assert change.changes["y_std"][0] is None
    assert change.changes["y_std"][1] == pytest.approx(math.sqrt(2))


# -- rollback ----------------------------------------------------------------------------------
def test_rollback_makes_a_new_version_equal_to_the_old(ds, write):
    ingest(ds, write("v1.csv", V1))
    ingest(ds, write("v2.csv", V2))
    report = ds.rollback(1)
    assert (report.version, report.rolled_back_to, report.molecules, report.unchanged) == (3, 1, 2, False)
    pd.testing.assert_frame_equal(ds.read(3), ds.read(1))
    info = ds.versions()[-1]
    assert (info.version, info.operation) == (3, "rollback")
    assert info.lineage["operation"] == "rollback"
    assert info.lineage["rollback_to"] == 1
    assert info.lineage["rolled_back_from"] == 2
    assert ds.diff(2, 3).counts() == {"added": 0, "removed": 1, "changed": 1}
    # history is kept: version 2 still reads as before
    assert ds.read(2).set_index("inchikey").loc[ETHANOL, "y"] == 5.0


def test_rollback_to_the_current_content_changes_nothing(ds, write):
    ingest(ds, write("v1.csv", V1))
    ingest(ds, write("v2.csv", V2))
    report = ds.rollback(2)
    assert (report.version, report.unchanged) == (2, True)
    ds.rollback(1)
    assert ds.rollback(1).unchanged is True
    assert [v.version for v in ds.versions()] == [1, 2, 3]


def test_rollback_errors(ds, write):
    with pytest.raises(DatasetNotFoundError):
        ds.rollback(1)
    ingest(ds, write("v1.csv", V1))
    with pytest.raises(VersionNotFoundError):
        ds.rollback(7)


def test_ingest_after_rollback_builds_on_the_rolled_back_content(ds, write):
    ingest(ds, write("v1.csv", V1))
    v2 = write("v2.csv", V2)
    ingest(ds, v2)
    ds.rollback(1)
    report = ingest(ds, v2)
    assert (report.version, report.added, report.updated) == (4, 1, 1)
    pd.testing.assert_frame_equal(
        ds.read(4).drop(columns=["updated_version", "first_version"]),
        ds.read(2).drop(columns=["updated_version", "first_version"]),
    )


# -- quarantine --------------------------------------------------------------------------------
def test_quarantine_rows_per_version(ds, write):
    ingest(ds, write("v1.csv", V1))
    ingest(ds, write("v2.csv", "smiles,y\nCCCC,1\nO,2\nCCO,NA\nCC,<3\n"))
    q1, q2, q_all = ds.quarantine(1), ds.quarantine(2), ds.quarantine()
    assert list(q1["reason"]) == ["unparsable_structure"]
    assert list(q1["row"]) == [4]
    assert list(q1["raw"]) == ['{"smiles": "xyz", "y": "4"}']
    assert list(q1["source"]) == ["v1.csv"]
    assert list(q2["reason"]) == ["inorganic", "missing_target", "censored_target"]
    assert list(q2["row"]) == [2, 3, 4]
    assert set(q2["dataset_version"]) == {2}
    assert set(q2["target"]) == {"y"}
    assert len(q_all) == 4
    assert list(q_all["dataset_version"]) == [1, 2, 2, 2]


def test_quarantine_of_a_dataset_without_rejects(ds, write):
    ingest(ds, write("ok.csv", "smiles,y\nCCO,1\n"))
    q = ds.quarantine()
    assert len(q) == 0
    assert {"reason", "raw", "row", "detail", "dataset_version"} <= set(q.columns)


def test_messy_fixture(ds):
    report = ds.ingest(DATA / "messy.csv", smiles_col="smiles", target_col="logS", workers=1)
    invariant(report)
    assert (report.rows_in, report.accepted, report.quarantined, report.merged_duplicates) == (9, 2, 6, 1)
    assert report.reasons == {
        "censored_target": 1,
        "inorganic": 1,
        "malformed_row": 2,
        "missing_target": 1,
        "unparsable_structure": 1,
    }
    frame = ds.read().set_index("inchikey")
    assert frame.loc[BENZOIC_ACID, "smiles"] == "O=C(O)c1ccccc1"
    assert frame.loc[ETHANOL, "logS"] == pytest.approx(-0.785)
    assert list(ds.quarantine()["row"]) == [4, 5, 6, 7, 8, 9]


def test_sdf_fixture(ds):
    report = ds.ingest(DATA / "measurements.sdf", smiles_col=None, target_col="SOL", workers=1)
    invariant(report)
    assert (report.rows_in, report.accepted, report.quarantined) == (4, 3, 1)
    assert report.reasons == {"missing_target": 1}
    assert set(ds.read()["smiles"]) == {"CCO", "c1ccccc1", "O=C(O)c1ccccc1"}


# -- settings ----------------------------------------------------------------------------------
def _configured(tmp_path, toml: str) -> Workspace:
    Workspace.init(tmp_path / "cfg")
    (tmp_path / "cfg" / CONFIG_FILE).write_text(toml, encoding="utf-8")
    return Workspace.open(tmp_path / "cfg")


def test_accumulate(tmp_path, write):
    ds = _configured(tmp_path, "[ingest]\non_existing = 'accumulate'\n").dataset("acc")
    first = write("a.csv", "smiles,y\nCCO,1\n")
    ingest(ds, first)
    again = ingest(ds, first)  # the very same file is not counted twice
    assert (again.unchanged, again.version) == (True, 1)
    report = ingest(ds, write("b.csv", "smiles,y\nCCO,3\n"))
    assert (report.version, report.updated) == (2, 1)
    row = ds.read().iloc[0]
    assert (row["y"], row["y_n"], sorted(row["y_replicates"])) == (2.0, 2, [1.0, 3.0])
    assert ds.versions()[-1].lineage["settings"]["on_existing"] == "accumulate"


def test_aggregation_setting(tmp_path, write):
    ds = _configured(tmp_path, "[ingest]\naggregation = 'max'\n").dataset("agg")
    ingest(ds, write("a.csv", "smiles,y\nCCO,1\nCCO,3\nCCO,2\n"))
    assert ds.read()["y"].tolist() == [3.0]


def test_ranges_quarantine_out_of_range_values(tmp_path, write):
    ds = _configured(tmp_path, "[ingest.ranges]\ny = { min = 0, max = 10 }\n").dataset("rng")
    report = ingest(ds, write("a.csv", "smiles,y\nCCO,1\nCCC,11\nCCCC,-1\nCC,10\n"))
    assert report.reasons == {"out_of_range": 2}
    assert list(ds.quarantine()["detail"]) == ["11 is outside [0.0, 10.0]", "-1 is outside [0.0, 10.0]"]


def test_standardizer_settings_come_from_the_config(tmp_path, write):
    ds = _configured(tmp_path, "[ingest]\nmax_heavy_atoms = 3\n").dataset("small")
    report = ingest(ds, write("a.csv", "smiles,y\nCCO,1\nCCCC,2\n"))
    assert report.reasons == {"too_large": 1}


# -- units, names, columns ---------------------------------------------------------------------
def test_units_mismatch(ds, write):
    ingest(ds, write("a.csv", "smiles,y\nCCO,1\n"), units="uM")
    with pytest.raises(UnitsMismatchError) as info:
        ingest(ds, write("b.csv", "smiles,y\nCCC,1\n"), units="nM")
    message = str(info.value)
    assert "'uM'" in message and "'nM'" in message and "'y'" in message
    assert [v.version for v in ds.versions()] == [1]
    same = ingest(ds, write("c.csv", "smiles,y\nCCC,1\n"), units="uM")
    assert (same.version, same.units) == (2, "uM")
    implied = ingest(ds, write("d.csv", "smiles,y\nCCCC,1\n"))
    assert implied.units == "uM"


def test_units_are_per_target(ds, write):
    ingest(ds, write("a.csv", "smiles,y\nCCO,1\n"), units="uM")
    report = ingest(ds, write("b.csv", "smiles,z\nCCO,1\n"), target="z", units="kcal/mol")
    assert report.units == "kcal/mol"
    assert ds.targets() == ["y", "z"]


def test_units_on_a_dataset_that_had_none(ds, write):
    ingest(ds, write("a.csv", "smiles,y\nCCO,1\n"))
    report = ingest(ds, write("a2.csv", "smiles,y\nCCO,1\n"), units="uM")
    assert (report.unchanged, report.version, report.units) == (False, 2, "uM")
    assert ingest(ds, write("a3.csv", "smiles,y\nCCO,1\n"), units="uM").unchanged is True


@pytest.mark.parametrize(
    "target", ["smiles", "inchikey", "order", "source", "y_std", "y_n", "y_replicates", "y_disagree"]
)
def test_reserved_target_names(ds, write, target):
    path = write("a.csv", f"smiles,{target},x\nCCO,1,2\n")
    with pytest.raises(InvalidNameError, match=repr(target)):
        ds.ingest(path, smiles_col="smiles", target_col=target, workers=1)
    assert not ds.exists()


def test_missing_column_creates_nothing(ds, write):
    path = write("a.csv", "smiles,logS\nCCO,1\n")
    with pytest.raises(ColumnNotFoundError) as info:
        ingest(ds, path, target="SOL")
    assert str(path) in str(info.value) and "'SOL'" in str(info.value)
    assert not ds.exists()


def test_unknown_format_and_missing_file(ds, tmp_path, write):
    with pytest.raises(InputFileError, match="cannot tell the file format"):
        ingest(ds, write("a.xlsx", b"PK\x03\x04"))
    with pytest.raises(InputFileError, match="no such file"):
        ingest(ds, tmp_path / "missing.csv")


# -- formats end to end ------------------------------------------------------------------------
def test_every_format_gives_the_same_dataset(ws, write):
    rows = [("CCO", 1.0), ("OCC", 2.0), ("c1ccccc1", -1.5), ("[Na+].[O-]C(=O)c1ccccc1", 0.5)]
    csv_text = "smiles,y\n" + "".join(f"{s},{v}\n" for s, v in rows)
    frame = pd.DataFrame(rows, columns=["smiles", "y"])
    parquet = write("a.parquet", b"")
    frame.to_parquet(parquet, index=False)
    files = {
        "csv": write("a.csv", csv_text),
        "tsv": write("a.tsv", csv_text.replace(",", "\t")),
        "gz": write("a.csv.gz", gzip.compress(csv_text.encode())),
        "pq": parquet,
        "pqgz": write("a.parquet.gz", gzip.compress(parquet.read_bytes())),
    }
    frames = {}
    for name, path in files.items():
        ds = ws.dataset(name)
        report = ingest(ds, path, source_name="measurements")
        assert (report.rows_in, report.accepted, report.merged_duplicates) == (4, 3, 1), name
        frames[name] = ds.read()
    for name, got in frames.items():
        pd.testing.assert_frame_equal(got, frames["csv"], obj=name)


def test_progress_is_reported(ds, write):
    path = write("a.csv", "smiles,y\n" + "".join(f"{'C' * (1 + i % 5)},{i}\n" for i in range(250)))
    calls = []
    ds.config.chunk_rows = 100
    ds.ingest(
        path,
        smiles_col="smiles",
        target_col="y",
        workers=1,
        progress=lambda rows, done, total: calls.append((rows, done, total)),
    )
    assert [c[0] for c in calls] == [100, 200, 250]
    assert all(c[2] == path.stat().st_size for c in calls)
    assert calls[-1][1] == path.stat().st_size


def test_source_name_override(ds, write):
    report = ingest(ds, write("tmp123.csv", "smiles,y\nCCO,1\n"), source_name="lab-batch-7")
    assert report.source == "lab-batch-7"
    assert ds.versions()[0].lineage["source"]["name"] == "lab-batch-7"
    assert list(ds.read()["source"]) == ["lab-batch-7"]


def test_builtin_freesolv(ds):
    spec = BUILTINS["freesolv"]
    report = ds.ingest(
        spec.path(), smiles_col=spec.smiles_col, target_col=spec.target_col, units=spec.units, workers=1
    )
    invariant(report)
    assert report.rows_in == 642
    frame = ds.read()
    assert len(frame) == report.accepted
    assert frame["inchikey"].is_unique
    assert int(frame["expt_n"].sum()) == report.accepted + report.merged_duplicates


# -- export ------------------------------------------------------------------------------------
EXPORTED = [
    "smiles",
    "inchikey",
    "y",
    "y_std",
    "y_n",
    "y_disagree",
    "y_replicates",
    "first_version",
    "updated_version",
    "source",
]


def test_export_csv(ds, write, tmp_path):
    ingest(ds, write("v1.csv", V1))
    out = ds.export(tmp_path / "out" / "sol.csv")
    assert out == tmp_path / "out" / "sol.csv"
    frame = pd.read_csv(out)
    assert list(frame.columns) == EXPORTED
    assert list(frame["smiles"]) == ["CCO", "CCC"]
    assert list(frame["inchikey"]) == [ETHANOL, PROPANE]
    assert list(frame["y"]) == [2.0, 2.0]
    assert list(frame["y_n"]) == [2, 1]
    assert frame["y_std"][0] == pytest.approx(math.sqrt(2))
    assert math.isnan(frame["y_std"][1])
    assert [json.loads(r) for r in frame["y_replicates"]] == [[1.0, 3.0], [2.0]]


def test_export_parquet_of_an_older_version(ds, write, tmp_path):
    ingest(ds, write("v1.csv", V1))
    ingest(ds, write("v2.csv", V2))
    frame = pd.read_parquet(ds.export(tmp_path / "sol.parquet", version=1))
    assert list(frame.columns) == EXPORTED
    assert list(frame["y"]) == [2.0, 2.0]
    assert list(frame["y_n"]) == [2, 1]
    latest = pd.read_parquet(ds.export(tmp_path / "latest.PARQUET"))
    assert list(latest["smiles"]) == ["CCO", "CCC", "CCCC"]


def test_export_two_targets(ds, write, tmp_path):
    ingest(ds, write("a.csv", "smiles,y\nCCO,1\n"))
    ingest(ds, write("b.csv", "smiles,z\nCCC,2\n"), target="z")
    frame = pd.read_csv(ds.export(tmp_path / "x.csv"))
    z_columns = ["z", "z_std", "z_n", "z_disagree", "z_replicates"]
    assert list(frame.columns) == [*EXPORTED[:7], *z_columns, *EXPORTED[7:]]
    assert list(frame["z_n"]) == [0, 1]


def test_export_refuses_other_suffixes(ds, write, tmp_path):
    ingest(ds, write("a.csv", "smiles,y\nCCO,1\n"))
    with pytest.raises(InputFileError, match=r"expected \.csv or \.parquet"):
        ds.export(tmp_path / "x.xlsx")
    with pytest.raises(InputFileError, match=r"cannot export to .*; expected \.csv or \.parquet"):
        ds.export(tmp_path / "x")


class _Interleaved(DatasetStore):
    """This machine's store; *between* runs once, right after its first snapshot read."""

    def __init__(self, *args: object, between: Callable[[], object], **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.between: Callable[[], object] | None = between

    def read(self, version: int | None = None) -> pd.DataFrame:
        frame = super().read(version)
        if self.between is not None:
            between, self.between = self.between, None
            between()
        return frame


def test_rollback_starts_over_when_another_machine_commits_first(ws, write):
    there = ws.dataset("sol")  # the other machine: the same tables, its own lock file
    ingest(there, write("v1.csv", V1))
    ingest(there, write("v2.csv", V2))
    store = _Interleaved(
        "sol",
        there.store.storage,
        ws.root / "this-machine.lock",
        between=lambda: ingest(there, write("v3.csv", "smiles,y\nCCCCC,7\n")),
    )
    report = Dataset(store, ws.config.ingest).rollback(1)
    assert (report.version, report.rolled_back_to, report.unchanged) == (4, 1, False)
    versions = there.versions()
    assert [v.version for v in versions] == [1, 2, 3, 4]
    assert versions[-1].lineage["rolled_back_from"] == 3  # built on the winner's version, not v2
    assert sorted(there.read(4)["inchikey"]) == sorted(there.read(1)["inchikey"])
