"""The Python API of a workspace's features: build, read, list and prune cached features.

On a workspace whose storage is an object store, ``features/`` and ``pools/`` in the workspace
directory are read-through copies of ``{storage}/features`` and ``{storage}/pools``: builds fetch
what other machines published before computing, and publish what they compute. ``list`` and
``prune`` see this machine's copies (pruning frees local disk; the shared copies stay).
"""

from __future__ import annotations

import builtins
import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from molops.chem.standardize import STANDARDIZER_VERSION, StandardizerSettings
from molops.compute import get_executor
from molops.compute.local import Executor
from molops.data.dataset import Dataset
from molops.data.pool import PoolIdentity
from molops.data.sources import FileFormat
from molops.features.base import Featurizer, InvalidSpecError, get_featurizer
from molops.features.build import (
    BuildReport,
    Progress,
    build_for_molecules,
    build_for_pool,
    pool_identity,
    report,
)
from molops.features.cache import MANIFEST, FeatureCache
from molops.features.work import graph_errors
from molops.storage import Storage

#: Modules a fresh worker process imports once (RDKit and the featurizers).
PRELOAD = ("molops.features.work",)


class FeatureStore:
    """Every featurizer's cache in one workspace (``<workspace>/features``)."""

    def __init__(
        self,
        root: Path,
        lock_dir: Path,
        pools_dir: Path,
        settings: StandardizerSettings,
        chunk_rows: int = 2000,
        shared: Storage | None = None,
    ) -> None:
        """*shared*: the workspace's object store, whose ``features`` and ``pools`` these
        directories cache (None: a local workspace, whose caches exist only here)."""
        self.root = root
        self.lock_dir = lock_dir
        self.pools_dir = pools_dir
        self.settings = settings
        self.chunk_rows = chunk_rows
        self.shared = shared

    def cache(self, featurizer: str | Featurizer) -> FeatureCache:
        f = _featurizer(featurizer)
        if f.kind == "graph":
            raise InvalidSpecError(
                f"featurizer {f.spec!r} makes molecular graphs, which are built when a graph model loads "
                "its molecules and never cached; graph models (dmpnn) take the SMILES"
            )
        shared = None if self.shared is None else self.shared.child("features")
        return FeatureCache(self.root, f, self.lock_dir, shared)

    def _shared_pools(self) -> Storage | None:
        return None if self.shared is None else self.shared.child("pools")

    def _executor(self, executor: str, workers: int, address: str | None, n: int | None) -> Executor:
        if executor == "local" and workers == 0 and n is not None and n < 4 * self.chunk_rows:
            workers = 1  # unless asked: a pool costs more than it saves on a few thousand molecules
        return get_executor(executor, workers, address, preload=PRELOAD)

    def build_dataset(
        self,
        dataset: Dataset,
        featurizer: str | Featurizer,
        *,
        version: int | None = None,
        executor: str = "local",
        workers: int = 0,
        address: str | None = None,
        progress: Progress | None = None,
    ) -> BuildReport:
        """Featurize every molecule of a dataset version that is not cached yet (``graph``: check
        that every molecule has a graph; graphs are not cached)."""
        started = time.perf_counter()
        f = _featurizer(featurizer)
        frame = dataset.read(version)
        info = dataset.store.resolve(version)
        ex = self._executor(executor, workers, address, len(frame))
        source = f"dataset:{dataset.name}@{info.version}"
        if f.kind == "graph":
            smiles = frame["smiles"].tolist()
            units = ((smiles[i : i + self.chunk_rows],) for i in range(0, len(smiles), self.chunk_rows))
            invalid = sum(len(errors) for errors in ex.map(graph_errors, units))
            counts = {"n": len(frame), "computed": len(frame), "cached": 0, "no_identity": 0}
            return report(f, source, counts, invalid, started, ex)
        cache = self.cache(f)
        computed, cached = build_for_molecules(
            cache,
            ex,
            frame["inchikey"].to_numpy(),
            frame["smiles"].to_numpy(),
            chunk_rows=self.chunk_rows,
            progress=progress,
        )
        keys = frame["inchikey"].to_numpy()
        invalid = int((~cache.valid(keys)).sum())
        fetched = cache.fetched_rows(keys)
        counts = {
            "n": len(frame),
            "computed": computed,
            "cached": cached,
            "no_identity": 0,
            "fetched": fetched,
        }
        return report(cache.featurizer, source, counts, invalid, started, ex)

    def build_pool(
        self,
        path: str | Path,
        featurizer: str | Featurizer,
        *,
        smiles_col: str | None = None,
        fmt: FileFormat | None = None,
        executor: str = "local",
        workers: int = 0,
        address: str | None = None,
        progress: Progress | None = None,
    ) -> BuildReport:
        """Featurize a pool file (streamed; standardised once, then remembered by its sha256).

        *featurizer* ``graph`` (models that read SMILES) writes the identity table only: the
        pool's graphs are built when it is scored."""
        started = time.perf_counter()
        f = _featurizer(featurizer)
        cache = None if f.kind == "graph" else self.cache(f)
        path = Path(path)
        size = path.stat().st_size if path.is_file() else 0
        if path.suffix.lower() == ".gz":
            size *= 5  # about what SMILES text compresses by
        ex = self._executor(executor, workers, address, None if size > 256 << 10 else 0)
        counts = build_for_pool(
            cache,
            ex,
            path,
            self.pools_dir,
            self.settings,
            smiles_col=smiles_col,
            fmt=fmt,
            chunk_rows=self.chunk_rows,
            progress=progress,
            shared=self._shared_pools(),
        )
        invalid = counts["no_identity"] + counts.get("feature_errors", 0)
        return report(f, f"pool:{path.name}", counts, invalid, started, ex)

    def pool_identity(self, path: str | Path, smiles_col: str | None = None) -> PoolIdentity:
        """The identity table ``build_pool`` writes for *path* (check ``.exists()`` before reading)."""
        return pool_identity(
            Path(path), self.pools_dir, self.settings, smiles_col=smiles_col, shared=self._shared_pools()
        )[0]

    def get(self, featurizer: str | Featurizer, inchikeys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(features, valid) for molecules already in the cache, in the given order."""
        return self.cache(featurizer).get(list(inchikeys))

    def list(self) -> list[dict[str, Any]]:
        """One entry per cache: spec, hash, rows, invalid rows, bytes, and whether it is stale."""
        return [entry for _, entry in self._entries()]

    def _entries(self) -> builtins.list[tuple[Path, dict[str, Any]]]:  # `list` here is the method above
        """(folder, entry) of every cache; the folder, not the manifest's hash, is what exists."""
        rows: list[tuple[Path, dict[str, Any]]] = []
        if not self.root.is_dir():
            return rows
        for folder in sorted(p for p in self.root.iterdir() if (p / MANIFEST).is_file()):
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            entry = {
                "spec": manifest["spec"],
                "hash": manifest["hash"],
                "folder": folder.name,
                "kind": manifest["kind"],
                "dim": manifest["dim"],
                "rows": sum(s["rows"] for s in manifest["shards"]),
                "invalid": sum(s.get("invalid", 0) for s in manifest["shards"]),
                "shards": len(manifest["shards"]),
                "updated": manifest.get("updated"),
                "bytes": sum(p.stat().st_size for p in folder.iterdir() if p.is_file()),
                "stale": self._stale(manifest),
            }
            rows.append((folder, entry))
        return rows

    @staticmethod
    def _stale(manifest: dict[str, Any]) -> bool:
        """A cache written by other library versions, by another standardiser (its keys may name other
        molecules) or for an unknown featurizer can never be hit."""
        try:
            current = get_featurizer(manifest["spec"])
        except Exception:  # featurizer removed or renamed since
            return True
        return bool(current.hash != manifest["hash"] or manifest.get("standardizer") != STANDARDIZER_VERSION)

    def prune(self, featurizer: str | None = None, everything: bool = False) -> dict[str, Any]:
        """Delete stale caches, orphaned shard files, and (if asked) one featurizer's or all caches."""
        removed: list[str] = []
        freed = 0
        target_hash = get_featurizer(featurizer).hash if featurizer is not None else None
        for folder, entry in self._entries():
            # the lock FeatureCache.add holds: a build's new shards are not orphans to delete
            with FileLock(str(self.lock_dir / f"features-{folder.name}.lock")):
                if everything or target_hash == entry["hash"] or entry["stale"]:
                    freed += entry["bytes"]
                    removed.append(entry["spec"])
                    shutil.rmtree(folder)
                    continue
                cache = FeatureCache(self.root, get_featurizer(entry["spec"]), self.lock_dir)
                for orphan in cache.orphans():
                    freed += orphan.stat().st_size
                    orphan.unlink()
        return {"removed": removed, "bytes_freed": freed}


def _featurizer(featurizer: str | Featurizer) -> Featurizer:
    return get_featurizer(featurizer) if isinstance(featurizer, str) else featurizer
