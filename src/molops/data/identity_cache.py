"""The workspace's identity cache: what each raw SMILES string standardised to, in earlier ingests.

A result depends only on the text, the standardiser's rules and settings and the RDKit version,
so an ingest looks every SMILES up here first and standardises only the strings the workspace has
never seen. The cache is a Delta table at ``{storage}/identities``, partitioned by *rules* (a hash
of the last three): a rule change, another ``[ingest]`` setting or another RDKit reads another partition,
never a stale result. Appends from concurrent ingests (or machines sharing an object store) never
conflict; a string two of them learnt at once is stored twice with the same result, harmlessly.

Lookups hash each string (Python's ``hash``, in one process) into a sorted array and confirm a hit
by comparing the text, so the partition is held as Arrow columns plus 16 bytes per entry.

Each ingest appends one small file; once a partition has more than :data:`COMPACT_FILES`, the ingest
that published compacts it (Delta's ``optimize.compact``: the same rows in fewer files, one commit
that concurrent appends do not conflict with) and vacuums what earlier compactions removed more than
:data:`VACUUM_RETENTION_HOURS` ago, so a reader that listed the old files before keeps reading them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError
from rdkit import rdBase

from molops.chem.standardize import STANDARDIZER_VERSION, Rejected, Standardized, StandardizerSettings
from molops.data.validation import ResultRow
from molops.storage import Storage

log = logging.getLogger(__name__)

#: The table's columns; ``rules`` is the partition column (not stored in the data files).
RESULT_FIELDS = [
    pa.field("raw", pa.string(), nullable=False),
    pa.field("smiles", pa.string()),
    pa.field("inchikey", pa.string()),
    pa.field("heavy_atoms", pa.int32()),
    pa.field("molecular_weight", pa.float64()),
    pa.field("reason", pa.string()),
    pa.field("detail", pa.string()),
]
RESULT_SCHEMA = pa.schema(RESULT_FIELDS)
TABLE_SCHEMA = pa.schema([pa.field("rules", pa.string(), nullable=False), *RESULT_FIELDS])
#: Files of one rules partition above which a publishing ingest compacts it: an indexed load opens
#: every file, and a scanned lookup filters each one per call, so the count is kept small.
COMPACT_FILES = 32
#: Hours a file removed by compaction stays on storage before a vacuum deletes it (Delta's own
#: default): longer than any ingest that listed the partition's files before the compaction and is
#: still scanning them.
VACUUM_RETENTION_HOURS = 168


def rules_key(settings: StandardizerSettings) -> str:
    """16 hex digits naming the standardiser version, its settings and the RDKit version."""
    plain = {k: sorted(v) if isinstance(v, frozenset) else v for k, v in dataclasses.asdict(settings).items()}
    text = json.dumps(
        {"standardizer": STANDARDIZER_VERSION, "rdkit": rdBase.rdkitVersion, "settings": plain},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class IdentityLookup:
    """The results of one rules partition, searchable by raw SMILES."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table.combine_chunks()
        raw = self._table.column("raw").to_pylist()
        hashes = np.fromiter((hash(s) for s in raw), dtype=np.int64, count=len(raw))
        self._order = np.argsort(hashes, kind="stable")
        self._hashes = hashes[self._order]

    def __len__(self) -> int:
        return int(self._table.num_rows)

    def find(self, structures: list[str | None]) -> dict[int, Standardized | Rejected]:
        """{position: result} for the structures the cache knows."""
        if not len(self._hashes):
            return {}
        positions = [i for i, s in enumerate(structures) if s is not None]
        wanted = np.fromiter((hash(structures[i]) for i in positions), dtype=np.int64, count=len(positions))
        at = np.searchsorted(self._hashes, wanted)
        inside = at < len(self._hashes)
        hit = np.zeros(len(positions), dtype=bool)
        hit[inside] = self._hashes[at[inside]] == wanted[inside]
        if not hit.any():
            return {}
        rows = self._table.take(pa.array(self._order[at[hit]])).to_pylist()
        found: dict[int, Standardized | Rejected] = {}
        for pos, row in zip((p for p, h in zip(positions, hit, strict=True) if h), rows, strict=True):
            if row["raw"] != structures[pos]:  # a hash collision: not this string
                continue
            if row["reason"] is not None:
                found[pos] = Rejected(row["reason"], row["detail"] or "")
            else:
                found[pos] = Standardized(
                    row["smiles"], row["inchikey"], row["heavy_atoms"], row["molecular_weight"]
                )
        return found


class ScannedLookup:
    """:meth:`IdentityLookup.find` by a filtered scan of the partition's files per call: for a
    small ingest, cheaper than loading and indexing a large cache."""

    def __init__(self, dataset: Any) -> None:
        self._dataset = dataset

    def find(self, structures: list[str | None]) -> dict[int, Standardized | Rejected]:
        wanted = sorted({s for s in structures if s is not None})
        if not wanted:
            return {}
        table = self._dataset.to_table(filter=pc.field("raw").isin(wanted))
        lookup = IdentityLookup(table)
        return lookup.find(structures)


