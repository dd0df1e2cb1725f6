"""Tables as spreadsheets and other tools write them, which molops cannot read as they are: the
error says what the file looks like and what was expected, in one sentence."""

from __future__ import annotations

import io
import zipfile

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from molops.data.readers import RecordReader
from molops.data.sources import Source, detect_format
from molops.errors import InputFileError


def _open(path, smiles_col=None, target_col="y", fmt=None, chunk_rows=5000):
    with Source(path) as source:
        return list(RecordReader(source, fmt or detect_format(path), smiles_col, target_col, chunk_rows))


def _error(path, **kw) -> str:
    with pytest.raises(InputFileError) as info:
        _open(path, **kw)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def _parquet_bytes() -> bytes:
    out = io.BytesIO()
    pd.DataFrame({"smiles": ["CCO"], "y": [1.0]}).to_parquet(out)
    return out.getvalue()


def _xlsx_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
    return out.getvalue()


@pytest.mark.parametrize("name", ["a.csv", "a.tsv", "a.sdf", "a.smi"])
def test_parquet_content_under_a_text_name_says_so(write, name):
    message = _error(write(name, _parquet_bytes()), target_col=None if name.endswith("smi") else "y")
    assert "Parquet" in message and "--format parquet" in message


def test_a_workbook_saved_as_csv_says_so(write):
    message = _error(write("book.csv", _xlsx_bytes()))
    assert "zip archive" in message and "Excel" in message and "export" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("smiles;y\nCCO;-7,25\n", "semicolon-delimited"),
        ("smiles|y\nCCO|1\n", "'|'-delimited"),
        ("smiles\ty\nCCO\t1\n", "tab-delimited"),
    ],
)
def test_a_csv_with_another_delimiter_says_so(write, text, fragment):
    message = _error(write("a.csv", text))
    assert fragment in message and "comma" in message


def test_a_tsv_with_commas_says_so(write):
    message = _error(write("a.tsv", "smiles,y\nCCO,1\n"))
    assert "comma-delimited" in message and "tab" in message


@pytest.mark.parametrize(
    "first", ["# Exported from ELN 2026-12-01", "sep=;", "Solubility assay, plate 3", "Title line"]
)
def test_a_title_line_above_the_header_says_so(write, first):
    message = _error(write("a.csv", f"{first}\nsmiles,y\nCCO,1\n"))
    assert "the column names" in message and "first line" in message and "smiles" in message


def test_a_wrong_column_name_still_gets_the_plain_message(write):
    message = _error(write("a.csv", "smiles,value\nCCO,1\n"))
    assert "first line" not in message and "delimited" not in message and "'value'" in message


def test_blank_lines_before_the_header_are_skipped(write):
    chunks = _open(write("a.csv", "\r\n\r\nsmiles,y\r\nCCO,1\r\n"))
    assert [c.structures for c in chunks] == [["CCO"]]


@pytest.mark.parametrize("text", ["\n\n  \n", "\r\n", "   "])
def test_a_file_of_blank_lines_is_empty(write, text):
    assert "the file is empty" in _error(write("a.csv", text))


# -- a quote opened and never closed ------------------------------------------------------------
def _rows(path, **kw):
    """(row, structure, target, read-error reason or None) of every record."""
    return [
        (c.rows[i], c.structures[i], c.targets[i], (c.read_errors.get(i) or (None,))[0])
        for c in _open(path, **kw)
        for i in range(len(c))
    ]


@pytest.mark.parametrize(
    "text",
    [
        'smiles,note,y\nCCO,"approx,1\nCCN,ok,2\nCCC,ok,3\n',
        'smiles,y,note\nCCO,1,"approx\nCCN,2,ok\nCCC,3,ok',  # would pass as one record with a long note
        'smiles\ty\tnote\r\nCCO\t1\t"approx\r\nCCN\t2\tok\r\nCCC\t3\tok\r\n',
    ],
)
def test_an_unclosed_quote_does_not_swallow_the_records_after_it(write, text):
    path = write("a.tsv" if "\t" in text else "a.csv", text)
    assert _rows(path, chunk_rows=2) == [
        (1, None, None, "malformed_row"),
        (2, "CCN", "2", None),
        (3, "CCC", "3", None),
    ]


def test_the_unclosed_quote_is_quarantined_with_its_line(write):
    path = write("a.csv", 'smiles,y\nCCO,1\nCCN,"2\nCCC,3\n')
    chunk = _open(path)[0]
    assert chunk.read_errors[1] == ("malformed_row", "a quote opened on line 3 is never closed")
    assert chunk.raw(1) == 'CCN,"2\n'


def test_two_unclosed_quotes(write):
    path = write("a.csv", 'smiles,y\n"CCO,1\nCCN,2\nCCC,"3\nCCCC,4\n')
    # the second quote closes the first: those lines are one (malformed) record, as the CSV says
    assert [r[3] for r in _rows(path)] == ["malformed_row", None]


def test_a_quoted_multiline_field_at_the_end_is_one_record(write):
    path = write("a.csv", 'smiles,note,y\nCCO,"line one\nline two, ""quoted""",1\n')
    assert _rows(path) == [(1, "CCO", "1", None)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(2, 8),
    data=st.data(),
    newline=st.sampled_from(["\n", "\r\n"]),
)
def test_one_stray_quote_costs_at_most_its_own_record(write, n, data, newline):
    """A field that starts with a quote never closed: every other record still reads as written."""
    rows = [("C" * (i + 1), str(i)) for i in range(n)]
    bad = data.draw(st.integers(0, n - 1))
    column = data.draw(st.integers(0, 2))
    lines = []
    for i, (smiles, y) in enumerate(rows):
        fields = [smiles, y, "note"]
        if i == bad:
            fields[column] = '"' + fields[column]
        lines.append(",".join(fields))
    path = write("p.csv", "smiles,y,note" + newline + newline.join(lines) + newline)
    got = _rows(path, chunk_rows=data.draw(st.integers(1, 4)))
    assert [r[0] for r in got] == list(range(1, n + 1))
    assert [(s, t) for i, (_, s, t, e) in enumerate(got) if i != bad] == [
        r for i, r in enumerate(rows) if i != bad
    ]
