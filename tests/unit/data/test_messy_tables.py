"""Tables as spreadsheets and other tools write them, which molops cannot read as they are: the
error says what the file looks like and what was expected, in one sentence."""

from __future__ import annotations

import io
import zipfile

import pandas as pd
import pytest

from molops.data.readers import RecordReader
from molops.data.sources import Source, detect_format
from molops.errors import InputFileError


def _open(path, smiles_col=None, target_col="y", fmt=None):
    with Source(path) as source:
        return list(RecordReader(source, fmt or detect_format(path), smiles_col, target_col))


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
