"""A dataset's life through the CLI: ingest, re-ingest, update, time travel, diff, export,
quarantine and rollback, checked value by value on small files whose outcome is known."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ._cli import assert_one_line_error, molops, read_csv, version_numbers, versions, write_csv

pytestmark = pytest.mark.integration

ETHANOL = "LFQSCWFLJHTTHZ-UHFFFAOYSA-N"
ETHYLAMINE = "QUSNBJAOOMFDIB-UHFFFAOYSA-N"
BENZENE = "UHOVQNZJYSORNB-UHFFFAOYSA-N"
BUTANE = "IJDNQMDRQITEOD-UHFFFAOYSA-N"

#: Version 1: three molecules (ethanol twice, two spellings), five rows nobody should train on.
V1_ROWS = [
    ["1", "CCO", "1.0"],
    ["2", "CCN", "2.0"],
    ["3", "c1ccccc1", "3.0"],
    ["4", "OCC", "1.2"],
    ["5", "not_a_smiles", "5"],
    ["6", "CCC", "NA"],
    ["7", "[Na+].[Cl-]", "1.0"],
    ["8", "CC(=O)O", ">3"],
    ["9", "", "2.0"],
]
V1_REASONS = {
    "censored_target": 1,
    "empty_structure": 1,
    "inorganic": 1,
    "missing_target": 1,
    "unparsable_structure": 1,
}
#: Version 2: ethanol re-measured, ethylamine repeated unchanged, butane new, one bad ring.
V2_ROWS = [["CCO", "1.5"], ["CCN", "2.0"], ["CCCC", "4.0"], ["C1CC", "1.0"]]

EXPORT_COLUMNS = [
    "smiles",
    "inchikey",
    "pIC50",
    "pIC50_std",
    "pIC50_n",
    "pIC50_disagree",
    "pIC50_replicates",
    "first_version",
    "updated_version",
    "source",
]


def _ingest(ws: Path, path: Path, *extra: str) -> dict[str, Any]:
    return molops(
        "data",
        "ingest",
        path,
        "--dataset",
        "assay",
        "--smiles-col",
        "smiles",
        "--target-col",
        "pIC50",
        "--workspace",
        ws,
        "--json",
        *extra,
    ).json()


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> dict[str, Any]:
    """v1 from v1.csv (ingested twice), v2 from v2.csv (ingested twice)."""
    root = tmp_path_factory.mktemp("lifecycle")
    ws = root / "ws"
    molops("init", ws).ok()
    v1 = write_csv(root / "in" / "v1.csv", ["id", "smiles", "pIC50"], V1_ROWS)
    v2 = write_csv(root / "in" / "v2.csv", ["smiles", "pIC50"], V2_ROWS)
    h: dict[str, Any] = {"ws": ws, "root": root}
    h["r1"] = _ingest(ws, v1, "--units", "log(M)")
    h["r1_again"] = _ingest(ws, v1, "--units", "log(M)")
    h["versions_after_r1_again"] = version_numbers(ws, "assay")
    h["r2"] = _ingest(ws, v2)
    h["r2_again"] = _ingest(ws, v2)
    return h


def test_first_ingest_report(history):
    r = history["r1"]
    assert set(r) >= {
        "dataset",
        "version",
        "rows_in",
        "accepted",
        "quarantined",
        "merged_duplicates",
        "unchanged",
        "reasons",
    }
    assert r["rows_in"] == r["accepted"] + r["quarantined"] + r["merged_duplicates"]
    assert {
        k: r[k]
        for k in (
            "dataset",
            "version",
            "unchanged",
            "rows_in",
            "accepted",
            "quarantined",
            "merged_duplicates",
            "added",
            "updated",
            "reasons",
            "target",
            "units",
            "source",
        )
    } == {
        "dataset": "assay",
        "version": 1,
        "unchanged": False,
        "rows_in": 9,
        "accepted": 3,
        "quarantined": 5,
        "merged_duplicates": 1,
        "added": 3,
        "updated": 0,
        "reasons": V1_REASONS,
        "target": "pIC50",
        "units": "log(M)",
        "source": "v1.csv",
    }
    assert len(r["sha256"]) == 64


def test_reingesting_the_same_file_is_unchanged(history):
    again = history["r1_again"]
    assert again["unchanged"] is True
    assert again["version"] == 1
    assert {
        k: again[k]
        for k in (
            "rows_in",
            "accepted",
            "quarantined",
            "merged_duplicates",
            "added",
            "updated",
            "reasons",
            "sha256",
        )
    } == {
        **{
            k: history["r1"][k]
            for k in ("rows_in", "accepted", "quarantined", "merged_duplicates", "reasons", "sha256")
        },
        "added": 0,
        "updated": 0,
    }
    assert history["versions_after_r1_again"] == [1]


def test_update_makes_version_2(history):
    r = history["r2"]
    assert r["rows_in"] == r["accepted"] + r["quarantined"] + r["merged_duplicates"]
    assert {
        k: r[k]
        for k in (
            "version",
            "unchanged",
            "rows_in",
            "accepted",
            "quarantined",
            "merged_duplicates",
            "added",
            "updated",
            "reasons",
            "units",
        )
    } == {
        "version": 2,
        "unchanged": False,
        "rows_in": 4,
        "accepted": 3,
        "quarantined": 1,
        "merged_duplicates": 0,
        "added": 1,
        "updated": 1,
        "reasons": {"unparsable_structure": 1},
        "units": "log(M)",
    }  # the units recorded with version 1 carry over
    again = history["r2_again"]
    assert (again["unchanged"], again["version"], again["added"], again["updated"]) == (True, 2, 0, 0)
    assert version_numbers(history["ws"], "assay") == [1, 2]


def test_versions_json_lineage(history):
    infos = versions(history["ws"], "assay")
    assert [(v["version"], v["operation"], v["molecules"]) for v in infos] == [
        (1, "ingest", 3),
        (2, "ingest", 4),
    ]
    lin1, lin2 = infos[0]["lineage"], infos[1]["lineage"]
    assert lin1["source"] == {"name": "v1.csv", "sha256": history["r1"]["sha256"]}
    assert lin2["source"] == {"name": "v2.csv", "sha256": history["r2"]["sha256"]}
    assert (lin1["rows_in"], lin1["quarantined"], lin1["reasons"]) == (9, 5, V1_REASONS)
    assert (lin2["added"], lin2["updated"], lin2["target"], lin2["units"]) == (1, 1, "pIC50", "log(M)")
    assert lin1["ingest_id"] != lin2["ingest_id"]


def test_list_json(history):
    data = molops("data", "list", "--workspace", history["ws"], "--json").json()
    assert [
        {k: d[k] for k in ("name", "latest_version", "molecules", "targets")} for d in data["datasets"]
    ] == [{"name": "assay", "latest_version": 2, "molecules": 4, "targets": ["pIC50"]}]


def _head_by_key(show: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["inchikey"]: row for row in show["head"]}


def test_show_time_travel(history):
    ws = history["ws"]
    old = molops("data", "show", "assay", "--version", "1", "--workspace", ws, "--json").json()
    new = molops("data", "show", "assay", "--workspace", ws, "--json").json()
    assert (old["version"], old["molecules"], new["version"], new["molecules"]) == (1, 3, 2, 4)
    o, n = _head_by_key(old), _head_by_key(new)
    assert set(o) == {ETHANOL, ETHYLAMINE, BENZENE}
    assert set(n) == {ETHANOL, ETHYLAMINE, BENZENE, BUTANE}
    assert o[ETHANOL]["pIC50"] == pytest.approx(1.1)
    assert o[ETHANOL]["pIC50_n"] == 2
    assert o[ETHANOL]["pIC50_replicates"] == [1.0, 1.2]
    assert o[ETHANOL]["pIC50_std"] == pytest.approx(0.1414213562373095)
    assert (n[ETHANOL]["pIC50"], n[ETHANOL]["pIC50_n"], n[ETHANOL]["pIC50_std"]) == (1.5, 1, None)
    assert n[ETHANOL]["pIC50_replicates"] == [1.5]
    assert o[ETHYLAMINE] == n[ETHYLAMINE]  # untouched by version 2
    assert old["lineage"]["version"] == 1 and new["lineage"]["version"] == 2
    stats = {s["target"]: s for s in new["targets"]}
    assert stats["pIC50"]["count"] == 4
    assert stats["pIC50"]["mean"] == pytest.approx((1.5 + 2.0 + 3.0 + 4.0) / 4)
    assert (stats["pIC50"]["min"], stats["pIC50"]["max"]) == (1.5, 4.0)


def test_show_limit(history):
    data = molops("data", "show", "assay", "--limit", "2", "--workspace", history["ws"], "--json").json()
    assert [r["smiles"] for r in data["head"]] == ["CCO", "CCN"]


def test_diff_lists_exactly_what_changed(history):
    d = molops("data", "diff", "assay", "1", "2", "--workspace", history["ws"], "--json").json()
    assert (d["dataset"], d["from_version"], d["to_version"]) == ("assay", 1, 2)
    assert d["counts"] == {"added": 1, "removed": 0, "changed": 1}
    assert d["added"] == [
        {
            "inchikey": BUTANE,
            "smiles": "CCCC",
            "pIC50": 4.0,
            "pIC50_std": None,
            "pIC50_n": 1,
            "pIC50_disagree": False,
        }
    ]
    assert d["removed"] == []
    [change] = d["changed"]
    assert (change["inchikey"], change["smiles"]) == (ETHANOL, "CCO")
    assert set(change["changes"]) == {"pIC50", "pIC50_std", "pIC50_n"}
    assert change["changes"]["pIC50"] == [pytest.approx(1.1), 1.5]
    assert change["changes"]["pIC50_std"] == [pytest.approx(0.1414213562373095), None]
    assert change["changes"]["pIC50_n"] == [2, 1]
    same = molops("data", "diff", "assay", "2", "2", "--workspace", history["ws"], "--json").json()
    assert same["counts"] == {"added": 0, "removed": 0, "changed": 0}


def test_diff_human_output(history):
    res = molops("data", "diff", "assay", "1", "2", "--workspace", history["ws"]).ok()
    assert "1 added, 0 removed, 1 changed" in res.stdout


EXPECTED_V2 = [  # smiles, inchikey, value, std, n, replicates, first_version, updated_version, source
    ("CCO", ETHANOL, 1.5, None, 1, [1.5], 1, 2, "v2.csv"),
    ("CCN", ETHYLAMINE, 2.0, None, 1, [2.0], 1, 1, "v1.csv"),
    ("c1ccccc1", BENZENE, 3.0, None, 1, [3.0], 1, 1, "v1.csv"),
    ("CCCC", BUTANE, 4.0, None, 1, [4.0], 2, 2, "v2.csv"),
]


def test_export_csv(history, tmp_path):
    out = tmp_path / "out" / "assay.csv"
    data = molops("data", "export", "assay", out, "--workspace", history["ws"], "--json").json()
    assert data == {"dataset": "assay", "version": 2, "path": str(out), "molecules": 4}
    rows = read_csv(out)
    assert list(rows[0]) == EXPORT_COLUMNS
    got = [
        (
            r["smiles"],
            r["inchikey"],
            float(r["pIC50"]),
            float(r["pIC50_std"]) if r["pIC50_std"] else None,
            int(r["pIC50_n"]),
            json.loads(r["pIC50_replicates"]),
            int(r["first_version"]),
            int(r["updated_version"]),
            r["source"],
        )
        for r in rows
    ]
    assert got == EXPECTED_V2
    assert len({r["inchikey"] for r in rows}) == len(rows)


def test_export_parquet_and_old_version(history, tmp_path):
    out = tmp_path / "assay.parquet"
    data = molops("data", "export", "assay", out, "--workspace", history["ws"], "--json").json()
    assert (data["version"], data["molecules"]) == (2, 4)
    frame = pd.read_parquet(out)
    assert list(frame.columns) == EXPORT_COLUMNS
    got = [
        (
            r.smiles,
            r.inchikey,
            r.pIC50,
            None if pd.isna(r.pIC50_std) else r.pIC50_std,
            r.pIC50_n,
            list(r.pIC50_replicates),
            r.first_version,
            r.updated_version,
            r.source,
        )
        for r in frame.itertuples()
    ]
    assert got == EXPECTED_V2
    old = tmp_path / "v1.parquet"
    data = molops(
        "data", "export", "assay", old, "--version", "1", "--workspace", history["ws"], "--json"
    ).json()
    assert (data["version"], data["molecules"]) == (1, 3)
    v1 = pd.read_parquet(old)
    assert list(v1["smiles"]) == ["CCO", "CCN", "c1ccccc1"]
    assert list(v1["pIC50_n"]) == [2, 1, 1]
    assert [list(r) for r in v1["pIC50_replicates"]] == [[1.0, 1.2], [2.0], [3.0]]


def test_export_human_message_goes_to_stderr(history, tmp_path):
    out = tmp_path / "a.csv"
    res = molops("data", "export", "assay", out, "--workspace", history["ws"]).ok()
    assert res.stdout == ""
    assert "wrote 4 molecules of assay version 2" in " ".join(res.stderr.split())


def test_export_to_unknown_suffix_is_a_one_line_error(history, tmp_path):
    res = molops("data", "export", "assay", tmp_path / "a.xlsx", "--workspace", history["ws"])
    assert_one_line_error(res, "a.xlsx", ".csv or .parquet", code=2)


def test_quarantine_json(history, tmp_path):
    ws = history["ws"]
    q = molops("data", "quarantine", "assay", "--workspace", ws, "--json").json()
    assert q["quarantined"] == 6
    assert q["reasons"] == {**V1_REASONS, "unparsable_structure": 2}
    got = [(r["dataset_version"], r["source"], r["row"], r["reason"], r["target"]) for r in q["rows"]]
    assert got == [
        (1, "v1.csv", 5, "unparsable_structure", "pIC50"),
        (1, "v1.csv", 6, "missing_target", "pIC50"),
        (1, "v1.csv", 7, "inorganic", "pIC50"),
        (1, "v1.csv", 8, "censored_target", "pIC50"),
        (1, "v1.csv", 9, "empty_structure", "pIC50"),
        (2, "v2.csv", 4, "unparsable_structure", "pIC50"),
    ]
    assert json.loads(q["rows"][0]["raw"]) == {"id": "5", "smiles": "not_a_smiles", "pIC50": "5"}
    assert json.loads(q["rows"][3]["raw"]) == {"id": "8", "smiles": "CC(=O)O", "pIC50": ">3"}
    assert all(r["detail"] for r in q["rows"])
    only2 = molops("data", "quarantine", "assay", "--version", "2", "--workspace", ws, "--json").json()
    assert (only2["version"], only2["quarantined"]) == (2, 1)
    assert json.loads(only2["rows"][0]["raw"]) == {"smiles": "C1CC", "pIC50": "1.0"}
    out = tmp_path / "q.csv"
    molops("data", "quarantine", "assay", "--out", out, "--workspace", ws, "--json").json()
    assert [r["reason"] for r in read_csv(out)] == [r[3] for r in got]


def test_unknown_version_is_a_one_line_error(history):
    ws = history["ws"]
    for argv in (
        ["show", "assay", "--version", "7"],
        ["diff", "assay", "1", "7"],
        ["export", "assay", "x.csv", "--version", "7"],
    ):
        res = molops("data", *argv, "--workspace", ws)
        assert_one_line_error(res, "no version 7", "1..2", code=2)


def test_unknown_dataset_is_a_one_line_error(history):
    res = molops("data", "versions", "nosuch", "--workspace", history["ws"])
    assert_one_line_error(res, "no dataset 'nosuch'", "datasets: assay", code=2)


@pytest.mark.slow
def test_rollback(history, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(history["ws"], ws)
    r = molops("data", "rollback", "assay", "--to-version", "1", "--workspace", ws, "--json").json()
    assert r == {"dataset": "assay", "version": 3, "rolled_back_to": 1, "molecules": 3, "unchanged": False}
    infos = versions(ws, "assay")
    assert [(v["version"], v["operation"]) for v in infos] == [(1, "ingest"), (2, "ingest"), (3, "rollback")]
    lin = infos[2]["lineage"]
    assert (lin["operation"], lin["rollback_to"], lin["rolled_back_from"]) == ("rollback", 1, 2)
    exports = {}
    for v in (1, 3):
        out = tmp_path / f"v{v}.csv"
        molops("data", "export", "assay", out, "--version", v, "--workspace", ws).ok()
        exports[v] = out.read_bytes()
    assert exports[3] == exports[1]
    d = molops("data", "diff", "assay", "1", "3", "--workspace", ws, "--json").json()
    assert d["counts"] == {"added": 0, "removed": 0, "changed": 0}
    d = molops("data", "diff", "assay", "2", "3", "--workspace", ws, "--json").json()
    assert [r["inchikey"] for r in d["removed"]] == [BUTANE]
    assert [c["inchikey"] for c in d["changed"]] == [ETHANOL]
    # rolling back again to the same content changes nothing
    again = molops("data", "rollback", "assay", "--to-version", "1", "--workspace", ws, "--json").json()
    assert (again["version"], again["unchanged"]) == (3, True)
    assert version_numbers(ws, "assay") == [1, 2, 3]
    # history is kept: version 2 still reads as it was, and the quarantine is untouched
    show2 = molops("data", "show", "assay", "--version", "2", "--workspace", ws, "--json").json()
    assert show2["molecules"] == 4
    q = molops("data", "quarantine", "assay", "--workspace", ws, "--json").json()
    assert q["quarantined"] == 6
    bad = molops("data", "rollback", "assay", "--to-version", "9", "--workspace", ws)
    assert_one_line_error(bad, "no version 9", code=2)
    assert version_numbers(ws, "assay") == [1, 2, 3]
