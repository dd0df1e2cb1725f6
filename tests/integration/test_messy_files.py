"""Files as ELNs, Excel, ChemDraw and pandas export them, through the real CLI: every record is
accounted for (``rows_in == accepted + quarantined + merged_duplicates``) with the right reasons,
and a file molops cannot read fails with one ``error:`` line that says what the file looks like."""

from __future__ import annotations

import codecs
import io
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rdkit import Chem

from ._cli import assert_one_line_error, molops, read_csv

pytestmark = pytest.mark.integration

MINUS = "\u2212"


def _ingest(ws: Path, path: Path, dataset: str, *extra: str) -> list[Any]:
    return ["data", "ingest", path, "-d", dataset, "--target-col", "y", "-w", ws, *extra]


def _report(ws: Path, path: Path, dataset: str) -> dict[str, Any]:
    report = molops(*_ingest(ws, path, dataset), "--json").json()
    assert report["rows_in"] == report["accepted"] + report["quarantined"] + report["merged_duplicates"]
    return report


def _values(ws: Path, dataset: str) -> dict[str, float]:
    out = ws.parent / f"{dataset}.csv"
    molops("data", "export", dataset, out, "-w", ws).ok()
    return {r["smiles"]: float(r["y"]) for r in read_csv(out)}


def _record(smiles: str, y: str, *, broken: bool = False) -> str:
    block = Chem.MolToMolBlock(Chem.MolFromSmiles(smiles))
    if broken:  # an atom line ChemDraw never wrote: RDKit cannot parse this record's mol block
        lines = block.split("\n")
        lines[4] = "    garbage"
        block = "\n".join(lines)
    return f"{block}>  <y>\n{y}\n\n$$$$\n"


def test_excel_unicode_text_and_a_utf16_sdf_keep_every_record(workspace):
    tsv = workspace.parent / "export.txt.tsv"
    body = "Compound\tSMILES\ty\tUnit\r\nA\tCCO\t1.5\tµM\r\nB\tCCN\t2\t°C\r\nC\tc1ccccc1\tn/a\tµM\r\n"
    tsv.write_bytes(codecs.BOM_UTF16_LE + body.encode("utf-16-le"))
    report = _report(workspace, tsv, "unicode")
    assert (report["rows_in"], report["accepted"], report["reasons"]) == (3, 2, {"missing_target": 1})
    assert _values(workspace, "unicode") == {"CCO": 1.5, "CCN": 2.0}

    # ChemDraw-style SDF: CRLF, a record whose mol block fails in the middle, no final newline
    text = (_record("CCO", "1") + _record("CCN", "2", broken=True) + _record("CCC", "3")).rstrip("\n")
    sdf = workspace.parent / "chemdraw.sdf"
    sdf.write_bytes(codecs.BOM_UTF16_LE + text.replace("\n", "\r\n").encode("utf-16-le"))
    report = _report(workspace, sdf, "sdf")
    assert (report["rows_in"], report["accepted"], report["reasons"]) == (3, 2, {"unparsable_structure": 1})


def test_targets_as_people_type_them(workspace):
    path = workspace.parent / "eln.csv"
    rows = [
        ("C", f"{MINUS}7.2"),
        ("CC", f"1e{MINUS}3"),
        ("CCC", "<10"),
        ("CCCC", "5.2 uM"),
        ("CCCCC", " 7.1 "),
    ]
    path.write_text("smiles,y\n" + "".join(f"{s},{v}\n" for s, v in rows), encoding="utf-8")
    report = _report(workspace, path, "typed")
    assert report["reasons"] == {"censored_target": 1, "non_numeric_target": 1}
    assert _values(workspace, "typed") == {"C": -7.2, "CC": 1e-3, "CCCCC": 7.1}


def _parquet_named_csv(d: Path) -> tuple[Path, list[str]]:
    out = io.BytesIO()
    pd.DataFrame({"smiles": ["CCO"], "y": [1.0]}).to_parquet(out)
    path = d / "table.csv"
    path.write_bytes(out.getvalue())
    return path, ["table.csv", "Parquet", "--format parquet"]


def _semicolons(d: Path) -> tuple[Path, list[str]]:
    path = d / "eu.csv"
    path.write_text("smiles;y\r\nCCO;-7,25\r\n", encoding="utf-8-sig")
    return path, ["eu.csv", "semicolon-delimited", "comma"]


def _title_lines(d: Path) -> tuple[Path, list[str]]:
    path = d / "eln.csv"
    path.write_text("# Exported from ELN\n# assay 12\nsmiles,y\nCCO,1\n", encoding="utf-8")
    return path, ["eln.csv", "line 3", "first line"]


@pytest.mark.parametrize("case", [_parquet_named_csv, _semicolons, _title_lines], ids=lambda f: f.__name__)
def test_files_molops_cannot_read_say_what_they_look_like(workspace, case):
    path, fragments = case(workspace.parent)
    assert_one_line_error(molops(*_ingest(workspace, path, "refused")), *fragments, code=2)
    assert not (workspace / "datasets" / "refused").exists()


def test_an_unclosed_quote_loses_no_later_record(workspace):
    path = workspace.parent / "notes.csv"
    path.write_text('smiles,y,note\nCCO,1,"approx\nCCN,2,ok\nCCC,3,ok\n', encoding="utf-8")
    report = _report(workspace, path, "quotes")
    assert (report["rows_in"], report["accepted"], report["reasons"]) == (3, 2, {"malformed_row": 1})
    assert _values(workspace, "quotes") == {"CCN": 2.0, "CCC": 3.0}


def test_a_marvin_cxsmiles_export_is_read_with_its_extensions(workspace):
    """ChemAxon/Marvin and vendors write a SMILES, a space and a |...| extension (atom labels,
    stereo groups): the molecule is the SMILES's; any other space is still refused."""
    path = workspace.parent / "marvin.csv"
    path.write_text(
        'smiles,y\nC1CC1 |$R;;$|,1\n"C[C@H](O)CC |&1:1,$;;;;L$|",2\nCCO CCN,3\nC1CC1 |foo bar|,4\nCCO,5\n',
        encoding="utf-8",
    )
    report = _report(workspace, path, "marvin")
    assert (report["rows_in"], report["accepted"], report["reasons"]) == (5, 3, {"unparsable_structure": 2})
    assert _values(workspace, "marvin") == {"C1CC1": 1.0, "CC[C@H](C)O": 2.0, "CCO": 5.0}
    rejected = molops("data", "quarantine", "marvin", "-w", workspace, "--json").json()
    details = {r["row"]: r["detail"] for r in rejected["rows"]}
    assert "contains whitespace" in details[3] and "CXSMILES extension '|foo bar|'" in details[4]


def test_a_column_named_twice_that_is_not_read_is_reported(workspace):
    path = workspace.parent / "twice.csv"
    path.write_text("smiles,note,y,note\nCCO,a,1,b\nCCN,c,2,d\n", encoding="utf-8")
    report = _report(workspace, path, "twice")
    assert report["accepted"] == 2
    assert report["warnings"] == [
        f"{path}: the column 'note' appears twice (columns 2 and 4); molops does not read it"
    ]
