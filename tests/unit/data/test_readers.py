"""Sources and streaming readers: CSV/TSV, Parquet, SDF, gzip, odd encodings, broken files."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem

from molops.data.readers import RecordReader
from molops.data.sources import Source, clean_text, detect_format
from molops.errors import ColumnNotFoundError, InputFileError

from ._sdf_text import sdf_text as _sdf

DATA = Path(__file__).resolve().parents[2] / "data"


def read(path, smiles_col="smiles", target_col="y", fmt=None, chunk_rows=5000):
    """All chunks of *path*."""
    with Source(path) as source:
        reader = RecordReader(source, fmt or detect_format(path), smiles_col, target_col, chunk_rows)
        return list(reader)


def records(path, **kw):
    """(row, structure, target, read-error reason or None) for every record of *path*."""
    out = []
    for chunk in read(path, **kw):
        for i in range(len(chunk)):
            error = chunk.read_errors.get(i)
            out.append((chunk.rows[i], chunk.structures[i], chunk.targets[i], error[0] if error else None))
    return out


# -- format detection --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.csv", "csv"),
        ("a.CSV", "csv"),
        ("a.csv.gz", "csv"),
        ("a.tsv", "tsv"),
        ("a.tab", "tsv"),
        ("a.sdf", "sdf"),
        ("a.sd", "sdf"),
        ("a.SDF.GZ", "sdf"),
        ("a.parquet", "parquet"),
        ("a.pq", "parquet"),
        ("a.smi", "smi"),
        ("a.smiles", "smi"),
        ("a.txt", "smi"),
        ("x.y.z.csv", "csv"),
        ("dir.d/a.tsv.gz", "tsv"),
    ],
)
def test_detect_format(name, fmt):
    assert detect_format(name) == fmt


@pytest.mark.parametrize("name", ["a", "a.gz", "a.xlsx", "a.csv.zip", "a.json"])
def test_detect_format_unknown(name):
    with pytest.raises(InputFileError, match="cannot tell the file format") as info:
        detect_format(name)
    assert str(info.value).startswith(name)


# -- sources -----------------------------------------------------------------------------------
def test_source_hashes_the_file_as_stored(write):
    content = b"smiles,y\nCCO,1\n"
    plain = write("a.csv", content)
    packed = write("a.csv.gz", gzip.compress(content))
    with Source(plain) as s:
        assert not s.compressed
        assert s.stream.read() == content
        assert s.finish() == hashlib.sha256(content).hexdigest()
        assert s.bytes_read == len(content)
    with Source(packed) as s:
        assert s.compressed
        assert s.stream.read() == content
        assert s.finish() == hashlib.sha256(packed.read_bytes()).hexdigest()
        assert s.bytes_read == packed.stat().st_size
        assert s.name == "a.csv.gz"


def test_source_finish_hashes_unread_bytes(write):
    content = b"x" * 3_000_000
    path = write("big.csv", content)
    with Source(path) as s:
        s.stream.read(10)
        assert s.finish() == hashlib.sha256(content).hexdigest()
        assert s.bytes_read == len(content)


def test_source_errors(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        Source(tmp_path / "missing.csv")
    with pytest.raises(InputFileError, match="is a directory"):
        Source(tmp_path)


def test_clean_text():
    assert clean_text("plain") == "plain"
    assert clean_text("café ☃") == "café ☃"
    assert clean_text(b"caf\xe9".decode("utf-8", "surrogateescape")) == "caf\\xe9"


# -- CSV / TSV ---------------------------------------------------------------------------------
def test_simple_csv(write):
    path = write("a.csv", "smiles,y,name\nCCO,1.5,eth\nc1ccccc1,-2,benz\n")
    chunks = read(path)
    assert len(chunks) == 1
    chunk = chunks[0]
    assert chunk.rows == [1, 2]
    assert chunk.structures == ["CCO", "c1ccccc1"]
    assert chunk.targets == ["1.5", "-2"]
    assert chunk.record(0) == {"smiles": "CCO", "y": "1.5", "name": "eth"}
    assert chunk.read_errors == {}
    assert json.loads(chunk.raw(1)) == {"smiles": "c1ccccc1", "y": "-2", "name": "benz"}


def test_columns_in_any_order_and_header_whitespace(write):
    path = write("a.csv", " y , other ,  smiles \n3,x,CCO\n")
    assert records(path) == [(1, "CCO", "3", None)]


def test_csv_with_bom(write):
    path = write("a.csv", b"\xef\xbb\xbfsmiles,y\r\nCCO,1\r\n")
    assert records(path) == [(1, "CCO", "1", None)]


def test_tsv(write):
    path = write("a.tsv", "smiles\ty\tnote\nCCO\t1\thas, commas\nCCC\t2\t\n")
    assert records(path) == [(1, "CCO", "1", None), (2, "CCC", "2", None)]
    assert read(path)[0].record(0)["note"] == "has, commas"


def test_crlf_line_endings(write):
    path = write("a.csv", "smiles,y\r\nCCO,1\r\nCCC,2\r\n")
    assert records(path) == [(1, "CCO", "1", None), (2, "CCC", "2", None)]


def test_quoted_newlines_stay_inside_the_field(write):
    path = write("a.csv", 'smiles,y,note\nCCO,1,"line one\nline two"\nCCC,2,"a\r\nb"\nCC,3,x\n')
    assert records(path) == [(1, "CCO", "1", None), (2, "CCC", "2", None), (3, "CC", "3", None)]
    assert read(path)[0].record(0)["note"] == "line one\nline two"


def test_quoted_delimiters_and_quotes(write):
    path = write("a.csv", 'smiles,y,note\n"CC(=O)O","1","say ""hi"", then go"\n')
    chunk = read(path)[0]
    assert chunk.structures == ["CC(=O)O"]
    assert chunk.record(0)["note"] == 'say "hi", then go'


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        ("CCO,1,x,extra", "4 fields, expected 3 (line 3)"),
        ("CCO,1", "2 fields, expected 3 (line 3)"),
        ("CCO", "1 fields, expected 3 (line 3)"),
    ],
)
def test_wrong_field_count_is_a_malformed_row(write, line, detail):
    path = write("a.csv", f"smiles,y,note\nCC,0,ok\n{line}\nCCC,2,ok\n")
    chunk = read(path)[0]
    assert chunk.rows == [1, 2, 3]
    assert chunk.read_errors == {1: ("malformed_row", detail)}
    assert chunk.structures == ["CC", None, "CCC"]
    assert chunk.targets == ["0", None, "2"]
    assert json.loads(chunk.raw(1)) == line.split(",")


def test_a_csv_error_becomes_a_malformed_row(write):
    path = write("a.csv", "smiles,y\nCCO,1\nCCC," + "9" * 200 + "\nCCCC,3\n")
    old = csv.field_size_limit(50)
    try:
        chunk = read(path)[0]
    finally:
        csv.field_size_limit(old)
    assert chunk.rows == [1, 2, 3]
    assert chunk.structures == ["CCO", None, "CCCC"]
    reason, detail = chunk.read_errors[1]
    assert reason == "malformed_row"
    assert "field larger than field limit" in detail
    assert chunk.raw(1) == "line 3"


def test_blank_lines_are_not_records(write):
    path = write("a.csv", "smiles,y\n\nCCO,1\n\n   \n\t\nCCC,2\n\n")
    assert records(path) == [(1, "CCO", "1", None), (2, "CCC", "2", None)]


def test_a_row_of_empty_fields_is_a_record(write):
    path = write("a.csv", "smiles,y\n,\nCCO,1\n")
    assert records(path) == [(1, "", "", None), (2, "CCO", "1", None)]


def test_latin1_bytes_are_kept_escaped(write):
    path = write("a.csv", b"smiles,y,note\nCCO,1,caf\xe9\nCC\xe9,2,x\n")
    chunk = read(path)[0]
    assert chunk.structures == ["CCO", "CC\\xe9"]
    # the raw text is safe to store and still JSON: the undecodable byte is spelled out as \xe9
    assert json.loads(chunk.raw(0)) == {"smiles": "CCO", "y": "1", "note": "caf\\xe9"}
    assert chunk.raw(0).isascii()


def test_latin1_header(write):
    path = write("a.csv", b"smiles,y,r\xe9f\nCCO,1,x\n")
    assert list(read(path)[0].record(0)) == ["smiles", "y", "r\\xe9f"]


def test_utf8_content(write):
    path = write("a.csv", "smiles,pIC50 (µM),note\nCCO,1,naïve ☃\n")
    chunk = read(path, target_col="pIC50 (µM)")[0]
    assert chunk.targets == ["1"]
    assert json.loads(chunk.raw(0))["note"] == "naïve ☃"


def test_gzip_csv(write):
    path = write("a.csv.gz", gzip.compress(b"smiles,y\nCCO,1\nCCC,2\n"))
    assert records(path) == [(1, "CCO", "1", None), (2, "CCC", "2", None)]


def test_gzip_content_under_a_plain_name_is_detected(write):
    path = write("a.csv", gzip.compress(b"smiles,y\nCCO,1\n"))
    assert records(path) == [(1, "CCO", "1", None)]


def test_truncated_gzip_is_an_input_file_error(write):
    body = "smiles,y\n" + "".join(f"{'C' * (1 + i % 30)},{i}\n" for i in range(20000))
    packed = gzip.compress(body.encode())
    path = write("a.csv.gz", packed[: len(packed) // 2])
    with pytest.raises(InputFileError, match=r"a\.csv\.gz"):
        read(path)


def test_gzip_magic_then_garbage_is_an_input_file_error(write):
    path = write("a.csv", b"\x1f\x8bthis is not gzip at all")
    with pytest.raises(InputFileError, match="not a readable CSV file"):
        read(path)


def test_chunking(write):
    rows = "".join(f"{'C' * (i + 1)},{i}\n" for i in range(5))
    path = write("a.csv", "smiles,y\n" + rows)
    chunks = read(path, chunk_rows=2)
    assert [c.rows for c in chunks] == [[1, 2], [3, 4], [5]]
    assert [s for c in chunks for s in c.structures] == ["C" * (i + 1) for i in range(5)]


def test_malformed_rows_keep_chunk_positions(write):
    path = write("a.csv", "smiles,y\nC,1\nbad\nCC,2\nbad,too,many\nCCC,3\n")
    chunks = read(path, chunk_rows=2)
    assert [c.rows for c in chunks] == [[1, 2], [3, 4], [5]]
    assert [c.read_errors for c in chunks] == [
        {1: ("malformed_row", "1 fields, expected 2 (line 3)")},
        {1: ("malformed_row", "3 fields, expected 2 (line 5)")},
        {},
    ]


def test_missing_column_names_the_file_and_the_column(write):
    path = write("a.csv", "smiles,logS\nCCO,1\n")
    with pytest.raises(ColumnNotFoundError) as info:
        read(path, target_col="SOL")
    message = str(info.value)
    assert message == f"{path}: no column 'SOL'; the file has 'smiles', 'logS'"


def test_missing_smiles_column(write):
    path = write("a.csv", "SMILES,y\nCCO,1\n")
    with pytest.raises(ColumnNotFoundError, match=r"no column 'smiles'"):
        read(path)


def test_missing_column_lists_at_most_twenty(write):
    header = ",".join(f"c{i}" for i in range(25))
    path = write("a.csv", header + "\n" + ",".join("1" * 25) + "\n")
    with pytest.raises(ColumnNotFoundError) as info:
        read(path)
    assert str(info.value).endswith("'c19' and 5 more")


@pytest.mark.parametrize("header", ["smiles", "SMILES", "Smiles"])
@pytest.mark.parametrize("name", ["a.csv", "a.tsv", "a.parquet"])
def test_default_smiles_column_in_any_case(write, name, header):
    frame = pd.DataFrame({"id": ["x", "z"], header: ["CCO", "CCN"], "y": [1.0, 2.0]})
    if name.endswith(".parquet"):
        path = write(name, _parquet_bytes(frame))
    else:
        path = write(name, frame.to_csv(index=False, sep="\t" if name.endswith(".tsv") else ","))
    with Source(path) as source:
        reader = RecordReader(source, detect_format(path), None, "y")
        chunks = list(reader)
    assert reader.smiles_col == header
    assert [s for c in chunks for s in c.structures] == ["CCO", "CCN"]


def test_exact_smiles_column_wins_over_other_cases(write):
    path = write("a.csv", "SMILES,smiles,y\nxx,CCO,1\n")
    assert read(path, smiles_col=None)[0].structures == ["CCO"]


def test_no_smiles_column_lists_the_columns(write):
    path = write("a.csv", "structure,y\nCCO,1\n")
    with pytest.raises(ColumnNotFoundError) as info:
        read(path, smiles_col=None)
    assert str(info.value) == (
        f"{path}: no column named 'smiles' (in any case) and no --smiles-col; the file has 'structure', 'y'"
    )


def test_two_smiles_columns_in_other_cases_are_ambiguous(write):
    path = write("a.csv", "SMILES,Smiles,y\nCCO,CCO,1\n")
    with pytest.raises(ColumnNotFoundError, match=r"'SMILES', 'Smiles' could each hold the SMILES; choose"):
        read(path, smiles_col=None)


@pytest.mark.parametrize("name", ["a.csv", "a.tsv", "a.csv.gz"])
def test_empty_file(write, name):
    path = write(name, gzip.compress(b"") if name.endswith(".gz") else b"")
    with pytest.raises(InputFileError, match="the file is empty"):
        read(path)


def test_header_only_file_has_no_records(write):
    assert read(write("a.csv", "smiles,y\n")) == []


def test_smi_file_has_no_target(write):
    path = write("a.smi", "CCO ethanol\n")
    with pytest.raises(InputFileError, match="has no target column"):
        read(path)


def test_format_override(write):
    path = write("data.txt", "smiles\ty\nCCO\t1\n")
    assert records(path, fmt="tsv") == [(1, "CCO", "1", None)]


def test_messy_fixture():
    rows = records(DATA / "messy.csv", target_col="logS")
    assert [r[0] for r in rows] == list(range(1, 10))
    assert [r[3] for r in rows] == [None] * 6 + ["malformed_row"] * 2 + [None]
    assert rows[2] == (3, "[Na+].[O-]C(=O)c1ccccc1", "-1.55", None)


# -- Parquet -----------------------------------------------------------------------------------
def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


FRAME = pd.DataFrame({"smiles": ["CCO", None, "c1ccccc1"], "y": [1.5, 2.0, None], "other": ["a", "b", "c"]})


def test_parquet(write):
    path = write("a.parquet", _parquet_bytes(FRAME))
    chunk = read(path)[0]
    assert chunk.rows == [1, 2, 3]
    assert chunk.structures == ["CCO", None, "c1ccccc1"]
    assert chunk.targets == [1.5, 2.0, None]
    assert chunk.record(0) == {"smiles": "CCO", "y": 1.5}
    assert json.loads(chunk.raw(2)) == {"smiles": "c1ccccc1", "y": None}


def test_gzipped_parquet(write):
    path = write("a.parquet.gz", gzip.compress(_parquet_bytes(FRAME)))
    assert records(path) == [(1, "CCO", 1.5, None), (2, None, 2.0, None), (3, "c1ccccc1", None, None)]


def test_parquet_in_batches(write):
    frame = pd.DataFrame({"smiles": ["C" * (i + 1) for i in range(7)], "y": list(range(7))})
    path = write("a.parquet", _parquet_bytes(frame))
    chunks = read(path, chunk_rows=3)
    assert [c.rows for c in chunks] == [[1, 2, 3], [4, 5, 6], [7]]
    assert [t for c in chunks for t in c.targets] == list(range(7))


def test_parquet_missing_column(write):
    path = write("a.parquet", _parquet_bytes(FRAME))
    with pytest.raises(ColumnNotFoundError) as info:
        read(path, target_col="SOL")
    assert str(info.value) == f"{path}: no column 'SOL'; the file has 'smiles', 'y', 'other'"


def test_text_named_parquet_is_an_input_file_error(write):
    path = write("a.parquet", "smiles,y\nCCO,1\n")
    with pytest.raises(InputFileError, match="not a Parquet file") as info:
        read(path)
    assert str(info.value).startswith(str(path))


def test_empty_parquet_file_is_an_input_file_error(write):
    with pytest.raises(InputFileError, match="not a Parquet file"):
        read(write("a.parquet", b""))


def test_parquet_without_a_smiles_column(write):
    path = write("a.parquet", _parquet_bytes(FRAME.rename(columns={"smiles": "mol"})))
    with pytest.raises(ColumnNotFoundError, match="the file has 'mol', 'y', 'other'"):
        read(path, smiles_col=None)


# -- SDF ---------------------------------------------------------------------------------------
def test_sdf_fixture_with_mol_blocks():
    chunks = read(DATA / "measurements.sdf", smiles_col=None, target_col="SOL")
    chunk = chunks[0]
    assert chunk.rows == [1, 2, 3, 4]
    assert chunk.targets == ["-0.77", "-1.64", "-1.55", "NA"]
    assert all(s.rstrip().endswith("M  END") for s in chunk.structures)
    assert chunk.structures[0].startswith("ethanol\n")
    mol = Chem.MolFromMolBlock(chunk.structures[1])
    assert Chem.MolToSmiles(mol) == "c1ccccc1"
    assert "$$$$" not in chunk.raw(0)
    assert "LAB-1" in chunk.raw(0)


def test_sdf_fixture_with_a_smiles_property():
    rows = records(DATA / "measurements.sdf", smiles_col="SMILES", target_col="SOL")
    assert [r[1] for r in rows] == ["CCO", "c1ccccc1", "[Na+].[O-]C(=O)c1ccccc1", "CC(=O)O"]


def test_sdf_missing_property_in_a_later_record(write):
    path = write("a.sdf", _sdf([("CCO", {"SOL": "1"}), ("CCC", {}), ("CCCC", {"SOL": "3"})]))
    rows = records(path, smiles_col=None, target_col="SOL")
    assert [(r[0], r[2]) for r in rows] == [(1, "1"), (2, None), (3, "3")]


def test_sdf_multiline_property(write):
    text = _sdf([("CCO", {"SOL": "1", "note": "x"})]).replace("x\n", "first\nsecond\n")
    path = write("a.sdf", text)
    with Source(path) as source:
        chunk = next(iter(RecordReader(source, "sdf", None, "note")))
    assert chunk.targets == ["first\nsecond"]


def test_sdf_missing_property_in_the_first_record(write):
    path = write("a.sdf", _sdf([("CCO", {"logS": "1"})]))
    with pytest.raises(ColumnNotFoundError) as info:
        read(path, smiles_col=None, target_col="SOL")
    assert str(info.value) == f"{path}: no SD property 'SOL'; the file has 'logS'"


def test_sdf_record_without_a_mol_block_is_malformed(write):
    good = _sdf([("CCO", {"SOL": "1"})])
    path = write("a.sdf", good + "\n>  <SOL>\n2\n\n$$$$\n" + good)
    rows = records(path, smiles_col=None, target_col="SOL")
    assert [(r[0], r[3]) for r in rows] == [(1, None), (2, "malformed_row"), (3, None)]


def test_sdf_without_final_terminator(write):
    text = _sdf([("CCO", {"SOL": "1"}), ("CCC", {"SOL": "2"})])
    path = write("a.sdf", text.rstrip()[: -len("$$$$")])
    assert [r[2] for r in records(path, smiles_col=None, target_col="SOL")] == ["1", "2"]


# RDKit ends a record at any line that starts with $$$$; an exact-match splitter merged records
ODD = DATA / "odd_separators.sdf"  # CRLF; separators '$$$$ ', '$$$$\t', '$$$$  end…'; no final one
ODD_VALUES = [
    ("CCO", "-0.77"),
    ("c1ccccc1", "-1.64"),
    ("CC(=O)O", "NA"),
    ("CCN", "0.5"),
    ("Oc1ccccc1", "-0.04"),
]


def test_sdf_separators_with_trailing_text_end_records_as_rdkit_reads_them():
    assert ODD.read_bytes().count(b"\r\n") == ODD.read_bytes().count(b"\n")  # every line is CRLF
    rows = records(ODD, smiles_col=None, target_col="SOL")
    assert [(r[0], r[2], r[3]) for r in rows] == [(i, v, None) for i, (_, v) in enumerate(ODD_VALUES, 1)]
    parsed = [Chem.MolToSmiles(Chem.MolFromMolBlock(r[1])) for r in rows]
    assert parsed == [s for s, _ in ODD_VALUES]
    rdkit = [(Chem.MolToSmiles(m), m.GetProp("SOL")) for m in Chem.ForwardSDMolSupplier(str(ODD))]
    assert rdkit == ODD_VALUES


def test_sdf_odd_separators_with_a_smiles_property():
    rows = records(ODD, smiles_col="SMILES", target_col="SOL")
    assert [(r[1], r[2]) for r in rows] == ODD_VALUES


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
@pytest.mark.parametrize("separator", ["$$$$ ", "$$$$\t", "$$$$   \t", "$$$$ end", "$$$$$$$$"])
def test_sdf_separator_suffixes(write, separator, eol):
    text = _sdf([("CCO", {"SOL": "1"}), ("CCC", {"SOL": "2"}), ("CCCC", {"SOL": "3"})])
    text = text.replace("$$$$\n", separator + "\n").replace("\n", eol)
    rows = records(write("a.sdf", text), smiles_col=None, target_col="SOL")
    assert [(r[0], r[2], r[3]) for r in rows] == [(1, "1", None), (2, "2", None), (3, "3", None)]


def test_sdf_data_items_are_read_only_after_m_end(write):
    """A header or a V3000 block line that looks like a data header is not a data item."""
    mol = Chem.MolFromSmiles("CCO")
    mol.SetProp("_Name", ">  <SOL>")
    mol.SetProp("SOL", "1")
    block = Chem.MolToV3KMolBlock(mol)
    text = block.replace("\n\n", "\n> <note>\n", 1) + ">  <SOL>\n1\n\n$$$$\n"
    assert text.splitlines()[2] == "> <note>"  # the comment line
    path = write("a.sdf", text + _sdf([("CCC", {"SOL": "2"})]))
    with Source(path) as source:
        reader = RecordReader(source, "sdf", None, "SOL", all_columns=True)
        chunk = next(iter(reader))
    assert reader.columns == ["SOL"]
    assert chunk.inputs == [{"SOL": "1"}, {"SOL": "2"}] and chunk.targets == ["1", "2"]
    assert Chem.MolToSmiles(Chem.MolFromMolBlock(chunk.structures[0])) == "CCO"


def test_sdf_value_lines_that_start_with_a_space_belong_to_the_value(write):
    text = _sdf([("CCO", {"note": "x"})]).replace("x\n", "first\n  \n  second\n")
    rows = records(write("a.sdf", text), smiles_col=None, target_col="note")
    assert rows[0][2] == "first\n  \n  second"
    assert next(Chem.ForwardSDMolSupplier(str(write("b.sdf", text)))).GetProp("note").strip() == rows[0][2]


def test_sdf_record_without_m_end_is_malformed_with_a_smiles_property_too(write):
    good = _sdf([("CCO", {"SOL": "1", "smi": "CCO"})])
    path = write("a.sdf", good + "x\n\n\n>  <SOL>\n2\n\n>  <smi>\nCCN\n\n$$$$\n" + good)
    rows = records(path, smiles_col="smi", target_col="SOL")
    assert [(r[0], r[1], r[3]) for r in rows] == [
        (1, "CCO", None),
        (2, None, "malformed_row"),
        (3, "CCO", None),
    ]


def test_sdf_first_record_without_m_end_but_a_separator_is_a_malformed_record(write):
    path = write("a.sdf", "junk\n$$$$\n" + _sdf([("CCO", {})]))
    rows = records(path, smiles_col=None, target_col=None)
    assert [(r[0], r[3]) for r in rows] == [(1, "malformed_row"), (2, None)]


# -- property: the splitter reads what RDKit reads ---------------------------------------------
#: data labels RDKit reports (a leading underscore marks a private property, not returned)
_KEYS = st.from_regex(r"[A-Za-z][A-Za-z0-9_ ]{0,7}", fullmatch=True).map(str.strip)
_VALUE_LINE = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zl", "Zp"]), min_size=1, max_size=12
).filter(lambda v: v == v.strip() and not v.startswith((">", "$$$$")))
_RECORD = st.tuples(
    st.sampled_from(["CCO", "c1ccccc1", "CC(=O)O", "C[C@H](N)C(=O)O", "[Na+].[Cl-]", "CCN(CC)CC"]),
    st.dictionaries(
        _KEYS.map(str.strip).filter(bool), st.lists(_VALUE_LINE, min_size=1, max_size=2), max_size=3
    ),
    st.text(alphabet=" \t$abc", max_size=6),  # what follows $$$$ on the separator line
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_RECORD, min_size=1, max_size=5), st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_sdf_splitter_matches_rdkit(write, rows, eol, last_terminated):
    parts = []
    for i, (smiles, props, suffix) in enumerate(rows):
        text = Chem.MolToMolBlock(Chem.MolFromSmiles(smiles))
        text += "".join(f">  <{k}>\n" + "\n".join(lines) + "\n\n" for k, lines in props.items())
        if i < len(rows) - 1 or last_terminated:
            text += "$$$$" + suffix + "\n"
        parts.append(text)
    data = "".join(parts).replace("\n", eol)
    path = write("p.sdf", data)
    with Source(path) as source:
        reader = RecordReader(source, "sdf", None, None, chunk_rows=2, all_columns=True)
        chunks = list(reader)
    ours = [(c.structures[i], c.inputs[i]) for c in chunks for i in range(len(c))]
    theirs = list(Chem.ForwardSDMolSupplier(io.BytesIO(data.encode()), sanitize=False, removeHs=False))
    assert len(ours) == len(theirs) == len(rows)
    for (block, props), mol, (smiles, wanted, _) in zip(ours, theirs, rows, strict=True):
        assert (
            props
            == {k: mol.GetProp(k) for k in mol.GetPropNames()}
            == {k: "\n".join(v) for k, v in wanted.items()}
        )
        assert Chem.MolToSmiles(Chem.MolFromMolBlock(block, sanitize=False)) == Chem.MolToSmiles(mol)
        assert Chem.MolToSmiles(Chem.MolFromMolBlock(block)) == Chem.MolToSmiles(Chem.MolFromSmiles(smiles))


def test_gzipped_sdf(write):
    path = write("a.sdf.gz", gzip.compress(_sdf([("CCO", {"SOL": "1"})]).encode()))
    assert [r[2] for r in records(path, smiles_col=None, target_col="SOL")] == ["1"]


def test_empty_sdf(write):
    with pytest.raises(InputFileError, match="expected SDF records"):
        read(write("a.sdf", ""), smiles_col=None, target_col="SOL")


def test_text_that_is_not_sdf(write):
    with pytest.raises(InputFileError, match="not an SDF file"):
        read(write("a.sdf", "smiles,y\nCCO,1\n"), smiles_col=None, target_col="SOL")


def test_all_columns_carries_every_input_column(write):
    path = write("a.csv", "smiles,y,note\nCCO,1,x\nbad,2\nCCN,3,z\n")
    with Source(path) as source:
        plain = RecordReader(source, "csv", "smiles", "y")
        assert [c.inputs for c in plain] == [[]]  # ingest does not pay for what it does not use
    with Source(path) as source:
        reader = RecordReader(source, "csv", "smiles", None, all_columns=True)
        chunks = list(reader)
    assert reader.columns == ["smiles", "y", "note"] and reader.structure_column == "smiles"
    assert chunks[0].inputs == [
        {"smiles": "CCO", "y": "1", "note": "x"},
        {},
        {"smiles": "CCN", "y": "3", "note": "z"},
    ]
