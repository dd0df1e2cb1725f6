"""Feature caches and pool identity tables read through a shared store, here a local directory.

Each "machine" is a FeatureStore with its own cache, pools and lock directories; all of them share
one store, as workspace directories on several machines share ``{storage}``. The object-store path
(moto's S3 on loopback) is tested in ``tests/backends/test_s3_features.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from molops.data.pool import PoolIdentity
from molops.features import build as build_module
from molops.features import get_featurizer
from molops.features.store import FeatureStore
from molops.storage import Storage

from .test_store import POOL, POOL_BAD, POOL_N, POOL_UNIQUE, V1

MORGAN = get_featurizer("morgan")


def machine(tmp_path: Path, name: str, ws, shared: Storage | None) -> FeatureStore:
    """One machine's feature store over the workspace's settings, sharing *shared*."""
    base = tmp_path / name
    (base / "locks").mkdir(parents=True)
    settings = ws.features.settings
    return FeatureStore(base / "features", base / "locks", base / "pools", settings, shared=shared)


@pytest.fixture
def shared(tmp_path) -> Storage:
    return Storage.at(tmp_path / "store")


@pytest.fixture
def ds(ws, write):
    dataset = ws.dataset("sol")
    dataset.ingest(write("v1.csv", V1), smiles_col="smiles", target_col="y", workers=1)
    return dataset


def _fail(*args, **kwargs):
    raise AssertionError("computed again, though another machine had published it")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shard_files(store: FeatureStore) -> dict[str, str]:
    folder = store.root / MORGAN.cache_name
    return {p.name: sha(p) for p in sorted(folder.iterdir()) if p.name != "manifest.json"}


def descriptors(shared: Storage) -> list[str]:
    return sorted(shared.child("features", MORGAN.cache_name).files("shards"))


def test_a_second_machine_fetches_a_dataset_build_instead_of_computing(tmp_path, ws, ds, shared, monkeypatch):
    a, b = machine(tmp_path, "a", ws, shared), machine(tmp_path, "b", ws, shared)
    cold = a.build_dataset(ds, "morgan")
    assert (cold.n, cold.computed, cold.cached, cold.fetched) == (5, 5, 0, 0)
    (name,) = descriptors(shared)
    descriptor = json.loads(shared.get_bytes("features", MORGAN.cache_name, "shards", name) or b"")
    assert (descriptor["rows"], sorted(descriptor["files"])) == (5, ["data.npy", "keys.npy", "valid.npy"])

    monkeypatch.setattr(build_module, "featurize_smiles", _fail)
    warm = b.build_dataset(ds, "morgan")
    assert (warm.n, warm.computed, warm.cached, warm.fetched) == (5, 0, 5, 5)
    assert shard_files(b) == shard_files(a)  # byte for byte
    assert [(e["spec"], e["rows"], e["stale"]) for e in b.list()] == [(MORGAN.spec, 5, False)]
    keys = ds.read()["inchikey"].tolist()
    for got, want in zip(b.get("morgan", keys), a.get("morgan", keys), strict=True):
        np.testing.assert_array_equal(got, want)
    again = b.build_dataset(ds, "morgan")  # now local: nothing fetched, nothing listed
    assert (again.computed, again.cached, again.fetched) == (0, 5, 0)
    assert descriptors(shared) == [name]  # fetching published nothing new


def test_a_second_machine_fetches_a_pools_identity_and_features(tmp_path, ws, write, shared, monkeypatch):
    a, b = machine(tmp_path, "a", ws, shared), machine(tmp_path, "b", ws, shared)
    path = write("pool.smi", "\n".join(POOL) + "\n")
    cold = a.build_pool(path, "morgan")
    assert (cold.computed, cold.fetched) == (POOL_UNIQUE, 0)
    (folder,) = shared.child("pools").list_dirs()
    published = shared.child("pools", folder).files()
    assert set(published) == {"identity.json", next(n for n in published if n.startswith("identity-"))}

    copy = write("elsewhere/pool.smi", path.read_bytes())  # the same bytes, another machine's path
    monkeypatch.setattr(build_module, "featurize_smiles", _fail)
    monkeypatch.setattr(build_module, "identify_and_featurize", _fail)
    warm = b.build_pool(copy, "morgan")
    assert (warm.n, warm.computed, warm.cached, warm.no_identity, warm.invalid) == (
        POOL_N,
        0,
        POOL_N - POOL_BAD,
        POOL_BAD,
        POOL_BAD,
    )
    assert warm.fetched == POOL_N - POOL_BAD  # every row with an identity, duplicates included
    (table_a,) = (a.pools_dir).glob("*/identity.parquet")
    (table_b,) = (b.pools_dir).glob("*/identity.parquet")
    assert sha(table_b) == sha(table_a)
    identity = b.pool_identity(copy)
    assert identity.exists() and not identity.fetched  # the local copy answers from now on
    # the identity-only build (models that read SMILES) finds it too
    c = machine(tmp_path, "c", ws, shared)
    graph = c.build_pool(copy, "graph")
    assert (graph.n, graph.computed, graph.cached) == (POOL_N, 0, POOL_N - POOL_BAD)


def test_a_miss_in_get_fetches_from_the_store(tmp_path, ws, ds, shared):
    a, b = machine(tmp_path, "a", ws, shared), machine(tmp_path, "b", ws, shared)
    a.build_dataset(ds, "maccs")
    keys = ds.read()["inchikey"].tolist()
    values, valid = b.get("maccs", keys)  # no build on b: the read fetches
    np.testing.assert_array_equal(values, a.get("maccs", keys)[0])
    assert valid.all()
    with pytest.raises(KeyError, match="1 of 1 molecules are not in the"):
        b.get("maccs", ["LFQSCWFLJHTTHZ-UHFFFAOYSA-X"])


def test_a_corrupt_shared_shard_is_skipped_and_computed(tmp_path, ws, ds, shared, caplog):
    a, b = machine(tmp_path, "a", ws, shared), machine(tmp_path, "b", ws, shared)
    a.build_dataset(ds, "morgan")
    (name,) = descriptors(shared)
    shard = name.removesuffix(".json")
    data = Path(shared.root, "features", MORGAN.cache_name, f"{shard}.data.npy")
    raw = data.read_bytes()
    data.write_bytes(raw[:-8] + bytes(b ^ 0xFF for b in raw[-8:]))  # same size, other bytes

    with caplog.at_level(logging.WARNING, logger="molops.features.remote"):
        report = b.build_dataset(ds, "morgan")
    assert (report.computed, report.fetched) == (5, 0)
    assert f"shared feature shard {shard} skipped" in caplog.text
    assert "its descriptor says" in caplog.text
    assert b.cache("morgan").orphans() == []  # the rejected download left nothing behind
    keys = ds.read()["inchikey"].tolist()
    direct = MORGAN.transform(ds.read()["smiles"].tolist()).values
    np.testing.assert_array_equal(b.get("morgan", keys)[0], direct)
    # b published its own shard; a third machine skips the bad one and fetches b's
    assert len(descriptors(shared)) == 2
    c = machine(tmp_path, "c", ws, shared)
    warm = c.build_dataset(ds, "morgan")
    assert (warm.computed, warm.fetched) == (0, 5)
    np.testing.assert_array_equal(c.get("morgan", keys)[0], direct)


def test_a_shard_whose_upload_died_is_invisible_until_its_machine_publishes_it(tmp_path, ws, ds, shared):
    a, b = machine(tmp_path, "a", ws, shared), machine(tmp_path, "b", ws, shared)
    a.build_dataset(ds, "morgan")
    (name,) = descriptors(shared)
    descriptor = Path(shared.root, "features", MORGAN.cache_name, "shards", name)
    descriptor.unlink()  # as if the process died after the files, before the descriptor
    assert b.cache("morgan").sync() == 0  # its files alone are not a shard
    assert descriptors(shared) == []
    assert a.cache("morgan").sync() == 0  # a's next sync publishes what it has
    assert descriptors(shared) == [name]
    assert b.cache("morgan").sync() == 5


def test_a_cache_from_before_the_workspace_was_shared_is_published_by_sync(tmp_path, ws, ds, shared):
    local = machine(tmp_path, "a", ws, None)
    local.build_dataset(ds, "morgan")
    assert not Path(shared.root).exists()  # a local workspace writes nowhere else
    # the same directories, once the workspace points at the shared store
    a = FeatureStore(local.root, local.lock_dir, local.pools_dir, local.settings, shared=shared)
    assert a.cache("morgan").sync() == 0
    assert len(descriptors(shared)) == 1
    b = machine(tmp_path, "b", ws, shared)
    assert b.build_dataset(ds, "morgan").fetched == 5


def test_two_machines_building_the_same_features_at_once(tmp_path, ws, ds, write, shared):
    stores = [machine(tmp_path, n, ws, shared) for n in ("a", "b")]
    path = write("pool.smi", "\n".join(POOL) + "\n")
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def build(store: FeatureStore) -> None:
        try:
            start.wait(timeout=30)
            store.build_pool(path, "morgan")
            store.build_dataset(ds, "morgan")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert 1 <= len(descriptors(shared)) <= 4  # each machine published what it computed

    c = machine(tmp_path, "c", ws, shared)
    pool = c.build_pool(path, "morgan")
    dataset = c.build_dataset(ds, "morgan")
    assert (pool.computed, dataset.computed) == (0, 0)
    keys = ds.read()["inchikey"].tolist()
    direct = MORGAN.transform(ds.read()["smiles"].tolist()).values
    np.testing.assert_array_equal(c.get("morgan", keys)[0], direct)
    (folder,) = shared.child("pools").list_dirs()
    descriptor = json.loads(shared.get_bytes("pools", folder, "identity.json") or b"")
    table = pq.read_table(Path(shared.root, "pools", folder, descriptor["file"]))
    assert table.num_rows == POOL_N


def test_two_identity_writers_at_once_each_commit_a_whole_table(tmp_path):
    identity = PoolIdentity(tmp_path / "pools", "ab" * 32, "how")
    first, second = identity.writer(), identity.writer()
    rows = ([1, 2], ["CCO", None], ["LFQSCWFLJHTTHZ-UHFFFAOYSA-N", None], [None, "unparsable_structure: x"])
    first.write(*rows)
    second.write(*rows)
    first.commit()
    second.commit()
    assert pq.read_table(identity.path).to_pydict()["smiles"] == ["CCO", None]
    assert [p.name for p in identity.dir.iterdir()] == ["identity.parquet"]
