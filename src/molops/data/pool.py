"""Pools: candidate libraries (SMILES lists, CSV/TSV, Parquet, SDF; gzipped or not), streamed.

The first time a pool file is used, every row is standardised like an ingested molecule and its
identity (row, standardised SMILES, InChIKey, or the reason it has none) is written to an
*identity table* named by the file's sha256. Later passes over the same file, for any featurizer
or model, read that table instead of re-standardising.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from molops._types import StrPath
from molops.errors import InputFileError

#: The standardisation rules an identity table was written under; tables of older rules are not
#: read. 2: a SMILES with whitespace inside it is refused (it was read up to its first space).
IDENTITY_RULES = 2

IDENTITY_SCHEMA = pa.schema(
    [
        pa.field("row", pa.int64(), nullable=False),
        pa.field("smiles", pa.string()),
        pa.field("inchikey", pa.string()),
        pa.field("error", pa.string()),
    ]
)


def file_sha256(path: StrPath) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read ({exc.strerror})") from None
    return digest.hexdigest()


class PoolIdentity:
    """The identity table of one pool file read one way, under ``<workspace>/pools/<sha16>-<how8>/``.

    *how* describes how rows become identities (format, SMILES column, standardiser settings):
    the same bytes read another way get another table.
    """

    def __init__(self, root: Path, sha256: str, how: str = "") -> None:
        self.sha256 = sha256
        variant = hashlib.sha256(f"{IDENTITY_RULES}\n{how}".encode()).hexdigest()[:8]
        self.dir = root / f"{sha256[:16]}-{variant}"
        self.path = self.dir / "identity.parquet"

    def exists(self) -> bool:
        return self.path.is_file()

    def rows(self) -> int:
        return int(pq.ParquetFile(self.path).metadata.num_rows)

    def batches(self, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        yield from pq.ParquetFile(self.path).iter_batches(batch_size=rows)

    def writer(self) -> IdentityWriter:
        return IdentityWriter(self)


class IdentityWriter:
    """Streams identity rows to a temporary file, renamed into place only when complete."""

    def __init__(self, identity: PoolIdentity) -> None:
        identity.dir.mkdir(parents=True, exist_ok=True)
        self.final = identity.path
        self.tmp = identity.path.with_suffix(".parquet.partial")
        self._writer = pq.ParquetWriter(self.tmp, IDENTITY_SCHEMA)

    def write(
        self, rows: list[int], smiles: list[str | None], keys: list[str | None], errors: list[str | None]
    ) -> None:
        batch = pa.record_batch([rows, smiles, keys, errors], schema=IDENTITY_SCHEMA)
        self._writer.write_batch(batch)

    def commit(self) -> None:
        self._writer.close()
        self.tmp.replace(self.final)

    def abort(self) -> None:
        self._writer.close()
        self.tmp.unlink(missing_ok=True)
