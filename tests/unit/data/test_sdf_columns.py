"""An SDF's columns are every property any of its records carries, not only the first record's."""

from __future__ import annotations

import gzip
import io

import pytest

from molops.data.readers import RecordReader
from molops.data.sdf import property_names
from molops.data.sources import Source

from ._sdf_text import sdf_text as _sdf

ROWS = [
    ("CCO", {"id": "a", "SOL": "1"}),
    ("CCC", {"id": "b", "vendor": "x"}),  # vendor first appears here
    ("CCCC", {"note": "late", "id": "c", "SOL": "3"}),  # note only here, and listed first
]


def test_property_names_are_the_union_in_order_of_first_appearance() -> None:
    assert property_names(io.StringIO(_sdf(ROWS))) == ["id", "SOL", "vendor", "note"]
    assert property_names(io.StringIO("")) == []


@pytest.mark.parametrize("name", ["later.sdf", "later.sdf.gz"])
def test_a_property_of_later_records_is_a_column(write, name: str) -> None:
    text = _sdf(ROWS).encode()
    path = write(name, gzip.compress(text) if name.endswith(".gz") else text)
    with Source(path) as source:
        reader = RecordReader(source, "sdf", None, None, chunk_rows=2, all_columns=True)
        assert reader.columns == ["id", "SOL", "vendor", "note"]
        inputs = [row for chunk in reader for row in chunk.inputs]
    assert [r.get("vendor") for r in inputs] == [None, "x", None]
    assert [r.get("note") for r in inputs] == [None, None, "late"]


def test_without_all_columns_the_file_is_read_once(write) -> None:
    path = write("later.sdf", _sdf(ROWS))
    with Source(path) as source:
        reader = RecordReader(source, "sdf", None, "SOL")
        assert reader.columns == ["id", "SOL"]  # the first record's: no output keeps them
        assert [t for chunk in reader for t in chunk.targets] == ["1", None, "3"]
