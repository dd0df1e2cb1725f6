"""Pools: candidate libraries (SMILES lists, CSV/TSV, Parquet, SDF; gzipped or not), streamed.

The first time a pool file is used, every row is standardised like an ingested molecule and its
identity (row, standardised SMILES, InChIKey, or the reason it has none) is written to an
*identity table* named by the file's sha256. Later passes over the same file, for any featurizer
or model, read that table instead of re-standardising.

On a workspace whose storage is an object store the table is also published there, under
``{storage}/pools/<sha16>-<how8>/``: ``identity-<sha16 of the table>.parquet`` (named by its
content, so two machines writing it at once never overwrite each other's bytes) and then
``identity.json``, which names that file with its size and sha256. Another machine that lacks the
table downloads it (checked against ``identity.json``) instead of standardising the pool again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from molops._types import StrPath
from molops.errors import InputFileError
from molops.storage import Storage, StorageError

log = logging.getLogger(__name__)

#: The standardisation rules an identity table was written under; tables of older rules are not
#: read. 2: a SMILES with whitespace inside it is refused (it was read up to its first space).
#: 3: a dummy atom (``*``) is a disallowed element (it was ``no_identity``). 4: a CXSMILES
#: (``C1CC1 |$R;;$|``) is read with its extension (it was refused for its space). 5: a SMILES
#: keeps its double bonds' E/Z in its InChIKey (cis and trans isomers had one identity), and so
#: does a CXSMILES's ``c:``/``t:`` marks; a mol block's key is its parent's, not its coordinates'.
IDENTITY_RULES = 5

#: The object naming a pool's published identity table (written after the table).
DESCRIPTOR = "identity.json"

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
    the same bytes read another way get another table. *shared*: ``{storage}/pools`` of a
    workspace on an object store (None: local only).
    """

    def __init__(self, root: Path, sha256: str, how: str = "", shared: Storage | None = None) -> None:
        self.sha256 = sha256
        variant = hashlib.sha256(f"{IDENTITY_RULES}\n{how}".encode()).hexdigest()[:8]
        self.dir = root / f"{sha256[:16]}-{variant}"
        self.path = self.dir / "identity.parquet"
        self.shared = None if shared is None else shared.child(self.dir.name)
        #: Whether :meth:`exists` downloaded the table from the shared store.
        self.fetched = False

    def exists(self) -> bool:
        """Whether the table is here, or published on the shared store (then it is downloaded)."""
        return self.path.is_file() or (self.shared is not None and self._fetch())

    def _fetch(self) -> bool:
        assert self.shared is not None
        raw = self.shared.get_bytes(DESCRIPTOR)
        if raw is None:
            return False
        descriptor = json.loads(raw)
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            sha = self.shared.get_file(tmp, descriptor["file"])
            size = tmp.stat().st_size
            if (size, sha) != (descriptor["bytes"], descriptor["sha256"]):
                raise StorageError(
                    f"{self.shared.uri(descriptor['file'])} has {size} bytes (sha256 {sha[:12]}…), "
                    f"{DESCRIPTOR} says {descriptor['bytes']} bytes (sha256 {descriptor['sha256'][:12]}…)"
                )
        except StorageError as exc:
            log.warning(
                "shared identity table of pool %s skipped, standardising here: %s", self.sha256[:16], exc
            )
            tmp.unlink(missing_ok=True)
            return False
        tmp.replace(self.path)
        self.fetched = True
        return True

    def publish(self, missing_only: bool = False) -> None:
        """Upload the local table to the shared store (nothing on a local workspace); with
        *missing_only*, only when no table is published yet."""
        if self.shared is None or (missing_only and self.shared.get_bytes(DESCRIPTOR) is not None):
            return
        sha = file_sha256(self.path)
        name = f"identity-{sha[:16]}.parquet"
        self.shared.put_file(self.path, name)
        descriptor = {
            "file": name,
            "bytes": self.path.stat().st_size,
            "sha256": sha,
            "pool_sha256": self.sha256,
        }
        self.shared.put_bytes(json.dumps(descriptor, indent=1, sort_keys=True).encode(), DESCRIPTOR)

    def rows(self) -> int:
        return int(pq.ParquetFile(self.path).metadata.num_rows)

    def batches(self, rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        yield from pq.ParquetFile(self.path).iter_batches(batch_size=rows)

    def writer(self) -> IdentityWriter:
        return IdentityWriter(self)


class IdentityWriter:
    """Streams identity rows to a temporary file, renamed into place only when complete (and then
    published, on a shared workspace). Each writer has its own temporary file, so two processes
    writing one pool's table at once each rename a whole table into place."""

    def __init__(self, identity: PoolIdentity) -> None:
        identity.dir.mkdir(parents=True, exist_ok=True)
        self.identity = identity
        self.final = identity.path
        self.tmp = identity.path.with_name(f"{identity.path.name}.partial-{uuid.uuid4().hex[:8]}")
        self._writer = pq.ParquetWriter(self.tmp, IDENTITY_SCHEMA)

    def write(
        self, rows: list[int], smiles: list[str | None], keys: list[str | None], errors: list[str | None]
    ) -> None:
        batch = pa.record_batch([rows, smiles, keys, errors], schema=IDENTITY_SCHEMA)
        self._writer.write_batch(batch)

    def commit(self) -> None:
        self._writer.close()
        self.tmp.replace(self.final)
        self.identity.publish()

    def abort(self) -> None:
        self._writer.close()
        self.tmp.unlink(missing_ok=True)
