"""Pool identity tables: a SMILES with whitespace inside it has no identity (never its first part),
and a table written under older standardisation rules is not read again."""

from __future__ import annotations

import pyarrow.parquet as pq

from molops.data import pool


def _tables(ws) -> list:
    return sorted((ws.root / "pools").glob("*/identity.parquet"))


def test_a_pool_smiles_with_whitespace_inside_it_has_no_identity(ws, write):
    path = write("pool.csv", 'id,smiles\n1, CCO \n2,"CCO\nCCN"\n3,CCO ethanol\n4,c1ccccc1\n')
    report = ws.features.build_pool(path, "graph", workers=1)  # the identity table alone
    assert report.no_identity == 2
    (table,) = _tables(ws)
    rows = pq.read_table(table).to_pylist()
    assert [r["smiles"] for r in rows] == ["CCO", None, None, "c1ccccc1"]
    assert [r["error"] is None for r in rows] == [True, False, False, True]
    assert all(
        r["error"].startswith("unparsable_structure: ") and "contains whitespace" in r["error"]
        for r in rows[1:3]
    )


def test_an_identity_table_of_older_rules_is_not_read(ws, write, monkeypatch):
    path = write("pool.csv", "smiles\nCCO\n")
    current = pool.IDENTITY_RULES
    monkeypatch.setattr(pool, "IDENTITY_RULES", current - 1)
    ws.features.build_pool(path, "graph", workers=1)
    monkeypatch.setattr(pool, "IDENTITY_RULES", current)
    ws.features.build_pool(path, "graph", workers=1)
    assert len(_tables(ws)) == 2  # standardised again under the current rules, beside the old table
