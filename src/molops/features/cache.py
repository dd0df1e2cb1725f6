"""The persistent feature cache: vectors keyed by (featurizer hash, InChIKey), shared by every
dataset version and pool in a workspace, so a molecule is featurized once per featurizer, ever.

Layout, one directory per featurizer hash and standardiser version (``Featurizer.cache_name``:
the InChIKeys are the standardiser's names for molecules)::

    features/<hash>-s<v>/manifest.json          spec, kind, width, shards (the source of truth)
    features/<hash>-s<v>/<shard>.keys.npy       InChIKeys (S27), sorted
    features/<hash>-s<v>/<shard>.data.npy       rows in key order: packed bits, uint16 counts or float32
    features/<hash>-s<v>/<shard>.valid.npy      False where featurization failed (reason in errors.json)
    features/<hash>-s<v>/<shard>.errors.json    {inchikey: reason} for the failed rows

Shards are immutable and written before the manifest names them (write, fsync, rename), so a
crash leaves only invisible orphans that ``prune`` removes. Reads memory-map the shards: a cache
of ten million molecules is served without being loaded into RAM.

On a workspace whose storage is an object store, the directory is a read-through copy of the
cache there (:mod:`molops.features.remote`): each shard written here is published once complete,
and :meth:`FeatureCache.sync` fetches the shards other machines published before anything is
computed, so a second machine's warm build computes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from molops.chem.standardize import STANDARDIZER_VERSION
from molops.features.base import Featurizer
from molops.features.remote import SharedShards
from molops.storage import Storage

KEY_DTYPE = np.dtype("S27")
MANIFEST = "manifest.json"


def as_keys(inchikeys: Sequence[str] | np.ndarray) -> np.ndarray:
    """InChIKeys as a fixed-width byte array (the cache's key type)."""
    return np.asarray(inchikeys, dtype=KEY_DTYPE)


@dataclass(frozen=True, slots=True)
class _Shard:
    name: str
    keys: np.ndarray  # memory-mapped, sorted
    data: np.ndarray  # memory-mapped
    valid: np.ndarray  # memory-mapped


#: Rows gathered at a time when a shard is written in another order than its buffer's.
_WRITE_BLOCK_ROWS = 8192


def _write_npy(path: Path, array: np.ndarray, rows: np.ndarray | None = None) -> None:
    """Write *array* as .npy (fsynced, then renamed into place); with *rows*, only those rows in
    that order, gathered a block at a time: a shard of a few hundred MB is never copied whole."""
    tmp = path.with_name(path.name + f".tmp-{uuid.uuid4().hex[:8]}")
    with tmp.open("wb") as fh:
        if rows is None:
            np.save(fh, array, allow_pickle=False)
        else:
            header = {
                "descr": np.lib.format.dtype_to_descr(array.dtype),
                "fortran_order": False,
                "shape": (len(rows), *array.shape[1:]),
            }
            np.lib.format.write_array_header_1_0(fh, header)
            for start in range(0, len(rows), _WRITE_BLOCK_ROWS):
                fh.write(np.ascontiguousarray(array[rows[start : start + _WRITE_BLOCK_ROWS]]).tobytes())
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def _write_json(path: Path, payload: Any) -> None:
    tmp = path.with_name(path.name + f".tmp-{uuid.uuid4().hex[:8]}")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


class FeatureCache:
    """The cache of one featurizer in a workspace's ``features`` directory."""

    def __init__(
        self, root: Path, featurizer: Featurizer, lock_dir: Path, shared: Storage | None = None
    ) -> None:
        """*shared*: ``{storage}/features`` of a workspace on an object store (None: local only)."""
        self.featurizer = featurizer
        self.dir = root / featurizer.cache_name
        self._lock = FileLock(str(lock_dir / f"features-{featurizer.cache_name}.lock"))
        self._shards: list[_Shard] | None = None
        self.packed = featurizer.kind == "bits"
        self.shared = None if shared is None else SharedShards(shared, featurizer.cache_name)
        #: Names of the shards this object fetched from the shared store (what a report counts).
        self.fetched: set[str] = set()

    # -- manifest ------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        path = self.dir / MANIFEST
        if not path.is_file():
            return {
                **self.featurizer.describe(),
                "standardizer": STANDARDIZER_VERSION,
                "packed": self.packed,
                "shards": [],
                "created": datetime.now(UTC).isoformat(),
            }
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return manifest

    def _load(self) -> list[_Shard]:
        if self._shards is None:
            shards = []
            for entry in self.manifest()["shards"]:
                base = self.dir / entry["name"]
                shards.append(
                    _Shard(
                        entry["name"],
                        np.load(f"{base}.keys.npy", mmap_mode="r"),
                        np.load(f"{base}.data.npy", mmap_mode="r"),
                        np.load(f"{base}.valid.npy", mmap_mode="r"),
                    )
                )
            self._shards = shards
        return self._shards

    def __len__(self) -> int:
        return sum(int(s["rows"]) for s in self.manifest()["shards"])

    # -- lookups -------------------------------------------------------------------------------
    def locate(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shard index, row) of each key; shard index -1 where the key is not cached."""
        keys = as_keys(keys)
        shard_of = np.full(len(keys), -1, dtype=np.int64)
        row_of = np.zeros(len(keys), dtype=np.int64)
        for i, shard in enumerate(self._load()):
            todo = np.flatnonzero(shard_of < 0)
            if not len(todo) or not len(shard.keys):
                continue
            pos = np.searchsorted(shard.keys, keys[todo])
            pos_c = np.minimum(pos, len(shard.keys) - 1)
            hit = shard.keys[pos_c] == keys[todo]
            shard_of[todo[hit]] = i
            row_of[todo[hit]] = pos_c[hit]
        return shard_of, row_of

    def missing(self, keys: np.ndarray) -> np.ndarray:
        """Boolean mask of the keys that still need featurizing."""
        return self.locate(keys)[0] < 0

    def get(
        self, keys: Sequence[str] | np.ndarray, dtype: np.dtype[Any] | type | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(features, valid) for *keys*, in their order; every key must be cached (here, or on the
        shared store, from which a miss is fetched). *dtype*: of the features returned (default:
        the featurizer's); a model's float32 is written straight from the shards, not converted."""
        keys = as_keys(keys)
        shard_of, row_of = self.locate(keys)
        if (shard_of < 0).any() and self.shared is not None and self.sync(publish=False):
            shard_of, row_of = self.locate(keys)
        if (shard_of < 0).any():
            n = int((shard_of < 0).sum())
            raise KeyError(f"{n} of {len(keys)} molecules are not in the {self.featurizer.spec} cache")
        out = np.empty((len(keys), self.featurizer.dim), dtype=dtype or self.featurizer.dtype)
        valid = np.zeros(len(keys), dtype=bool)
        for i, shard in enumerate(self._load()):
            sel = np.flatnonzero(shard_of == i)
            if not len(sel):
                continue
            rows = row_of[sel]
            order = np.argsort(rows, kind="stable")  # sequential reads from the memory map
            block = np.asarray(shard.data[rows[order]])
            if self.packed:
                block = np.unpackbits(block, axis=1, count=self.featurizer.dim)
            out[sel[order]] = block
            valid[sel] = shard.valid[rows]
        return out, valid

    def valid(self, keys: Sequence[str] | np.ndarray) -> np.ndarray:
        """Whether each cached key has usable features (False for failures and unknown keys)."""
        shard_of, row_of = self.locate(as_keys(keys))
        out = np.zeros(len(shard_of), dtype=bool)
        for i, shard in enumerate(self._load()):
            sel = np.flatnonzero(shard_of == i)
            out[sel] = shard.valid[row_of[sel]]
        return out

    def fetched_rows(self, keys: Sequence[str] | np.ndarray) -> int:
        """How many of *keys* are answered by shards this object fetched from the shared store."""
        if not self.fetched:
            return 0
        shard_of, _ = self.locate(as_keys(keys))
        names = np.array([s.name in self.fetched for s in self._load()] + [False], dtype=bool)
        return int(names[shard_of].sum())  # index -1 (not cached) is the trailing False

    def errors(self) -> dict[str, str]:
        """Reasons for every cached molecule whose featurization failed."""
        found: dict[str, str] = {}
        for entry in self.manifest()["shards"]:
            path = self.dir / f"{entry['name']}.errors.json"
            if path.is_file():
                found.update(json.loads(path.read_text(encoding="utf-8")))
        return found

    # -- writing -------------------------------------------------------------------------------
    def add(self, keys: np.ndarray, data: np.ndarray, errors: dict[int, str]) -> int:
        """Store rows for new keys as one shard; keys already cached are skipped. Returns rows added."""
        keys = as_keys(keys)
        keys, first = np.unique(keys, return_index=True)
        positions = {int(p): i for i, p in enumerate(first)}
        with self._lock:
            self._shards = None  # another process may have added shards
            fresh = self.missing(keys)
            if not fresh.any():
                return 0
            fresh_idx = np.flatnonzero(fresh)
            keys, rows = keys[fresh], first[fresh_idx]  # rows of *data*, in key order
            valid = np.ones(len(keys), dtype=bool)
            reasons: dict[str, str] = {}
            index_of = {int(old): new for new, old in enumerate(fresh_idx)}
            for pos, reason in errors.items():
                i = positions.get(pos)
                if i is not None and i in index_of:
                    valid[index_of[i]] = False
                    reasons[keys[index_of[i]].decode()] = reason
            self.dir.mkdir(parents=True, exist_ok=True)
            name = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
            base = self.dir / name
            _write_npy(Path(f"{base}.keys.npy"), keys)
            _write_npy(Path(f"{base}.data.npy"), data, rows)
            _write_npy(Path(f"{base}.valid.npy"), valid)
            if reasons:
                _write_json(Path(f"{base}.errors.json"), reasons)
            entry = {"name": name, "rows": len(keys), "invalid": int((~valid).sum())}
            manifest = self.manifest()
            manifest["shards"].append(entry)
            manifest["updated"] = datetime.now(UTC).isoformat()
            _write_json(self.dir / MANIFEST, manifest)
            self._shards = None
            if self.shared is not None:  # after the local commit: a failed upload is retried by sync
                self.shared.publish(self.dir, entry)
            return len(keys)

    def sync(self, publish: bool = True) -> int:
        """Fetch the shards other machines published that this directory lacks (and, if
        *publish*, publish this directory's shards the store lacks); returns the rows fetched.

        Holds the cache's lock, so builds on this machine wait for the download instead of
        computing the same molecules.
        """
        if self.shared is None:
            return 0
        with self._lock:
            self._shards = None
            manifest = self.manifest()
            local = list(manifest["shards"])
            published = self.shared.published()
            fetched = []
            for name in sorted(published - {e["name"] for e in local}):
                entry = self.shared.fetch(name, self.dir)
                if entry is not None:
                    fetched.append(entry)
                    self.fetched.add(name)
            if fetched:
                manifest["shards"] = local + fetched
                manifest["updated"] = datetime.now(UTC).isoformat()
                _write_json(self.dir / MANIFEST, manifest)
            if publish:
                for entry in local:
                    if entry["name"] not in published:
                        self.shared.publish(self.dir, entry)
            self._shards = None
            return sum(int(e["rows"]) for e in fetched)

    def orphans(self) -> list[Path]:
        """Files in the cache directory that no manifest entry names (left by a crash)."""
        if not self.dir.is_dir():
            return []
        named = {e["name"] for e in self.manifest()["shards"]}
        return [
            p
            for p in self.dir.iterdir()
            # a download that died leaves its shard's temporary files, even once the shard is named
            if p.name != MANIFEST and (p.name.split(".", 1)[0] not in named or ".tmp-" in p.name)
        ]

    def size_bytes(self) -> int:
        if not self.dir.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.dir.iterdir() if p.is_file())

    def delete(self) -> int:
        size = self.size_bytes()
        with self._lock:
            shutil.rmtree(self.dir, ignore_errors=True)
            self._shards = None
        return size
