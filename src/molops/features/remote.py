"""A feature cache's copy on the workspace's object store, shared by every machine of a team.

The local ``features/<hash>/`` directory stays the memory-mapped working copy; the object store
holds every shard any machine has written, under ``{storage}/features/<hash>/``::

    <shard>.keys.npy, <shard>.data.npy, <shard>.valid.npy, <shard>.errors.json   as locally
    shards/<shard>.json      the shard's descriptor: rows, and each file's size and sha256

A shard's files are uploaded first and its descriptor last, so a reader lists only complete
shards. Every key is written once (shard names are unique per write), so two machines building the
same features at once never overwrite each other: each publishes its own shard, and either answers
a lookup (features are a function of the featurizer's hash and the molecule). A download is checked
against the descriptor's sizes and hashes before it is renamed into the local cache; a shard that
fails the check is skipped (and its molecules computed), never used.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path
from typing import Any

from molops.storage import Storage, StorageError

log = logging.getLogger(__name__)

#: The folder of shard descriptors below a cache's prefix (listed to find the published shards).
SHARDS = "shards"
#: A shard's files; ``errors.json`` only when some of its rows failed.
PARTS = ("keys.npy", "data.npy", "valid.npy", "errors.json")


class SharedShards:
    """The published shards of one featurizer's cache (*storage*: ``{storage}/features``)."""

    def __init__(self, storage: Storage, featurizer_hash: str) -> None:
        self.storage = storage.child(featurizer_hash)

    def published(self) -> set[str]:
        """Names of the shards whose descriptor exists (their files are complete)."""
        return {n.removesuffix(".json") for n in self.storage.files(SHARDS) if n.endswith(".json")}

    def publish(self, folder: Path, entry: dict[str, Any]) -> None:
        """Upload the local shard *entry* (a manifest entry) from *folder*, its descriptor last."""
        name = entry["name"]
        files: dict[str, dict[str, Any]] = {}
        for part in PARTS:
            path = folder / f"{name}.{part}"
            if path.is_file():
                sha = self.storage.put_file(path, f"{name}.{part}")
                files[part] = {"bytes": path.stat().st_size, "sha256": sha}
        descriptor = {**entry, "files": files}
        payload = json.dumps(descriptor, indent=1, sort_keys=True).encode()
        self.storage.put_bytes(payload, SHARDS, f"{name}.json")

    def fetch(self, name: str, folder: Path) -> dict[str, Any] | None:
        """Download shard *name* into *folder* and return its manifest entry; None (logged) when its
        descriptor or files are missing or do not match (nothing is left in *folder* then)."""
        raw = self.storage.get_bytes(SHARDS, f"{name}.json")
        if raw is None:
            return None
        descriptor = json.loads(raw)
        folder.mkdir(parents=True, exist_ok=True)
        tag = uuid.uuid4().hex[:8]
        fetched: list[tuple[Path, Path]] = []
        try:
            for part, expected in descriptor["files"].items():
                final = folder / f"{name}.{part}"
                tmp = folder / f"{final.name}.tmp-{tag}"
                fetched.append((tmp, final))
                sha = self.storage.get_file(tmp, f"{name}.{part}")
                size = tmp.stat().st_size
                if (size, sha) != (expected["bytes"], expected["sha256"]):
                    raise StorageError(
                        f"{self.storage.uri(name + '.' + part)} has {size} bytes (sha256 {sha[:12]}…), "
                        f"its descriptor says {expected['bytes']} bytes (sha256 {expected['sha256'][:12]}…)"
                    )
        except StorageError as exc:
            log.warning("shared feature shard %s skipped, its molecules are computed here: %s", name, exc)
            for tmp, _ in fetched:
                tmp.unlink(missing_ok=True)
            return None
        for tmp, final in fetched:
            tmp.replace(final)
        return {k: descriptor[k] for k in ("name", "rows", "invalid") if k in descriptor}
