"""A column named twice: refused when molops reads it (which one was meant is a guess), reported
when it does not; an SD property given twice with different values quarantines its record."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from molops.data.headers import DuplicateColumnError, unique_names
from molops.data.readers import RecordReader
from molops.data.sources import Source, detect_format

from ._sdf_text import sdf_text


def _reader(path, smiles_col=None, target_col="y", all_columns=False) -> tuple[RecordReader, list]:
    with Source(path) as source:
        reader = RecordReader(source, detect_format(path), smiles_col, target_col, all_columns=all_columns)
        return reader, list(reader)


def _refusal(path, **kw) -> str:
    with pytest.raises(DuplicateColumnError) as info:
        _reader(path, **kw)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message


@pytest.mark.parametrize(
    ("header", "kw", "name", "where"),
    [
        ("smiles,y,note,y", {}, "y", "twice (columns 2 and 4)"),
        ("smiles,y, smiles ", {}, "smiles", "twice (columns 1 and 3)"),  # the same once stripped
        ("SMILES,y,SMILES", {}, "SMILES", "twice (columns 1 and 3)"),  # found in any case
        ("mol,y,mol,mol", {"smiles_col": "mol"}, "mol", "3 times (columns 1, 3 and 4)"),
        ("smiles,cost,cost", {"target_col": "cost"}, "cost", "twice (columns 2 and 3)"),
    ],
)
def test_a_used_column_named_twice_is_refused(write, header, kw, name, where) -> None:
    width = header.count(",") + 1
    path = write("data.csv", f"{header}\n" + ",".join(["CCO"] + ["1"] * (width - 1)) + "\n")
    message = _refusal(path, **kw)
    assert f"the column {name!r} appears {where}; rename one so molops knows which to read" in message


def test_a_used_column_named_twice_in_a_tsv_or_parquet_is_refused(write, tmp_path) -> None:
    assert "'y' appears twice" in _refusal(write("data.tsv", "smiles\ty\ty\nCCO\t1\t2\n"))
    table = pa.Table.from_arrays([pa.array(["CCO"]), pa.array([1.0]), pa.array([2.0])], ["smiles", "y", "y"])
    pq.write_table(table, tmp_path / "data.parquet")
    assert "(columns 2 and 3)" in _refusal(tmp_path / "data.parquet")


def test_a_column_named_twice_but_not_read_is_read_and_reported(write) -> None:
    path = write("data.csv", "smiles,note,y,note\nCCO,a,1,b\nCCN,c,2,d\n")
    reader, chunks = _reader(path)
    assert reader.warnings == [
        f"{path}: the column 'note' appears twice (columns 2 and 4); molops does not read it"
    ]
    assert [s for c in chunks for s in c.structures] == ["CCO", "CCN"]
    assert [t for c in chunks for t in c.targets] == ["1", "2"]
    # a record shown in quarantine keeps both fields
    assert chunks[0].record(0) == {"smiles": "CCO", "note": "a", "y": "1", "note.1": "b"}


def test_outputs_that_keep_every_column_keep_both_of_a_pair(write, tmp_path) -> None:
    path = write("pool.csv", "smiles,note,note,note.1\nCCO,a,b,c\n")
    reader, chunks = _reader(path, target_col=None, all_columns=True)
    assert reader.columns == ["smiles", "note", "note.2", "note.1"]  # note.1 was taken
    assert chunks[0].inputs == [{"smiles": "CCO", "note": "a", "note.2": "b", "note.1": "c"}]
    assert reader.warnings == [
        f"{path}: the column 'note' appears twice (columns 2 and 3); kept as 'note', 'note.2'"
    ]
    table = pa.Table.from_arrays([pa.array(["CCO"]), pa.array([1]), pa.array(["x"])], ["smiles", "id", "id"])
    pq.write_table(table, tmp_path / "pool.parquet")
    reader, chunks = _reader(tmp_path / "pool.parquet", target_col=None, all_columns=True)
    assert chunks[0].inputs == [{"smiles": "CCO", "id": 1, "id.1": "x"}]
    assert reader.column_types == {"smiles": pa.string(), "id": pa.int64(), "id.1": pa.string()}


def test_unique_names() -> None:
    assert unique_names(["a", "b"]) == ["a", "b"]
    assert unique_names(["a", "a", "a"]) == ["a", "a.1", "a.2"]
    assert unique_names(["a", "a.1", "a"]) == ["a", "a.1", "a.2"]
    assert unique_names(["a", "a", "a.1"]) == ["a", "a.2", "a.1"]


def _twice(text: str, name: str, first: str, second: str) -> str:
    """*text* (one SDF record by RDKit, property *name* = *first*) with *name* given again."""
    item = f">  <{name}>  (1) \n{first}\n\n"
    assert item in text, text
    return text.replace(item, item + f">  <{name}>  (1) \n{second}\n\n")


def test_an_sd_property_read_twice_with_different_values_quarantines_the_record(write, ws) -> None:
    first = sdf_text([("CCO", {"y": "1", "note": "a"})])
    text = _twice(first, "y", "1", "7") + sdf_text([("CCN", {"y": "2", "note": "b"})])
    text += _twice(sdf_text([("CCC", {"y": "3", "note": "c"})]), "y", "3", "3")  # same value: fine
    path = write("data.sdf", text)
    _, chunks = _reader(path)
    assert chunks[0].read_errors == {
        0: (
            "ambiguous_property",
            "the SD property 'y' is given 2 times with different values ('1', '7'); expected it once",
        )
    }
    report = ws.dataset("x").ingest(path, smiles_col=None, target_col="y", workers=1)
    assert (report.rows_in, report.accepted, report.reasons) == (3, 2, {"ambiguous_property": 1})
    quarantined = ws.dataset("x").quarantine()
    assert quarantined["raw"].tolist()[0].count(">  <y>") == 2  # the raw record, both values


def test_an_sd_property_not_read_given_twice_is_reported(write) -> None:
    rows = [
        _twice(sdf_text([(s, {"y": "1", "note": n})]), "note", n, "z")
        for s, n in (("CCO", "a"), ("CCN", "b"))
    ]
    path = write("data.sdf", "".join(rows))
    reader, chunks = _reader(path)
    assert chunks[0].read_errors == {}
    assert reader.warnings == [
        f"{path}: 2 records give the SD property 'note' more than once with different values; "
        "molops does not read it"
    ]
    # an output that keeps every property reads it, so there the record is ambiguous
    reader, chunks = _reader(path, target_col=None, all_columns=True)
    assert [reason for reason, _ in chunks[0].read_errors.values()] == ["ambiguous_property"] * 2


def test_the_ingest_report_carries_the_warnings(write, ws) -> None:
    path = write("data.csv", "smiles,y,note,note\nCCO,1,a,b\n")
    report = ws.dataset("x").ingest(path, smiles_col=None, target_col="y", workers=1)
    assert report.accepted == 1
    assert report.warnings == [
        f"{path}: the column 'note' appears twice (columns 3 and 4); molops does not read it"
    ]
    frame = pd.DataFrame(ws.dataset("x").read())
    assert frame["y"].tolist() == [1.0]
