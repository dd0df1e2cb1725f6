"""Ingest of text that readers used to get wrong: SDF separators with trailing text, SMILES cells
with whitespace. Every record is accounted for: ``rows_in == accepted + quarantined``."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data"


def test_sdf_with_odd_separators_ingests_every_record_with_its_own_values(ws):
    ds = ws.dataset("odd")
    report = ds.ingest(DATA / "odd_separators.sdf", smiles_col=None, target_col="SOL", workers=1)
    assert (report.rows_in, report.accepted, report.quarantined, report.merged_duplicates) == (5, 4, 1, 0)
    assert report.rows_in == report.accepted + report.quarantined
    assert report.reasons == {"missing_target": 1}
    values = dict(ds.read()[["smiles", "SOL"]].itertuples(index=False))
    assert values == {"CCO": -0.77, "c1ccccc1": -1.64, "CCN": 0.5, "Oc1ccccc1": -0.04}
    quarantined = ds.quarantine()
    assert list(quarantined["row"]) == [3] and "acetic acid" in quarantined["raw"].iloc[0]


def test_csv_smiles_cells_are_stripped_and_inner_whitespace_is_quarantined(ws, write):
    path = write("a.csv", 'smiles,y\n CCO ,1\n"CCN\nCCC",2\nc1ccccc1 benzene,3\n\tCCCl ,4\n')
    ds = ws.dataset("cells")
    report = ds.ingest(path, smiles_col="smiles", target_col="y", workers=1)
    assert (report.rows_in, report.accepted, report.quarantined) == (4, 2, 2)
    assert report.reasons == {"unparsable_structure": 2}
    assert sorted(ds.read()["smiles"]) == ["CCCl", "CCO"]
    quarantined = ds.quarantine()
    assert list(quarantined["row"]) == [2, 3]
    assert all("contains whitespace" in detail for detail in quarantined["detail"])
