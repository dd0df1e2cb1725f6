"""Building features into the cache for a dataset version or a pool file.

Only molecules missing from the cache are computed; results are buffered and written as shards
of at most ``flush_rows`` rows and :data:`FLUSH_BYTES` bytes, so a build that is interrupted keeps
what it finished and a 10M pool never has to fit in memory. On a shared workspace a build that
misses molecules here first fetches what other machines published (:meth:`FeatureCache.sync`),
and computes only the rest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from molops.chem.standardize import StandardizerSettings
from molops.compute.local import Executor
from molops.data.pool import PoolIdentity, file_sha256
from molops.data.readers import RecordReader
from molops.data.sources import FileFormat, Source, detect_format
from molops.features.base import Featurizer
from molops.features.cache import KEY_DTYPE, FeatureCache, as_keys
from molops.features.work import featurize_smiles, identify_and_featurize
from molops.storage import Storage

Progress = Callable[[int, int], None]  # (done, total); total 0 when unknown


class BuildReport(BaseModel):
    """What a feature build did: ``n == computed + cached + no_identity``."""

    featurizer: str
    hash: str
    source: str
    n: int
    computed: int
    cached: int
    invalid: int
    no_identity: int
    #: Of ``cached``: rows fetched from the shared object store by this build (another machine
    #: computed them); 0 on a local workspace.
    fetched: int = 0
    seconds: float
    executor: str
    workers: int
    rows_per_s: float


#: A build writes its computed rows as a shard once they fill this many bytes (or ``flush_rows``
#: rows): Morgan counts are 4 KB a molecule, so a row count alone would hold 1 GB per 250k.
FLUSH_BYTES = 256 << 20


class _Buffer:
    """Collects computed rows in one preallocated array and writes them to the cache as shards of
    at most ``flush_rows`` rows and :data:`FLUSH_BYTES` bytes (the array is reused, never grown)."""

    def __init__(self, cache: FeatureCache, flush_rows: int) -> None:
        self.cache, self.flush_rows = cache, flush_rows
        self.keys = np.empty(0, dtype=KEY_DTYPE)
        self.data = np.empty((0, 0))
        self.errors: dict[int, str] = {}
        self.rows = 0
        self.written = 0
        self.pending: set[bytes] = set()  # keys computed but not flushed to the cache yet

    def _room(self, data: np.ndarray) -> int:
        """Rows the buffer holds (allocated on the first rows, as wide and typed as they are)."""
        if not len(self.keys):
            row_bytes = max(1, data.shape[1] * data.dtype.itemsize)
            capacity = max(1, min(self.flush_rows, FLUSH_BYTES // row_bytes))
            self.keys = np.empty(capacity, dtype=KEY_DTYPE)
            self.data = np.empty((capacity, data.shape[1]), dtype=data.dtype)
        return len(self.keys) - self.rows

    def add(self, keys: np.ndarray, data: np.ndarray, errors: dict[int, str]) -> None:
        start = 0
        while start < len(keys):
            take = min(self._room(data), len(keys) - start)
            stop, at = start + take, self.rows
            self.keys[at : at + take] = keys[start:stop]
            self.data[at : at + take] = data[start:stop]
            for pos, reason in errors.items():
                if start <= pos < stop:
                    self.errors[at + pos - start] = reason
            self.pending.update(keys[start:stop].tolist())
            self.rows += take
            start = stop
            if self.rows >= len(self.keys):
                self.flush()

    def flush(self) -> None:
        if self.rows:
            n = self.rows
            self.written += self.cache.add(self.keys[:n], self.data[:n], self.errors)
        self.errors, self.rows = {}, 0
        self.pending = set()


def _chunks(index: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(index), size):
        yield index[start : start + size]


def build_for_molecules(
    cache: FeatureCache,
    executor: Executor,
    inchikeys: list[str] | np.ndarray,
    smiles: list[str] | np.ndarray,
    *,
    chunk_rows: int = 2000,
    flush_rows: int = 250_000,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Featurize the molecules not yet cached. Returns (computed, cached)."""
    keys = as_keys(inchikeys)
    keys, first = np.unique(keys, return_index=True)
    smiles_arr = np.asarray(smiles, dtype=object)[first]
    missing = cache.missing(keys)
    if missing.any() and cache.shared is not None and cache.sync():
        missing = cache.missing(keys)  # another machine computed some of them
    todo = np.flatnonzero(missing)
    buffer = _Buffer(cache, flush_rows)
    spec = cache.featurizer.spec
    pieces = list(_chunks(todo, chunk_rows))
    units = ((spec, list(smiles_arr[idx])) for idx in pieces)
    done = 0
    for idx, (data, errors) in zip(pieces, executor.map(featurize_smiles, units), strict=True):
        buffer.add(keys[idx], data, errors)
        done += len(idx)
        if progress:
            progress(done, len(todo))
    buffer.flush()
    return len(todo), len(keys) - len(todo)


