"""Ingest: stream a file through validation, merge replicates, commit one dataset version.

Reading and standardisation (the slow part) run in parallel and outside the dataset's lock;
only the merge with the latest version and the commit run under it, so two concurrent ingests
into one dataset both land, one after the other, each on top of the other's result.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
from pydantic import BaseModel

from molops._types import StrPath
from molops._version import __version__
from molops.chem.standardize import STANDARDIZER_VERSION, StandardizerSettings
from molops.compute.local import LocalExecutor
from molops.config import IngestSection
from molops.data.identity_cache import IdentityCache, IdentityWriter, Lookup
from molops.data.readers import RawChunk, RecordReader
from molops.data.replicates import group_replicates_arrow, merge_measurements
from molops.data.sources import FileFormat, Source, detect_format
from molops.data.store import CORE_COLUMNS, QUARANTINE_SCHEMA, DatasetStore, now_utc
from molops.data.validation import ChunkVerdict, validate_chunk_in_process
from molops.errors import InputFileError, InvalidNameError, UnitsMismatchError
from molops.storage import Storage

#: Files smaller than this are validated in-process: a worker pool costs more than it saves.
PARALLEL_MIN_BYTES = 512 << 10

ProgressCallback = Callable[[int, int, int], None]  # (rows read, bytes consumed, total bytes)


class IngestReport(BaseModel):
    """What an ingest did; ``rows_in == accepted + quarantined + merged_duplicates`` always."""

    dataset: str
    version: int
    unchanged: bool
    rows_in: int
    accepted: int
    quarantined: int
    merged_duplicates: int
    added: int
    updated: int
    flagged_replicates: int
    reasons: dict[str, int]
    target: str
    units: str | None
    source: str
    sha256: str
    seconds: float
    #: work units the file was validated in, and the worker processes that validated at least one
    #: (0: all in this process, as below PARALLEL_MIN_BYTES or with ``workers=1``)
    chunks: int = 0
    workers_used: int = 0
    #: rows whose structure string the workspace's identity cache knew (not standardised again)
    from_cache: int = 0
    #: what was odd about the file but did not stop the ingest, one sentence each (a column
    #: named twice that molops does not read, an SD property given twice that it does not read)
    warnings: list[str] = []


def _check_target_name(target: str) -> None:
    if target in CORE_COLUMNS or target.endswith(("_std", "_n", "_replicates", "_disagree")):
        raise InvalidNameError(
            f"target column {target!r} clashes with molops' own columns; rename it in the file "
            "(names equal to a core column or ending in _std, _n, _replicates or _disagree are reserved)"
        )


def standardizer_settings(cfg: IngestSection) -> StandardizerSettings:
    return StandardizerSettings(
        max_heavy_atoms=cfg.max_heavy_atoms,
        min_heavy_atoms=cfg.min_heavy_atoms,
        max_molecular_weight=cfg.max_molecular_weight,
        allowed_elements=frozenset(cfg.allowed_elements),
        reject_radicals=cfg.reject_radicals,
        reject_inorganic=cfg.reject_inorganic,
    )


ACCEPTED_SCHEMA = pa.schema(
    [("inchikey", pa.string()), ("smiles", pa.string()), ("value", pa.float64()), ("row", pa.int64())]
)


class _Collector:
    """Accumulates accepted measurements and quarantine rows from validated chunks."""

    def __init__(self, source: str, target: str) -> None:
        self.source, self.target = source, target
        self.rows_in = 0
        self.chunks = 0
        self.pids: set[int] = set()  # the processes that validated chunks
        #: accepted measurements, one Arrow batch per chunk: a few dozen bytes a row, not objects
        self.accepted: list[pa.RecordBatch] = []
        self.accepted_rows = 0
        self.from_cache = 0  # rows answered by the identity cache
        self.reasons: Counter[str] = Counter()
        self.quarantine: dict[str, list[Any]] = {n: [] for n in ("row", "reason", "detail", "raw")}
        self.warnings: list[str] = []

    def add(self, chunk: RawChunk, verdict: ChunkVerdict) -> None:
        self.rows_in += len(chunk)
        self.chunks += 1
        rows = chunk.rows
        self.accepted.append(
            pa.record_batch(
                [
                    pa.array(verdict.inchikeys, pa.string()),
                    pa.array(verdict.smiles, pa.string()),
                    pa.array(verdict.values, pa.float64()),
                    pa.array([rows[p] for p in verdict.accepted], pa.int64()),
                ],
                schema=ACCEPTED_SCHEMA,
            )
        )
        self.accepted_rows += len(verdict.accepted)
        for pos, reason, detail in verdict.rejected:
            self.reasons[reason] += 1
            self.quarantine["row"].append(chunk.rows[pos])
            self.quarantine["reason"].append(reason)
            self.quarantine["detail"].append(detail)
            self.quarantine["raw"].append(chunk.raw(pos))

    def quarantine_table(self, ingest_id: str, version: int) -> pa.Table:
        q = self.quarantine
        n = len(q["row"])
        hashes = [
            hashlib.sha1(f"{self.target}\0{r}\0{raw}".encode()).hexdigest()
            for r, raw in zip(q["reason"], q["raw"], strict=True)
        ]
        return pa.table(
            {
                "ingest_id": [ingest_id] * n,
                "dataset_version": [version] * n,
                "time": pa.array([now_utc()] * n, pa.timestamp("us", tz="UTC")),
                "source": [self.source] * n,
                "row": q["row"],
                "target": [self.target] * n,
                "reason": q["reason"],
                "detail": q["detail"],
                "raw": q["raw"],
                "hash": hashes,
            },
            schema=QUARANTINE_SCHEMA,
        )


def ingest_file(
    store: DatasetStore,
    path: StrPath,
    *,
    smiles_col: str | None,
    target_col: str,
    units: str | None = None,
    fmt: FileFormat | None = None,
    config: IngestSection | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    source_name: str | None = None,
    identities: Storage | None = None,
) -> IngestReport:
    """Validate *path* and commit it as the next version of *store*'s dataset.

    *identities*: the workspace's identity cache table (:mod:`molops.data.identity_cache`); a
    SMILES string found there is not standardised again, and the strings standardised here are
    added to it (in a thread, while the version is merged and committed).
    """
    cfg = config or IngestSection()
    _check_target_name(target_col)
    started = time.perf_counter()
    fmt = fmt or detect_format(path)
    settings = standardizer_settings(cfg)
    bounds = cfg.ranges.get(target_col)
    value_range = (bounds.min, bounds.max) if bounds else (None, None)
    cache = IdentityCache(identities, settings) if identities is not None else None
    learnt = cache.writer() if cache is not None else None
    publishing: threading.Thread | None = None
    try:
        with Source(path) as source:
            reader = RecordReader(source, fmt, smiles_col, target_col, cfg.chunk_rows)
            n_workers = workers if workers is not None else cfg.workers
            if source.size < PARALLEL_MIN_BYTES:
                n_workers = 1
            lookup = None
            if cache is not None and reader.structure_format == "smiles":
                # a small file scans the cache for its strings; a large one indexes it once
                lookup = cache.scanner() if source.size < PARALLEL_MIN_BYTES else cache.load()
            collector = _Collector(source_name or source.name, target_col)
            _validate(reader, source, n_workers, settings, value_range, lookup, collector, learnt, progress)
            sha256 = source.finish()
            collector.warnings = reader.warnings
        if learnt is not None:  # valid whatever the commit does: written while it merges
            publishing = threading.Thread(target=learnt.publish, name="molops-identities", daemon=True)
            publishing.start()
        incoming = group_replicates_arrow(pa.Table.from_batches(collector.accepted, ACCEPTED_SCHEMA))
        collector.accepted.clear()
        # a writer elsewhere that commits first makes this merge again on its version (never lost)
        return store.retrying(
            lambda: _commit(store, collector, incoming, cfg, target_col, units, sha256, started)
        )
    finally:
        if publishing is not None:
            publishing.join()
        if learnt is not None:
            learnt.close()


def _validate(
    reader: RecordReader,
    source: Source,
    n_workers: int,
    settings: StandardizerSettings,
    value_range: tuple[float | None, float | None],
    lookup: Lookup | None,
    collector: _Collector,
    learnt: IdentityWriter | None,
    progress: ProgressCallback | None,
) -> None:
    """Stream *reader*'s chunks through validation (in worker processes when *n_workers* > 1).

    The executor keeps a few chunks in flight, so this process reads, looks up and collects the
    next chunks while the workers standardise; rows whose string the identity cache knows travel
    with its result, so a worker standardises only the others.
    """
    executor = LocalExecutor(n_workers, preload=("molops.data.validation",))
    chunks: deque[RawChunk] = deque()

    def units_of_work() -> Iterator[tuple[Any, ...]]:
        for chunk in reader:
            chunks.append(chunk)
            known = lookup.find(chunk.structures) if lookup is not None else None
            collector.from_cache += len(known or ())
            yield (
                chunk.structures,
                chunk.targets,
                chunk.read_errors,
                reader.structure_format,
                settings,
                value_range,
                known or None,
            )

    try:
        for pid, verdict in executor.map(validate_chunk_in_process, units_of_work()):
            collector.pids.add(pid)
            collector.add(chunks.popleft(), verdict)
            if learnt is not None:
                learnt.add(verdict.fresh)
            if progress:
                progress(collector.rows_in, source.bytes_read, source.size)
    except (OSError, EOFError) as exc:
        raise InputFileError(f"{source.path}: unreadable ({exc})") from None


def _commit(
    store: DatasetStore,
    collector: _Collector,
    incoming: pa.Table,
    cfg: IngestSection,
    target: str,
    units: str | None,
    sha256: str,
    started: float,
) -> IngestReport:
    accepted = incoming.num_rows
    with store.lock():
        latest = store.latest_version()
        current = store.read_table(latest) if latest is not None else None
        history = store.versions() if latest is not None else []
        known_units = _units_of(history, target)
        if units is not None and known_units is not None and units != known_units:
            raise UnitsMismatchError(
                f"dataset {store.name!r} holds {target!r} in units {known_units!r}, "
                f"not {units!r}; convert the file or ingest it as another target"
            )
        version = (latest or 0) + 1
        repeated = cfg.on_existing == "accumulate" and any(
            v.lineage.get("source", {}).get("sha256") == sha256 for v in history
        )
        merge = merge_measurements(
            current,
            incoming if not repeated else incoming.slice(0, 0),
            target=target,
            version=version,
            source=collector.source,
            how=cfg.aggregation,
            on_existing=cfg.on_existing,
            tolerance=cfg.replicate_tolerance,
            relative_tolerance=cfg.replicate_relative_tolerance,
        )
        ingest_id = uuid.uuid4().hex
        quarantine = collector.quarantine_table(ingest_id, version)
        known_rejects = store.quarantine_hashes() if latest else set()
        new_rejects = set(quarantine.column("hash").to_pylist()) - known_rejects
        unchanged = (
            merge.added == 0
            and merge.updated == 0
            and not new_rejects
            and (units is None or units == known_units)
        )
        report: dict[str, Any] = dict(
            dataset=store.name,
            rows_in=collector.rows_in,
            accepted=accepted,
            quarantined=sum(collector.reasons.values()),
            merged_duplicates=collector.accepted_rows - accepted,
            added=merge.added,
            updated=merge.updated,
            flagged_replicates=merge.flagged,
            reasons=dict(sorted(collector.reasons.items())),
            target=target,
            units=units or known_units,
            source=collector.source,
            sha256=sha256,
            chunks=collector.chunks,
            workers_used=len(collector.pids - {os.getpid()}),
            from_cache=collector.from_cache,
            warnings=collector.warnings,
        )
        if latest is not None and unchanged:
            return IngestReport(
                version=latest, unchanged=True, seconds=round(time.perf_counter() - started, 3), **report
            )
        lineage = {
            "version": version,
            "operation": "ingest",
            "ingest_id": ingest_id,
            "source": {"name": collector.source, "sha256": sha256},
            "time": now_utc().isoformat(),
            "molops_version": __version__,
            # the rules that named this version's molecules: a later version of them (E/Z read from
            # SMILES since 4) can split or merge keys, which only a new ingest applies
            "standardizer": STANDARDIZER_VERSION,
            "settings": {"aggregation": cfg.aggregation, "on_existing": cfg.on_existing},
            **{
                k: report[k]
                for k in (
                    "rows_in",
                    "accepted",
                    "quarantined",
                    "merged_duplicates",
                    "added",
                    "updated",
                    "flagged_replicates",
                    "reasons",
                    "target",
                    "units",
                )
            },
        }
        store.commit(merge.snapshot, lineage, quarantine)
    return IngestReport(
        version=version, unchanged=False, seconds=round(time.perf_counter() - started, 3), **report
    )


def _units_of(history: list[Any], target: str) -> str | None:
    for info in reversed(history):
        if info.lineage.get("target") == target and info.lineage.get("units"):
            return str(info.lineage["units"])
    return None
