"""Streaming readers: CSV/TSV, SDF, Parquet and SMILES lists (all optionally gzipped) → chunks.

Readers never drop a record. A record they cannot split into fields (a malformed CSV line, an SDF
record without a mol block) is yielded with a read error so validation quarantines it with the
raw text. Memory is bounded by the chunk size, not the file size.
"""

from __future__ import annotations

import csv
import itertools
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from molops.chem.standardize import StructureFormat, split_smi_line
from molops.data.headers import (
    check_unique,
    header_hint,
    missing_column,
    smiles_column,
    unique_names,
)
from molops.data.sdf import SdfRecord, clash_reason, property_names, sdf_records
from molops.data.sources import FileFormat, Source, clean_text, refuse_binary
from molops.errors import ColumnNotFoundError, InputFileError

#: Largest CSV field accepted (bytes); longer fields make the row malformed, not the process die.
MAX_FIELD_BYTES = 64 << 20
csv.field_size_limit(min(sys.maxsize, MAX_FIELD_BYTES))


@dataclass(slots=True)
class RawChunk:
    """Consecutive records of a source, split into the columns validation needs."""

    rows: list[int] = field(default_factory=list)  # 1-based record number in the source
    structures: list[str | None] = field(default_factory=list)
    targets: list[Any] = field(default_factory=list)
    records: list[Any] = field(default_factory=list)  # the whole record, kept for quarantine
    read_errors: dict[int, tuple[str, str]] = field(default_factory=dict)  # position → reason
    #: Every input column of each record ({column: value}), only from a reader with all_columns.
    inputs: list[dict[str, Any]] = field(default_factory=list)
    #: A table's header: a record that is a list of this many fields is shown as {column: field}
    #: by :meth:`raw`. Kept once per chunk instead of a dict per row, which only rejected rows need.
    header: list[str] | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def add(
        self, row: int, structure: str | None, target: Any, record: Any, inputs: dict[str, Any] | None = None
    ) -> None:
        self.rows.append(row)
        self.structures.append(structure)
        self.targets.append(target)
        self.records.append(record)
        if inputs is not None:
            self.inputs.append(inputs)

    def add_error(
        self, row: int, record: Any, reason: str, detail: str, inputs: dict[str, Any] | None = None
    ) -> None:
        self.read_errors[len(self.rows)] = (reason, detail)
        self.add(row, None, None, record, inputs)

    def pop(self) -> None:
        """Remove the last record (a reader that finds it was read wrongly adds it again)."""
        self.read_errors.pop(len(self.rows) - 1, None)
        for values in (self.rows, self.structures, self.targets, self.records):
            values.pop()
        if len(self.inputs) > len(self.rows):
            self.inputs.pop()

    def record(self, i: int) -> Any:
        """The whole record *i*: a table row as {column: field}, else as the reader kept it."""
        record = self.records[i]
        if self.header is not None and isinstance(record, list) and len(record) == len(self.header):
            return dict(zip(self.header, record, strict=True))
        return record

    def raw(self, i: int) -> str:
        """The record as read, as text, for the quarantine table."""
        record = self.record(i)
        if isinstance(record, str):
            return clean_text(record)
        if isinstance(record, dict):
            record = {
                clean_text(str(k)): clean_text(v) if isinstance(v, str) else v for k, v in record.items()
            }
        elif isinstance(record, list):
            record = [clean_text(v) if isinstance(v, str) else v for v in record]
        return json.dumps(record, ensure_ascii=False, default=str)


