"""CXSMILES cells (``C1CC1 |$R;;$|``) in ingested tables and pools are read with their extension;
a ``.smi`` line keeps the extension with the SMILES and takes the text after it as the name."""

from __future__ import annotations

import pyarrow.parquet as pq

from molops.chem.standardize import Standardizer
from molops.data.readers import RecordReader
from molops.data.sources import Source

CYCLOPROPANE = Standardizer().standardize("C1CC1")
BUTANOL = Standardizer().standardize("C[C@H](O)CC")


def test_a_csv_of_cxsmiles_is_ingested_and_other_whitespace_quarantined(ws, write) -> None:
    path = write(
        "vendor.csv",
        'smiles,y\nC1CC1 |$R;;$|,1\n"C[C@H](O)CC |&1:1,$;;;;L$|",2\nCCO CCN,3\nC1CC1 |foo bar|,4\n',
    )
    report = ws.dataset("x").ingest(path, smiles_col=None, target_col="y", workers=1)
    assert (report.rows_in, report.accepted, report.reasons) == (4, 2, {"unparsable_structure": 2})
    frame = ws.dataset("x").read().sort_values("y")
    assert frame["inchikey"].tolist() == [CYCLOPROPANE.inchikey, BUTANOL.inchikey]
    assert frame["smiles"].tolist() == [CYCLOPROPANE.smiles, BUTANOL.smiles]
    details = ws.dataset("x").quarantine().sort_values("row")["detail"].tolist()
    assert "contains whitespace" in details[0]
    assert "RDKit cannot read the CXSMILES extension '|foo bar|'" in details[1]


def test_a_smi_line_keeps_the_extension_with_the_smiles(write) -> None:
    path = write(
        "pool.smi",
        "smiles name\nC1CC1 |$R;;$| cyclo propane\nC1CC1 |$R;;$|\nCCO ethanol\nCCN |x|y\n"
        "CCC\t|$;;$|\tpropane\n",
    )
    with Source(path) as source:
        reader = RecordReader(source, "smi", None, None, all_columns=True)
        inputs = [row for chunk in reader for row in chunk.inputs]
    assert inputs == [
        {"smiles": "C1CC1 |$R;;$|", "name": "cyclo propane"},
        {"smiles": "C1CC1 |$R;;$|", "name": None},
        {"smiles": "CCO", "name": "ethanol"},
        {"smiles": "CCN", "name": "|x|y"},  # no space after the closing bar: a name, as before
        {"smiles": "CCC |$;;$|", "name": "propane"},
    ]


def test_a_pool_of_cxsmiles_has_their_identities(ws, write) -> None:
    path = write("pool.smi", "C1CC1 |$R;;$| a\nC1CC1 |$R;;| b\nCCO CCN\n")  # CCN: a name
    report = ws.features.build_pool(path, "graph", workers=1)  # the identity table alone
    assert report.no_identity == 1
    (table,) = sorted((ws.root / "pools").glob("*/identity.parquet"))
    rows = pq.read_table(table).to_pylist()
    assert [(r["smiles"], r["inchikey"]) for r in rows[:1]] == [(CYCLOPROPANE.smiles, CYCLOPROPANE.inchikey)]
    assert "CXSMILES extension '|$R;;|'" in rows[1]["error"]
    assert rows[2]["smiles"] == "CCO"