def pool_identity(
    path: Path,
    identity_root: Path,
    settings: StandardizerSettings,
    *,
    smiles_col: str | None = None,
    fmt: FileFormat | None = None,
    shared: Storage | None = None,
) -> tuple[PoolIdentity, FileFormat, str | None]:
    """The identity table of a pool file (it may not exist yet), with the format and SMILES column.

    The identity depends on the file's bytes and on how they are read and standardised. *shared*:
    ``{storage}/pools`` of a workspace on an object store, where the table is published and found.
    """
    fmt = fmt or detect_format(path)
    if smiles_col is None and fmt in ("csv", "tsv", "parquet"):  # the column named smiles, any case
        with Source(path) as source:
            smiles_col = RecordReader(source, fmt, None, None, chunk_rows=16).smiles_col
    how = json.dumps([fmt, smiles_col, asdict(settings)], sort_keys=True, default=sorted)
    return PoolIdentity(identity_root, file_sha256(path), how, shared), fmt, smiles_col


def build_for_pool(
    cache: FeatureCache | None,
    executor: Executor,
    path: Path,
    identity_root: Path,
    settings: StandardizerSettings,
    *,
    smiles_col: str | None = None,
    fmt: FileFormat | None = None,
    chunk_rows: int = 2000,
    flush_rows: int = 250_000,
    progress: Progress | None = None,
    shared: Storage | None = None,
) -> dict[str, int]:
    """Featurize a pool file, standardising it first unless its identity table exists here or on
    the *shared* store (*cache* None: write the identity table only, for models that read SMILES)."""
    identity, fmt, smiles_col = pool_identity(
        path, identity_root, settings, smiles_col=smiles_col, fmt=fmt, shared=shared
    )
    if identity.exists():
        identity.publish(missing_only=True)  # written before the workspace was shared, or upload failed
        if cache is None:
            return _identity_counts(identity)
        counts = _pool_warm(cache, executor, identity, chunk_rows, flush_rows, progress)
        counts.update(_feature_counts(cache, identity))
        return counts
    if cache is not None and cache.shared is not None:
        cache.sync()  # molecules other machines featurized are stored once, not again
    buffer = _Buffer(cache, flush_rows) if cache is not None else None
    counts = {"n": 0, "computed": 0, "cached": 0, "no_identity": 0}
    writer = identity.writer()
    try:
        with Source(path) as source:
            reader = RecordReader(source, fmt, smiles_col, None, chunk_rows)
            rows: list[list[int]] = []

            def units() -> Iterator[tuple[Any, ...]]:
                for chunk in reader:
                    rows.append(chunk.rows)
                    yield (
                        None if cache is None else cache.featurizer.spec,
                        settings,
                        chunk.structures,
                        chunk.read_errors,
                        reader.structure_format,
                    )

            for result in executor.map(identify_and_featurize, units()):
                writer.write(rows.pop(0), result["smiles"], result["keys"], result["errors"])
                _take(result, cache, buffer, counts)
                if progress:
                    progress(source.bytes_read, source.size)
        if buffer is not None:
            buffer.flush()
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    if cache is not None:
        counts.update(_feature_counts(cache, identity))
    return counts