class RecordReader:
    """Reads one source in chunks of at most *chunk_rows* records.

    Construction reads the header and checks the requested columns exist, so a bad column name
    fails before any work is done. *smiles_col* None means the mol block for SDF and the column
    named smiles (any case, :func:`smiles_column`) for tables; :attr:`smiles_col` is then the
    column found.
    *target_col* is None for pools (candidates without measurements): targets are then None.

    With *all_columns*, each chunk also carries every input column of its records
    (:attr:`RawChunk.inputs`), for outputs that keep the user's columns (batch prediction):
    :attr:`columns` names them (a table's header; every property of an SDF's records, in order of
    first appearance, read by a first pass over the file; ``smiles`` and ``name`` of a SMILES list) and
    :attr:`column_types` gives a Parquet input's Arrow types (text formats hold strings).

    A column read (SMILES, target) that the file names twice is refused at construction; other
    duplicates are read and described in :attr:`warnings` (a table's as the header is read, an
    SDF's clashing properties once every chunk has been read). With *all_columns* a table's
    repeated names become ``y.1``, ``y.2`` (:func:`unique_names`) so no column is lost.
    """

    def __init__(
        self,
        source: Source,
        fmt: FileFormat,
        smiles_col: str | None,
        target_col: str | None,
        chunk_rows: int = 5000,
        *,
        all_columns: bool = False,
    ) -> None:
        self.source = source
        self.fmt = fmt
        self.smiles_col = smiles_col
        self.target_col = target_col
        self.chunk_rows = chunk_rows
        self.all_columns = all_columns
        self.structure_format: StructureFormat = (
            "molblock" if fmt == "sdf" and smiles_col is None else "smiles"
        )
        self.columns: list[str] = []
        self.column_types: dict[str, pa.DataType] = {}
        #: What was odd but not refused about the file (duplicated columns molops does not read).
        self.warnings: list[str] = []
        self._chunks = self._open()

    @property
    def structure_column(self) -> str | None:
        """The input column the structures come from (None: an SDF's mol blocks)."""
        return "smiles" if self.fmt == "smi" else self.smiles_col

    def __iter__(self) -> Iterator[RawChunk]:
        return self._chunks

    def _open(self) -> Iterator[RawChunk]:
        if self.fmt != "parquet":
            refuse_binary(self.source, self.fmt)
        if self.fmt in ("csv", "tsv"):
            return self._delimited("," if self.fmt == "csv" else "\t")
        if self.fmt == "parquet":
            return self._parquet()
        if self.fmt == "sdf":
            return self._sdf()
        if self.target_col is not None:
            raise InputFileError(
                f"{self.source.path}: a {self.fmt} file has no target column; "
                "expected a CSV, TSV, SDF or Parquet file of measurements"
            )
        self.columns = ["smiles", "name"]
        return self._smi()

    @property
    def _wanted(self) -> list[str]:
        return [c for c in (self.smiles_col, self.target_col) if c is not None]

    # -- CSV / TSV -----------------------------------------------------------------------------
    def _delimited(self, delimiter: str) -> Iterator[RawChunk]:
        path = str(self.source.path)
        text = self.source.text()
        reader = csv.reader(text, delimiter=delimiter)
        try:
            header = next(reader)
            while _blank(header):  # blank lines above the header (some exports start with one)
                header = next(reader)
        except StopIteration:
            raise InputFileError(f"{path}: the file is empty; expected a header row") from None
        except (csv.Error, UnicodeError, OSError, EOFError) as exc:
            raise InputFileError(f"{path}: not a readable {self.fmt.upper()} file ({exc})") from None
        header = [clean_text(h).strip() for h in header]
        try:
            self.smiles_col = smiles_column(path, header, self.smiles_col)
            for col in self._wanted:
                if col not in header:
                    raise missing_column(path, "column", col, header)
        except ColumnNotFoundError as exc:
            hint = header_hint(header, reader, delimiter, self.smiles_col, self.target_col)
            if hint is None:
                raise
            raise ColumnNotFoundError(f"{exc}; {hint}") from None
        self.warnings += check_unique(path, header, self._wanted, kept=self.all_columns)
        i_smi = header.index(self.smiles_col)
        i_tgt = header.index(self.target_col) if self.target_col is not None else None
        # a repeated name gets a suffix, so a record shown as {column: field} keeps both fields
        self.columns = unique_names(header)
        return self._delimited_rows(reader, self.columns, i_smi, i_tgt, path, delimiter)

    def _delimited_rows(
        self, reader: Any, header: list[str], i_smi: int, i_tgt: int | None, path: str, delimiter: str
    ) -> Iterator[RawChunk]:
        width = len(header)
        empty: dict[str, Any] | None = {} if self.all_columns else None
        chunk, row = RawChunk(header=header), 0
        offset = 0  # lines of the file before the text *reader* reads (0, or a re-read tail)
        while True:
            last: tuple[int, int] | None = None  # first and last line of the latest record
            end = offset + reader.line_num
            while True:
                first = end + 1
                try:
                    fields = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    fields, error = None, str(exc)
                except (OSError, EOFError, UnicodeError) as exc:
                    raise InputFileError(f"{path}: unreadable after record {row} ({exc})") from None
                end = offset + reader.line_num
                if fields is not None and _blank(fields) and (width > 1 or not fields):
                    continue  # blank line: not a record
                if len(chunk.rows) >= self.chunk_rows:  # the latest record stays: see below
                    yield chunk
                    chunk = RawChunk(header=header)
                row += 1
                last = (first, end)
                if fields is None:
                    chunk.add_error(row, f"line {end}", "malformed_row", error, empty)
                elif len(fields) != width:
                    detail = f"{len(fields)} fields, expected {width} (line {end})"
                    chunk.add_error(row, fields, "malformed_row", detail, empty)
                else:
                    target = fields[i_tgt] if i_tgt is not None else None
                    inputs = dict(zip(header, fields, strict=True)) if self.all_columns else None
                    chunk.add(row, clean_text(fields[i_smi]), target, fields, inputs)
            # A quote opened and never closed makes the file's last record run to its end,
            # swallowing every line after it: that line alone is malformed, the rest are read again.
            if last is None or last[1] == last[0] or (lines := self._unclosed(*last)) is None:
                break
            chunk.pop()
            detail = f"a quote opened on line {last[0]} is never closed"
            chunk.add_error(row, lines[0], "malformed_row", detail, empty)
            reader, offset = csv.reader(lines[1:], delimiter=delimiter), last[0]
        if chunk:
            yield chunk

    def _unclosed(self, first: int, end: int) -> list[str] | None:
        """Lines *first*..*end* of the file when they hold an odd number of quotes (one opened
        and never closed), else None. Read again from the file: only a broken file pays for it."""
        with Source(self.source.path) as again:
            lines = list(itertools.islice(again.text(), first - 1, end))
        return lines if sum(line.count('"') for line in lines) % 2 else None

    # -- Parquet -------------------------------------------------------------------------------
    def _parquet(self) -> Iterator[RawChunk]:
        path = str(self.source.path)
        handle: Any = self.source.stream
        spill = None
        if self.source.compressed or not handle.seekable():  # Parquet needs random access: spill
            spill = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the chunks are exhausted
            shutil.copyfileobj(self.source.stream, spill, 1 << 20)
            spill.seek(0)
            handle = spill
        try:
            try:
                pfile = pq.ParquetFile(handle)
            except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, … for non-Parquet bytes
                raise InputFileError(f"{path}: not a Parquet file ({exc})") from None
            names = pfile.schema_arrow.names
            self.columns = unique_names(names)
            self.column_types = dict(zip(self.columns, pfile.schema_arrow.types, strict=True))
            self.smiles_col = smiles_column(path, names, self.smiles_col)
            for col in self._wanted:
                if col not in names:
                    raise missing_column(path, "column", col, names)
            self.warnings += check_unique(path, names, self._wanted, kept=self.all_columns)
        except InputFileError:
            if spill is not None:  # no chunks will be read to close it
                spill.close()
            raise
        return self._parquet_rows(pfile, spill)

    def _parquet_rows(self, pfile: pq.ParquetFile, spill: Any) -> Iterator[RawChunk]:
        cols = None if self.all_columns else list(dict.fromkeys(self._wanted))
        row = 0
        try:
            for batch in pfile.iter_batches(batch_size=self.chunk_rows, columns=cols):
                chunk = RawChunk()
                smiles = batch.column(self.smiles_col).to_pylist()
                if self.target_col is None:
                    targets: list[Any] = [None] * len(smiles)
                else:
                    targets = batch.column(self.target_col).to_pylist()
                inputs: list[Any] = [None] * len(smiles)
                if self.all_columns and self.columns == batch.schema.names:
                    inputs = batch.to_pylist()
                elif self.all_columns:  # to_pylist would keep one of two columns of one name
                    values = zip(*(c.to_pylist() for c in batch.columns), strict=True)
                    inputs = [dict(zip(self.columns, v, strict=True)) for v in values]
                for s, t, values in zip(smiles, targets, inputs, strict=True):
                    row += 1
                    record = {self.smiles_col: s, self.target_col or "target": t}
                    chunk.add(row, None if s is None else str(s), t, record, values)
                yield chunk
        finally:
            if spill is not None:
                spill.close()

    # -- SDF -----------------------------------------------------------------------------------
    def _sdf(self) -> Iterator[RawChunk]:
        text = self.source.text()
        records = sdf_records(text)
        first = next(records, None)
        path = str(self.source.path)
        if first is None:
            raise InputFileError(f"{path}: the file is empty; expected SDF records")
        if first.molblock is None and not first.terminated:
            raise InputFileError(f"{path}: not an SDF file (no 'M  END' or '$$$$' line in the first record)")
        for col in self._wanted:
            if col not in first.props:
                raise missing_column(path, "SD property", col, list(first.props))
        self.columns = list(first.props)
        if self.all_columns:  # any record may bring a new property: one pass reads their names
            with Source(self.source.path) as again:
                self.columns = property_names(again.text())
        return self._sdf_rows(first, records)

    def _sdf_rows(self, first: SdfRecord, rest: Iterator[SdfRecord]) -> Iterator[RawChunk]:
        chunk = RawChunk()
        unread: dict[str, int] = {}  # clashing properties molops does not read: records per name
        for row, record in enumerate(_chain(first, rest), start=1):
            inputs = record.props if self.all_columns else None
            clash, others = clash_reason(record, lambda name: self.all_columns or name in self._wanted)
            for name in others:
                unread[name] = unread.get(name, 0) + 1
            if record.molblock is None:  # no mol block, so no data items either: keep the raw text
                chunk.add_error(row, record.text, "malformed_row", "SDF record has no 'M  END' line", inputs)
            elif clash is not None:  # which value was meant is a guess: the record is quarantined
                chunk.add_error(row, record.text, "ambiguous_property", clash, inputs)
            else:
                structure = record.props.get(self.smiles_col) if self.smiles_col else record.molblock
                text = clean_text(structure) if structure else structure
                target = record.props.get(self.target_col) if self.target_col else None
                chunk.add(row, text, target, record.text, inputs)
            if len(chunk) >= self.chunk_rows:
                yield chunk
                chunk = RawChunk()
        for name, n in unread.items():
            records = "1 record gives" if n == 1 else f"{n} records give"
            self.warnings.append(
                f"{self.source.path}: {records} the SD property {name!r} more than once with "
                "different values; molops does not read it"
            )
        if chunk:
            yield chunk

    # -- SMILES lists ---------------------------------------------------------------------------
    def _smi(self) -> Iterator[RawChunk]:
        """One SMILES per line, optionally followed by whitespace and a name; '#' starts a comment.

        A first line whose first token is 'smiles' (any case) is taken as a header. A CXSMILES
        extension after the SMILES (``C1CC1 |$R;;$| name``) belongs to the structure, as RDKit's
        SMILES reader takes it; the name is what follows it.
        """
        chunk, row = RawChunk(), 0
        for number, line in enumerate(self.source.text(), start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            token, name = split_smi_line(text)
            if number == 1 and token.lower() == "smiles":
                continue
            row += 1
            inputs = {"smiles": clean_text(token), "name": clean_text(name) if name else None}
            chunk.add(row, clean_text(token), None, clean_text(text), inputs if self.all_columns else None)
            if len(chunk) >= self.chunk_rows:
                yield chunk
                chunk = RawChunk()
        if chunk:
            yield chunk


def _blank(fields: list[str]) -> bool:
    """A line the CSV reader gives as no field or one blank field."""
    return not fields or (len(fields) == 1 and not fields[0].strip())


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
