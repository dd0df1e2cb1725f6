"""Text the readers used to get wrong, through the real CLI: an SDF whose ``$$$$`` separators carry
trailing text (CRLF, no final separator) loses no record, and a SMILES with whitespace inside it is
an error for that molecule in ``molops predict``, never its first part."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._cli import molops, read_csv
from .conftest import NAME

pytestmark = pytest.mark.integration

ODD_SDF = Path(__file__).resolve().parents[1] / "data" / "odd_separators.sdf"


def test_ingest_of_an_sdf_with_odd_separators_keeps_every_record(workspace):
    report = molops(
        "data", "ingest", ODD_SDF, "-d", "odd", "--target-col", "SOL", "-w", workspace, "--json"
    ).json()
    assert (report["rows_in"], report["accepted"], report["quarantined"]) == (5, 4, 1)
    assert report["rows_in"] == report["accepted"] + report["quarantined"] + report["merged_duplicates"]
    assert report["reasons"] == {"missing_target": 1}
    out = workspace.parent / "odd.csv"
    molops("data", "export", "odd", out, "-w", workspace).ok()
    values = {r["smiles"]: float(r["SOL"]) for r in read_csv(out)}
    assert values == {"CCO": -0.77, "c1ccccc1": -1.64, "CCN": 0.5, "Oc1ccccc1": -0.04}


@pytest.mark.slow
def test_predict_refuses_whitespace_inside_a_smiles(trained, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text('Smiles,id\n CCO ,a\n"CCO\nCCN",b\nCCO ethanol,c\nCCO,d\n', encoding="utf-8")
    out = tmp_path / "out.csv"
    summary = molops("predict", "-m", NAME, src, out, "-w", trained.ws, "--json").json()
    assert (summary["n"], summary["predicted"], summary["errors"]) == (4, 2, 2)
    rows = read_csv(out)
    assert [r["id"] for r in rows] == ["a", "b", "c", "d"]
    assert [r["canonical_smiles"] for r in rows] == ["CCO", "", "", "CCO"]
    for row in rows[1:3]:
        assert row["error"].startswith("unparsable_structure: ") and "contains whitespace" in row["error"]
        assert row["mean"] == ""
    assert rows[0]["mean"] == rows[3]["mean"] != ""