def _identity_counts(identity: PoolIdentity) -> dict[str, int]:
    """The counts of a build that found the identity table written and needed nothing else."""
    counts = {"n": 0, "computed": 0, "cached": 0, "no_identity": 0}
    for batch in identity.batches():
        keys = batch.column("inchikey")
        counts["n"] += len(keys)
        counts["no_identity"] += keys.null_count
    counts["cached"] = counts["n"] - counts["no_identity"]
    return counts


def _feature_counts(cache: FeatureCache, identity: PoolIdentity) -> dict[str, int]:
    """Pool rows with an identity whose featurization failed (cached with valid=False), and rows
    whose features this build fetched from the shared store."""
    counts = {"feature_errors": 0, "fetched": 0}
    for batch in identity.batches():
        keys = [k for k in batch.column("inchikey").to_pylist() if k is not None]
        counts["feature_errors"] += int((~cache.valid(keys)).sum())
        counts["fetched"] += cache.fetched_rows(keys)
    return counts


def _take(
    result: dict[str, Any], cache: FeatureCache | None, buffer: _Buffer | None, counts: dict[str, int]
) -> None:
    valid = result["valid"]
    counts["n"] += len(result["keys"])
    counts["no_identity"] += len(result["keys"]) - len(valid)
    if cache is None or buffer is None:  # the identity only
        counts["computed"] += len(valid)
        return
    if not valid:
        return
    keys = as_keys([result["keys"][i] for i in valid])
    missing = cache.missing(keys)
    # the same molecule may appear twice in a chunk or pool: count it computed once
    seen_before = np.fromiter((k in buffer.pending for k in keys.tolist()), dtype=bool, count=len(keys))
    _, first = np.unique(keys, return_index=True)
    seen_before[np.setdiff1d(np.arange(len(keys)), first)] = True
    new = missing & ~seen_before
    counts["computed"] += int(new.sum())
    counts["cached"] += len(keys) - int(new.sum())
    idx = np.flatnonzero(new)
    errors = {
        int(j): result["feature_errors"][int(i)]
        for j, i in enumerate(idx)
        if int(i) in result["feature_errors"]
    }
    buffer.add(keys[idx], result["data"][idx], errors)


def _pool_warm(
    cache: FeatureCache,
    executor: Executor,
    identity: PoolIdentity,
    chunk_rows: int,
    flush_rows: int,
    progress: Progress | None,
) -> dict[str, int]:
    counts = {"n": 0, "computed": 0, "cached": 0, "no_identity": 0}
    total = identity.rows()
    for batch in identity.batches():
        keys = np.asarray(batch.column("inchikey").to_pylist(), dtype=object)
        has = np.array([k is not None for k in keys], dtype=bool)
        counts["n"] += len(keys)
        counts["no_identity"] += int((~has).sum())
        smiles = np.asarray(batch.column("smiles").to_pylist(), dtype=object)[has]
        computed, cached = build_for_molecules(
            cache, executor, keys[has].astype(str), smiles, chunk_rows=chunk_rows, flush_rows=flush_rows
        )
        duplicates = int(has.sum()) - computed - cached
        counts["computed"] += computed
        counts["cached"] += cached + duplicates
        if progress:
            progress(counts["n"], total)
    return counts


def report(
    featurizer: Featurizer,
    source: str,
    counts: dict[str, int],
    invalid: int,
    started: float,
    executor: Executor,
) -> BuildReport:
    seconds = time.perf_counter() - started
    return BuildReport(
        featurizer=featurizer.spec,
        hash=featurizer.hash,
        source=source,
        n=counts["n"],
        computed=counts["computed"],
        cached=counts["cached"],
        invalid=invalid,
        no_identity=counts["no_identity"],
        fetched=counts.get("fetched", 0),
        seconds=round(seconds, 3),
        executor=executor.kind,
        workers=executor.workers,
        rows_per_s=round(counts["n"] / seconds, 1) if seconds > 0 else 0.0,
    )
