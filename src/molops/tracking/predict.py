"""Batch prediction: stream a file of molecules through a model bundle into a CSV or Parquet file.

The input is read in chunks (CSV/TSV/Parquet/SDF/SMI, gzipped or not), so a file of any size is
predicted with bounded memory. A row that cannot be predicted (unparsable SMILES, a molecule the
standardiser rejects) gets its reason in the ``error`` column; it never stops the run.

The output keeps the input's columns, in order (an SDF's properties; ``smiles`` and ``name`` of a
SMILES list), then adds :data:`ADDED`: ``row`` (the record's number in the input), the prediction
columns and the model. The added columns always have these names, so scripts can rely on them: an
input column of the same name is renamed ``input_<name>``, except the input's SMILES column when it
is called ``smiles``, which *is* the ``smiles`` column and is written once, where it was.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from molops._types import StrPath
from molops.data.log_writer import LogWriter
from molops.data.prediction_log import PredictionLog, rows_from_frame
from molops.data.readers import RecordReader
from molops.data.sources import FileFormat, Source, detect_format
from molops.errors import InputFileError
from molops.tracking.bundle import PREDICTION_COLUMNS, ModelBundle

Progress = Callable[[int, int, int], None]  # (rows, bytes read, total bytes)


#: The columns prediction adds after the input's, in order.
ADDED = ("row", *PREDICTION_COLUMNS, "model_name", "model_version")
#: Prefix of an input column whose name an added column takes.
INPUT_PREFIX = "input_"

#: Parquet types of the non-string added columns; every other added column is a string.
#: Fixed rather than inferred from the first chunk, where a column may be all null (e.g. ``error``
#: when every molecule of the chunk succeeded) and would be typed ``null`` for the whole file.
_PARQUET_TYPES = {
    "row": pa.int64(),
    "mean": pa.float64(),
    "std": pa.float64(),
    "similarity": pa.float64(),
    "in_domain": pa.bool_(),
    "model_version": pa.int64(),
}


class _Layout:
    """Where the input's columns and the added ones go in the output, and their Parquet types."""

    def __init__(self, reader: RecordReader) -> None:
        self.inputs = reader.columns
        #: the input's SMILES column when it is the ``smiles`` column itself (written once)
        self.shared = "smiles" if reader.structure_column == "smiles" and "smiles" in self.inputs else None
        taken = set(ADDED) | set(self.inputs)
        self.renamed: dict[str, str] = {}
        for name in self.inputs:
            if name in ADDED and name != self.shared:
                new = INPUT_PREFIX + name
                while new in taken:
                    new = INPUT_PREFIX + new
                taken.add(new)
                self.renamed[name] = new
        self.added = [c for c in ADDED if c != self.shared]
        self.columns = [self.renamed.get(c, c) for c in self.inputs] + self.added
        self.types = {self.renamed.get(c, c): t for c, t in reader.column_types.items()} | _PARQUET_TYPES

    def frame(self, inputs: list[dict[str, Any]], predicted: pd.DataFrame) -> pd.DataFrame:
        """The output rows of a chunk: input values as read (object columns keep their types)."""
        data = {
            self.renamed.get(c, c): pd.Series([r.get(c) for r in inputs], dtype=object) for c in self.inputs
        }
        data |= {c: predicted[c].reset_index(drop=True) for c in self.added}
        return pd.DataFrame(data, columns=self.columns)


class _Writer:
    """Appends prediction chunks to a CSV or Parquet file."""

    def __init__(self, out: Path, types: dict[str, pa.DataType] | None = None) -> None:
        self.out = out
        self.types = types or _PARQUET_TYPES
        self.kind = out.suffix.lower()
        if self.kind not in (".csv", ".parquet"):
            raise InputFileError(
                f"{out}: cannot write predictions to {self.kind or 'a file without suffix'}; "
                "expected .csv or .parquet"
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        self._parquet: pq.ParquetWriter | None = None
        self._first = True

    def write(self, frame: pd.DataFrame) -> None:
        if self.kind == ".csv":
            frame.to_csv(self.out, mode="w" if self._first else "a", header=self._first, index=False)
        else:
            schema = pa.schema([(c, self.types.get(c, pa.string())) for c in frame.columns])
            table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.out, schema)
            self._parquet.write_table(table)
        self._first = False

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()


def predict_file(
    bundle: ModelBundle,
    path: StrPath,
    out: StrPath,
    *,
    smiles_col: str | None = None,
    fmt: FileFormat | None = None,
    model_name: str = "",
    model_version: int | None = None,
    chunk_rows: int = 5000,
    applicability: bool = True,
    progress: Progress | None = None,
    log: PredictionLog | None = None,
) -> dict[str, Any]:
    """Predict every record of *path* into *out*; returns counts and timing.

    The output holds the input's columns, then :data:`ADDED` (see the module docstring). With
    *log*, every row also goes to the prediction log (source ``batch``, one request id for the
    run, ``position`` = the input row), written from a background thread while the next chunk runs.
    """
    started = time.perf_counter()
    batch_id = uuid.uuid4().hex
    writer = LogWriter(log, interval_s=60, max_rows=50_000) if log is not None else None
    path, out = Path(path), Path(out)
    fmt = fmt or detect_format(path)
    output: _Writer | None = None
    n = errors = 0
    try:
        with Source(path) as source:
            reader = RecordReader(source, fmt, smiles_col, None, chunk_rows, all_columns=True)
            layout = _Layout(reader)
            output = _Writer(out, layout.types)
            for chunk in reader:
                predicted = bundle.predict(
                    chunk.structures, applicability=applicability, fmt=reader.structure_format
                )
                for pos, (reason, detail) in chunk.read_errors.items():
                    predicted.loc[pos, "error"] = f"{reason}: {detail}"
                predicted.insert(0, "row", chunk.rows)
                predicted["model_name"] = model_name
                predicted["model_version"] = model_version
                output.write(layout.frame(chunk.inputs, predicted))
                if writer is not None:  # the log takes the predictions, not the user's columns
                    log_frame = predicted.rename(columns={"row": "position"})
                    writer.submit(rows_from_frame(log_frame, source="batch", request_id=batch_id))
                n += len(predicted)
                errors += int(predicted["error"].notna().sum())
                if progress:
                    progress(n, source.bytes_read, source.size)
        if n == 0:
            output.write(layout.frame([], bundle.predict([]).assign(row=[], model_name=[], model_version=[])))
    finally:
        if output is not None:
            output.close()
        if writer is not None:
            writer.close()
    seconds = time.perf_counter() - started
    return {
        "input": str(path),
        "output": str(out),
        "n": n,
        "predicted": n - errors,
        "errors": errors,
        "seconds": round(seconds, 3),
        "rows_per_s": round(n / seconds, 1) if seconds else None,
        "logged": writer.written if writer is not None else 0,
        "batch_id": batch_id,
    }
