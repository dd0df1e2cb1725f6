"""Property tests: ingest survives hostile CSV files and never loses a row.

Each example writes a file into its own temporary workspace and ingests it inline (workers=1).
For files whose header names the requested columns once each, ingest must not raise at all (a
header that names one of them twice is refused with DuplicateColumnError, and a duplicate of
another column is read and reported in the report's warnings); for anything else it may only
raise a MolopsError. Whenever it succeeds, every non-blank record written is
accounted for: rows_in == accepted + quarantined + merged_duplicates.
"""

from __future__ import annotations

import csv
import gzip
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from molops import Workspace
from molops.data.headers import DuplicateColumnError
from molops.errors import ColumnNotFoundError, MolopsError

SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

SMILES = [
    "CCO",
    "OCC",
    "C(O)C",
    "c1ccccc1",
    "C1=CC=CC=C1",
    "CC(=O)[O-].[Na+]",
    "CCN.Cl",
    "O",
    "C1CC",
    "xyz",
    "[CH3]",
    "C[Te]C",
    "",
    " ",
    "C" * 120,
    "CN(=O)=O",
]
GOOD_SMILES = ["CCO", "OCC", "c1ccccc1", "CC(=O)[O-].[Na+]", "CCN.Cl", "CCCC", "CN(=O)=O"]
NUMBERS = ["1", "-2.5", " 3 ", "1e3", "0", "7.25"]
TARGETS = [
    "1",
    "-2.5",
    " 3 ",
    "1e3",
    "",
    "NA",
    "n/a",
    "nan",
    "NaN",
    "inf",
    "-Infinity",
    "<5",
    ">=3",
    "~2",
    "abc",
    "1,5",
    "-",
    "?",
    "0",
]


def quoted(text: str) -> bytes:
    return ('"' + text.replace('"', '""') + '"').encode("utf-8")


def plain(text: str) -> bytes:
    """Unquoted when safe, quoted otherwise."""
    if any(c in text for c in ',"\r\n') or text != text.strip():
        return quoted(text)
    return text.encode("utf-8")


unicode_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
# Non-ASCII latin-1 bytes: not valid UTF-8 on their own, so they arrive surrogate-escaped.
latin1 = st.text(st.characters(min_codepoint=0xA0, max_codepoint=0xFF), min_size=1, max_size=6)

#: One CSV field as bytes, always well-formed (quoted where it must be).
field = st.one_of(
    st.sampled_from(SMILES + TARGETS).map(plain),
    st.sampled_from(SMILES + TARGETS).map(quoted),
    unicode_text.map(quoted),
    latin1.map(lambda t: t.encode("latin-1")),
    latin1.map(lambda t: b'"' + t.encode("latin-1") + b'"'),
    st.tuples(unicode_text, st.sampled_from(["\n", "\r\n", "\r"]), unicode_text).map(
        lambda p: quoted("".join(p))
    ),  # newline inside a quoted field
    st.sampled_from('xC ,é"\n').map(lambda c: quoted(c * 100_000)),  # a 100 kB field
    st.just(b""),
    st.just(b'""'),
)


@dataclass
class CsvFile:
    data: bytes
    records: int  # non-blank records written after the header
    malformed: int  # records with the wrong number of fields
    has_columns: bool
    ambiguous: bool  # a requested column named twice (after stripping)
    duplicates: bool  # another column named twice


@st.composite
def csv_files(draw):
    required = ["smiles", "y"]
    extra = draw(
        st.lists(
            st.one_of(st.sampled_from(["note", "id", " smiles ", "y2", "", " y"]), unicode_text), max_size=3
        )
    )
    header = required + extra
    order = draw(st.permutations(range(len(header))))
    header = [header[i] for i in order]
    if draw(st.integers(0, 4)) == 0:
        dropped = draw(st.sampled_from(required))
        header = [h for h in header if h.strip() != dropped]
    names = [h.strip() for h in header]
    has_columns = all(r in names for r in required)
    ambiguous = has_columns and any(names.count(r) > 1 for r in required)
    duplicates = any(names.count(n) > 1 for n in names if n not in required)
    width = len(header)
    newline = draw(st.sampled_from([b"\n", b"\r\n"]))
    lines = [b",".join(quoted(h) if draw(st.booleans()) else plain(h) for h in header)]

    records = malformed = 0
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["ok", "ok", "ok", "blank", "short", "long"]))
        if kind == "blank":
            lines.append(draw(st.sampled_from([b"", b"  ", b"\t"])))
            continue
        if kind == "ok" or width == 0:
            n = width
        elif kind == "short":
            n = draw(st.integers(1, max(1, width - 1)))
        else:
            n = draw(st.integers(width + 1, width + 3))
        fields = [draw(field) for _ in range(n)]
        if kind == "ok":  # mostly sensible values in the columns that matter
            for col, good, values in (("smiles", GOOD_SMILES, SMILES), ("y", NUMBERS, TARGETS)):
                i = next((i for i, h in enumerate(header) if h.strip() == col), None)
                if i is not None and draw(st.integers(0, 3)):
                    fields[i] = plain(draw(st.sampled_from(good if draw(st.booleans()) else values)))
        if n == 1:
            fields[0] = b"CCO" + fields[0]  # a lone blank field would be a blank line
            if fields[0].startswith(b'CCO"'):
                fields[0] = b"CCO"
        if width <= 1 and n == 1:
            fields[0] = b"CCO"
        lines.append(b",".join(fields))
        records += 1
        malformed += n != width
    data = newline.join(lines)
    if draw(st.booleans()):
        data += newline
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if draw(st.integers(0, 4)) == 0:
        data = gzip.compress(data)
    return CsvFile(data, records, malformed, has_columns, ambiguous, duplicates)


