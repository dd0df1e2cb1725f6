"""Files as other programs export them: Excel's "Unicode text" (UTF-16 with a BOM), UTF-32, and a
BOM under gzip. Every record comes through with its text decoded, not as mojibake."""

from __future__ import annotations

import codecs
import gzip

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from molops.data.readers import RecordReader
from molops.data.sources import Source, detect_format

ROWS = [("CCO", "1.5"), ("CCN", "-2"), ("c1ccccc1", "3e-1")]
ENCODINGS = ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"]
BOMS = {
    "utf-16-le": codecs.BOM_UTF16_LE,
    "utf-16-be": codecs.BOM_UTF16_BE,
    "utf-32-le": codecs.BOM_UTF32_LE,
    "utf-32-be": codecs.BOM_UTF32_BE,
}


def _encoded(text: str, encoding: str) -> bytes:
    return BOMS[encoding] + text.encode(encoding)


def _records(path, smiles_col="smiles", target_col="y"):
    with Source(path) as source:
        reader = RecordReader(source, detect_format(path), smiles_col, target_col)
        return [
            (s, t, c.read_errors.get(i))
            for c in reader
            for i, (s, t) in enumerate(zip(c.structures, c.targets, strict=True))
        ]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_excel_unicode_text_tsv_is_read(write, encoding):
    text = "smiles\ty\tnote\r\n" + "".join(f"{s}\t{v}\t10 µM, 25 °C\r\n" for s, v in ROWS)
    path = write("export.tsv", _encoded(text, encoding))
    assert _records(path) == [(s, v, None) for s, v in ROWS]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_utf16_csv_and_gzipped_utf16_csv_are_read(write, encoding):
    text = "SMILES,y\r\n" + "".join(f"{s},{v}\r\n" for s, v in ROWS)
    for name, data in (
        ("a.csv", _encoded(text, encoding)),
        ("a.csv.gz", gzip.compress(_encoded(text, encoding))),
    ):
        assert _records(write(name, data), smiles_col=None) == [(s, v, None) for s, v in ROWS]


def test_utf16_sdf_is_read(write):
    block = "CCO\n  x\n\n  0  0  0  0  0  0  0  0  0  0999 V2000\nM  END\n>  <y>\n1.5\n\n$$$$\n"
    path = write("a.sdf", _encoded(block * 2, "utf-16-le"))
    assert [(t, e) for _, t, e in _records(path, smiles_col=None)] == [("1.5", None), ("1.5", None)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    encoding=st.sampled_from(["utf-8", *ENCODINGS]),
    values=st.lists(
        st.text(
            st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters='",'),
            max_size=8,
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_any_bom_encoding_round_trips_every_field(write, encoding, values):
    """Whatever the BOM says, every field reads back as written (nothing garbled or dropped)."""
    text = "smiles,y\r\n" + "".join(f"C,{v}\r\n" for v in values)
    data = (codecs.BOM_UTF8 + text.encode()) if encoding == "utf-8" else _encoded(text, encoding)
    path = write("p.csv", data)
    assert [t for _, t, _ in _records(path)] == values
