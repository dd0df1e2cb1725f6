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
