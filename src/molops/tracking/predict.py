"""Batch prediction: stream a file of molecules through a model bundle into a CSV or Parquet file.

The input is read in chunks (CSV/TSV/Parquet/SDF/SMI, gzipped or not), so a file of any size is
predicted with bounded memory. A row that cannot be predicted (unparsable SMILES, a molecule the
standardiser rejects) gets its reason in the ``error`` column; it never stops the run.
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
from molops.data.prediction_log import LogWriter, PredictionLog, rows_from_frame
from molops.data.readers import RecordReader
from molops.data.sources import FileFormat, Source, detect_format
from molops.errors import InputFileError
from molops.tracking.bundle import ModelBundle

Progress = Callable[[int, int, int], None]  # (rows, bytes read, total bytes)


#: Parquet types of the non-string columns of a prediction file; every other column is a string.
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


class _Writer:
    """Appends prediction chunks to a CSV or Parquet file."""

    def __init__(self, out: Path) -> None:
        self.out = out
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
            schema = pa.schema([(c, _PARQUET_TYPES.get(c, pa.string())) for c in frame.columns])
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

    With *log*, every row also goes to the prediction log (source ``batch``, one request id for the
    run, ``position`` = the input row), written from a background thread while the next chunk runs.
    """
    started = time.perf_counter()
    batch_id = uuid.uuid4().hex
    writer = LogWriter(log, interval_s=60, max_rows=50_000) if log is not None else None
    path, out = Path(path), Path(out)
    fmt = fmt or detect_format(path)
    if smiles_col is None and fmt in ("csv", "tsv", "parquet"):
        smiles_col = "smiles"
    output = _Writer(out)
    n = errors = 0
    try:
        with Source(path) as source:
            reader = RecordReader(source, fmt, smiles_col, None, chunk_rows)
            for chunk in reader:
                frame = bundle.predict(
                    chunk.structures, applicability=applicability, fmt=reader.structure_format
                )  # type: ignore[arg-type]
                for pos, (reason, detail) in chunk.read_errors.items():
                    frame.loc[pos, "error"] = f"{reason}: {detail}"
                frame.insert(0, "row", chunk.rows)
                frame["model_name"] = model_name
                frame["model_version"] = model_version
                output.write(frame)
                if writer is not None:
                    rows = rows_from_frame(frame, source="batch", request_id=batch_id)
                    for record in rows:
                        record["position"] = record["row"]
                    writer.submit(rows)
                n += len(frame)
                errors += int(frame["error"].notna().sum())
                if progress:
                    progress(n, source.bytes_read, source.size)
        if n == 0:
            output.write(
                pd.DataFrame(columns=["row", *bundle.predict([]).columns, "model_name", "model_version"])
            )
    finally:
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