class IdentityCache:
    """The cache table at *storage* (``{workspace storage}/identities``) for one rules key."""

    def __init__(self, storage: Storage, settings: StandardizerSettings) -> None:
        self.storage = storage
        self.rules = rules_key(settings)

    def _table(self) -> DeltaTable | None:
        try:
            return DeltaTable(self.storage.root, storage_options=self.storage.options)
        except TableNotFoundError:
            return None

    def _files(self, table: DeltaTable | None = None) -> list[str]:
        table = table or self._table()
        if table is None:
            return []
        return list(table.file_uris(file_pruning_predicate=[("rules", "=", self.rules)]))

    def compact(
        self, min_files: int | None = None, retention_hours: int = VACUUM_RETENTION_HOURS
    ) -> dict[str, Any] | None:
        """Merge this rules partition's files when it has more than *min_files* (default
        :data:`COMPACT_FILES`), then delete the
        files compactions removed more than *retention_hours* ago; what it did, or None when the
        partition was small enough.

        The rows stay the same (strings two ingests stored twice included), so lookups do too.
        Another compaction committing first makes this one fail (:class:`DeltaError`); an append
        does not.
        """
        table = self._table()
        files = len(self._files(table)) if table is not None else 0
        if table is None or files <= (COMPACT_FILES if min_files is None else min_files):
            return None
        metrics = table.optimize.compact(partition_filters=[("rules", "=", self.rules)])
        # the retention is molops' own policy, enforced here rather than by the table's setting
        vacuumed = table.vacuum(retention_hours, dry_run=False, enforce_retention_duration=False)
        done = {
            "files_before": files,
            "files_added": int(metrics.get("numFilesAdded", 0)),
            "files_removed": int(metrics.get("numFilesRemoved", 0)),
            "files_vacuumed": len(vacuumed),
        }
        log.info("identity cache %s compacted: %s", self.storage.root, done)
        return done

    def load(self) -> IdentityLookup:
        """This rules key's results (none when the table does not exist yet), indexed in memory."""
        return IdentityLookup(self.storage.read_parquet(self._files(), RESULT_SCHEMA))

    def scanner(self) -> IdentityLookup | ScannedLookup:
        """A lookup that scans the stored results for each call's strings (for a small ingest)."""
        files = self._files()
        if not files:
            return IdentityLookup(RESULT_SCHEMA.empty_table())
        return ScannedLookup(self.storage.dataset(files, RESULT_SCHEMA))

    def writer(self) -> IdentityWriter:
        return IdentityWriter(self)


class IdentityWriter:
    """Collects new results in a local spill file during an ingest; :meth:`publish` appends them
    to the cache in one commit (streamed, so memory does not grow with the ingest's size)."""

    def __init__(self, cache: IdentityCache) -> None:
        self.cache = cache
        self._dir = tempfile.TemporaryDirectory(prefix="molops-identities-")
        self._path = Path(self._dir.name) / "new.parquet"
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def add(self, rows: list[ResultRow]) -> None:
        if not rows:
            return
        columns = list(zip(*rows, strict=True))
        batch = pa.record_batch(
            [pa.array(col, f.type) for col, f in zip(columns, RESULT_FIELDS, strict=True)],
            schema=RESULT_SCHEMA,
        )
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._path, RESULT_SCHEMA)
        self._writer.write_batch(batch)
        self.rows += len(rows)

    def publish(self) -> None:
        """Append what was collected, then compact the partition if it has too many files; a failure
        is logged, not raised (the cache only saves time)."""
        try:
            if self._writer is None:
                return
            self._writer.close()
            self._writer = None
            reader = pa.RecordBatchReader.from_batches(TABLE_SCHEMA, self._batches())
            write_deltalake(
                self.cache.storage.root,
                reader,
                mode="append",
                partition_by=["rules"],
                storage_options=self.cache.storage.options,
            )
        except (DeltaError, OSError) as exc:
            log.warning("identity cache %s not updated: %s", self.cache.storage.root, exc)
            return
        finally:
            self.close()
        try:
            self.cache.compact()
        except (DeltaError, OSError) as exc:  # e.g. another ingest compacted first: theirs serves
            log.info("identity cache %s not compacted: %s", self.cache.storage.root, exc)

    def _batches(self) -> Iterator[pa.RecordBatch]:
        rules: Any = None
        for batch in pq.ParquetFile(self._path).iter_batches(batch_size=65_536):
            if rules is None or len(rules) != batch.num_rows:
                rules = pa.array([self.cache.rules] * batch.num_rows, pa.string())
            yield pa.RecordBatch.from_arrays([rules, *batch.columns], schema=TABLE_SCHEMA)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._dir.cleanup()


#: Either way of finding cached results.
Lookup = IdentityLookup | ScannedLookup