def ingest_bytes(data: bytes, name: str = "in.csv"):
    """Ingest *data* into a fresh workspace; (report, dataset) or raises."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        ds = Workspace.init(Path(tmp) / "ws").dataset("x")
        report = ds.ingest(path, smiles_col="smiles", target_col="y", workers=1)
        read, quarantine = ds.read(), ds.quarantine()
        return report, read, quarantine


def check_accounting(report, read, quarantine):
    assert report.rows_in == report.accepted + report.quarantined + report.merged_duplicates
    assert report.quarantined == sum(report.reasons.values())
    assert len(read) == report.accepted == report.added
    assert len(quarantine) == report.quarantined
    assert read["inchikey"].is_unique
    assert sorted(quarantine["row"]) == sorted(set(quarantine["row"]))
    assert all(isinstance(r, str) for r in quarantine["raw"])


@SETTINGS
@given(csv_files())
def test_hostile_csv_never_loses_a_row(f):
    event(f"records={min(f.records, 5)}+ malformed={f.malformed > 0} columns={f.has_columns}")
    event(f"ambiguous={f.ambiguous} duplicates={f.duplicates}")
    try:
        report, read, quarantine = ingest_bytes(f.data)
    except DuplicateColumnError as exc:
        assert f.ambiguous
        assert "appears" in str(exc) and "rename one so molops knows which to read" in str(exc)
        return
    except ColumnNotFoundError:
        assert not f.has_columns
        return
    event(f"accepted={report.accepted > 0} quarantined={report.quarantined > 0}")
    assert f.has_columns and not f.ambiguous
    assert bool(report.warnings) == f.duplicates
    assert report.version == 1 and not report.unchanged
    assert report.rows_in == f.records
    assert report.reasons.get("malformed_row", 0) == f.malformed
    check_accounting(report, read, quarantine)
    # every record is numbered once, 1..n
    numbered = sorted(quarantine["row"].tolist()) + [None] * (report.rows_in - report.quarantined)
    assert len(numbered) == f.records


def _csv_records(data: bytes) -> int:
    """Records Python's csv module finds after the header (blank lines excluded)."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", errors="surrogateescape", newline="")
    rows = list(csv.reader(text))[1:]
    return sum(1 for r in rows if r and not (len(r) == 1 and not r[0].strip()))


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=3000), st.sampled_from([b"\n", b"\r\n"]), st.booleans())
def test_random_bytes_after_a_valid_header_never_raise(blob, newline, bom):
    data = (b"\xef\xbb\xbf" if bom else b"") + b"smiles,y,note" + newline + blob
    report, read, quarantine = ingest_bytes(data)
    check_accounting(report, read, quarantine)
    assert report.rows_in == _csv_records(data)


@settings(max_examples=40, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=2000),
        st.binary(max_size=500).map(lambda b: b"\x1f\x8b" + b),
        st.binary(max_size=500).map(lambda b: gzip.compress(b)),
        unicode_text.map(lambda t: t.encode("utf-8")),
    )
)
def test_random_files_raise_only_molops_errors(blob):
    try:
        report, read, quarantine = ingest_bytes(blob)
    except MolopsError as exc:
        event(type(exc).__name__)
        return
    check_accounting(report, read, quarantine)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SMILES), st.sampled_from(TARGETS)), max_size=15))
def test_reingesting_the_same_file_is_a_no_op(rows):
    data = ("smiles,y\n" + "".join(f"{plain(s).decode()},{plain(t).decode()}\n" for s, t in rows)).encode()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.csv"
        path.write_bytes(data)
        ds = Workspace.init(Path(tmp) / "ws").dataset("x")
        first = ds.ingest(path, smiles_col="smiles", target_col="y", workers=1)
        again = ds.ingest(path, smiles_col="smiles", target_col="y", workers=1)
        assert again.unchanged
        assert again.version == first.version == 1
        counts = {"rows_in", "accepted", "quarantined", "merged_duplicates", "reasons", "sha256"}
        assert again.model_dump(include=counts) == first.model_dump(include=counts)
        assert (again.added, again.updated) == (0, 0)
        assert first.rows_in == len(rows)
