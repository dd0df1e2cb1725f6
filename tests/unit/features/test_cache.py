"""FeatureCache: storage forms, key order, dedup, invalid rows, shards, crash orphans, staleness."""

from __future__ import annotations

import json
import logging
import shutil
import threading

import numpy as np
import pytest
import rdkit
from filelock import FileLock
from rdkit import Chem

from _wait import wait_until
from molops.chem.standardize import STANDARDIZER_VERSION
from molops.features import cache as cache_module
from molops.features import get_featurizer
from molops.features.build import featurize_smiles
from molops.features.cache import KEY_DTYPE, MANIFEST, FeatureCache, as_keys

SMILES = ["CCO", "c1ccccc1", "CCN", "CC(=O)O", "CCCC", "c1ccncc1", "OCCO", "CC(C)O"]


def inchikeys(smiles: list[str]) -> list[str]:
    return [Chem.MolToInchiKey(Chem.MolFromSmiles(s)) for s in smiles]


KEYS = inchikeys(SMILES)


def fill(cache: FeatureCache, smiles: list[str]) -> int:
    data, errors = featurize_smiles(cache.featurizer.spec, smiles)
    return cache.add(as_keys(inchikeys(smiles)), data, errors)


def shard_names(cache: FeatureCache) -> list[str]:
    return [s["name"] for s in cache.manifest()["shards"]]


@pytest.fixture
def store(ws):
    return ws.features


def test_keys_are_fixed_width_bytes():
    keys = as_keys(KEYS[:2])
    assert keys.dtype == KEY_DTYPE == np.dtype("S27")
    assert keys.tolist() == [k.encode() for k in KEYS[:2]]


def test_empty_cache(store):
    cache = store.cache("morgan")
    assert len(cache) == 0
    assert cache.missing(as_keys(KEYS)).tolist() == [True] * len(KEYS)
    assert cache.valid(KEYS).tolist() == [False] * len(KEYS)
    assert cache.errors() == {}
    assert cache.orphans() == []
    assert cache.size_bytes() == 0
    assert cache.manifest()["shards"] == []
    assert not cache.dir.exists()  # nothing written until something is added
    with pytest.raises(KeyError, match=r"8 of 8 molecules are not in the morgan:.* cache"):
        cache.get(KEYS)


@pytest.mark.parametrize(
    ("spec", "dtype", "stored_width"),
    [
        ("morgan", np.uint8, 256),  # 2048 bits packed into 256 bytes
        ("morgan:length=64", np.uint8, 8),
        ("maccs", np.uint8, 21),  # 167 bits: the last byte is partly padding
        ("morgan:counts=true,length=1024", np.uint16, 1024),
        ("rdkit2d:set=basic", np.float32, 11),
    ],
)
def test_round_trip(store, spec, dtype, stored_width):
    cache = store.cache(spec)
    f = cache.featurizer
    assert cache.packed == (f.kind == "bits")
    assert fill(cache, SMILES) == len(SMILES)
    assert len(cache) == len(SMILES)
    values, valid = cache.get(KEYS)
    expected = f.transform(SMILES).values
    assert values.dtype == dtype
    assert values.shape == (len(SMILES), f.dim)
    np.testing.assert_array_equal(values, expected)
    assert valid.tolist() == [True] * len(SMILES)
    # the storage form on disk
    (name,) = shard_names(cache)
    data = np.load(cache.dir / f"{name}.data.npy")
    assert data.shape == (len(SMILES), stored_width)
    assert data.dtype == dtype
    keys = np.load(cache.dir / f"{name}.keys.npy")
    assert keys.tolist() == sorted(k.encode() for k in KEYS)  # sorted for binary search
    manifest = json.loads((cache.dir / MANIFEST).read_text())
    assert manifest["spec"] == f.spec
    assert manifest["hash"] == f.hash
    assert cache.dir.name == f.cache_name == f"{f.hash}-s{STANDARDIZER_VERSION}"
    assert manifest["standardizer"] == STANDARDIZER_VERSION
    assert manifest["packed"] is cache.packed
    assert manifest["dim"] == f.dim
    assert manifest["shards"] == [{"name": name, "rows": len(SMILES), "invalid": 0}]


@pytest.mark.parametrize("spec", ["morgan:length=128", "morgan:counts=true,length=128"])
def test_get_as_float32_equals_the_stored_values_converted(store, spec):
    """A model's float32 comes straight from the shards (no copy in the featurizer's dtype first)."""
    cache = store.cache(spec)
    fill(cache, SMILES[:5])
    fill(cache, SMILES[5:])  # two shards
    order = [KEYS[6], KEYS[1], KEYS[6], KEYS[0]]
    stored, valid = cache.get(order)
    as_float, valid32 = cache.get(order, np.float32)
    assert as_float.dtype == np.float32 and stored.dtype != np.float32
    np.testing.assert_array_equal(as_float, stored.astype(np.float32))
    assert valid32.tolist() == valid.tolist() == [True] * 4


def test_a_shard_is_written_in_key_order_a_block_at_a_time(store, monkeypatch):
    """Rows arrive in any order and are written sorted by key, gathered a few at a time (a shard
    of a few hundred MB is never copied whole), duplicates once, with their errors."""
    monkeypatch.setattr(cache_module, "_WRITE_BLOCK_ROWS", 3)
    cache = store.cache("morgan:counts=true,length=64")
    smiles = [*SMILES[::-1], SMILES[2]]  # reversed: not in key order; one twice
    data, _ = featurize_smiles(cache.featurizer.spec, smiles)
    assert cache.add(as_keys(inchikeys(smiles)), data, {1: "broken"}) == len(SMILES)
    (name,) = shard_names(cache)
    keys = np.load(cache.dir / f"{name}.keys.npy")
    assert keys.tolist() == sorted(k.encode() for k in KEYS)
    stored = np.load(cache.dir / f"{name}.data.npy")
    by_key = dict(zip(inchikeys(smiles), data, strict=True))
    np.testing.assert_array_equal(stored, np.stack([by_key[k.decode()] for k in keys.tolist()]))
    assert cache.errors() == {inchikeys(smiles)[1]: "broken"}
    values, valid = cache.get(KEYS)
    np.testing.assert_array_equal(values, cache.featurizer.transform(SMILES).values)
    assert valid.tolist() == [k != inchikeys(smiles)[1] for k in KEYS]


def test_get_preserves_the_requested_order(store):
    cache = store.cache("morgan:length=128")
    fill(cache, SMILES)
    expected = dict(zip(KEYS, cache.featurizer.transform(SMILES).values, strict=True))
    for order in (KEYS[::-1], [KEYS[3], KEYS[0], KEYS[3], KEYS[7], KEYS[0]], [KEYS[5]], []):
        values, valid = cache.get(order)
        assert values.shape == (len(order), 128)
        assert valid.tolist() == [True] * len(order)
        for row, key in zip(values, order, strict=True):
            np.testing.assert_array_equal(row, expected[key])
    # order across several shards too
    other = ["CCCCCC", "C1CCCCC1", "CCOCC"]
    fill(cache, other)
    mixed = [inchikeys(other)[2], KEYS[1], inchikeys(other)[0], KEYS[6]]
    values, _ = cache.get(mixed)
    np.testing.assert_array_equal(
        values, cache.featurizer.transform([other[2], SMILES[1], other[0], SMILES[6]]).values
    )


def test_readding_cached_keys_adds_nothing(store):
    cache = store.cache("morgan:length=64")
    assert fill(cache, SMILES) == 8
    manifest = cache.manifest()
    files = sorted(p.name for p in cache.dir.iterdir())
    assert fill(cache, SMILES) == 0
    assert fill(cache, SMILES[::-1][:3]) == 0
    assert cache.manifest() == manifest  # not even rewritten
    assert sorted(p.name for p in cache.dir.iterdir()) == files
    assert len(cache) == 8


def test_partly_new_batch_adds_only_new_keys_as_a_new_shard(store):
    cache = store.cache("morgan:length=64")
    assert fill(cache, SMILES[:5]) == 5
    assert fill(cache, SMILES[3:]) == 3
    assert [s["rows"] for s in cache.manifest()["shards"]] == [5, 3]
    assert len(cache) == 8
    values, valid = cache.get(KEYS)
    np.testing.assert_array_equal(values, cache.featurizer.transform(SMILES).values)
    assert valid.all()
    shard_of, _ = cache.locate(as_keys(KEYS))
    assert shard_of.tolist() == [0, 0, 0, 0, 0, 1, 1, 1]


def test_duplicate_keys_in_one_batch_are_stored_once(store):
    cache = store.cache("morgan:length=64")
    smiles = ["CCO", "CCN", "OCC", "CCO", "CCN"]  # OCC is ethanol again
    data, errors = featurize_smiles(cache.featurizer.spec, smiles)
    assert cache.add(as_keys(inchikeys(smiles)), data, errors) == 2
    assert len(cache) == 2
    (name,) = shard_names(cache)
    assert np.load(cache.dir / f"{name}.keys.npy").tolist() == sorted(k.encode() for k in KEYS[:3:2])


def test_missing(store):
    cache = store.cache("maccs")
    fill(cache, SMILES[::2])
    assert cache.missing(as_keys(KEYS)).tolist() == [False, True] * 4
    fill(cache, SMILES[1:4])
    assert cache.missing(as_keys(KEYS)).tolist() == [False, False, False, False, False, True, False, True]
    assert cache.missing(as_keys([])).tolist() == []


def test_invalid_rows_are_stored_invalid_with_their_reasons(store):
    cache = store.cache("rdkit2d:set=basic")
    f = cache.featurizer
    # rows out of key order, so the reasons must follow their keys through the sort
    keys = [KEYS[4], KEYS[0], KEYS[2], KEYS[1]]
    data = f.transform([SMILES[4], SMILES[0], SMILES[2], SMILES[1]]).values
    data[0] = 0
    data[2] = 0
    errors = {0: "rdkit2d failed: boom", 2: "rdkit2d failed: bang"}
    assert cache.add(as_keys(keys), data, errors) == 4
    assert cache.errors() == {KEYS[4]: "rdkit2d failed: boom", KEYS[2]: "rdkit2d failed: bang"}
    assert cache.valid(KEYS[:5]).tolist() == [True, True, False, False, False]  # KEYS[3] is unknown
    values, valid = cache.get(keys)
    assert valid.tolist() == [False, True, False, True]
    assert not values[[0, 2]].any()
    np.testing.assert_array_equal(values[[1, 3]], data[[1, 3]])
    assert cache.manifest()["shards"][0]["invalid"] == 2
    # a later shard: an already-cached key ahead of the failed one shifts nothing
    data2 = f.transform([SMILES[0], SMILES[6], SMILES[7]]).values
    data2[2] = 0
    added = cache.add(as_keys([KEYS[0], KEYS[6], KEYS[7]]), data2, {2: "rdkit2d failed: again"})
    assert added == 2
    assert cache.errors() == {
        KEYS[4]: "rdkit2d failed: boom",
        KEYS[2]: "rdkit2d failed: bang",
        KEYS[7]: "rdkit2d failed: again",
    }
    assert cache.valid([KEYS[6], KEYS[7], KEYS[0]]).tolist() == [True, False, True]
    assert [s["invalid"] for s in cache.manifest()["shards"]] == [2, 1]
    assert {r["spec"]: r["invalid"] for r in store.list()} == {f.spec: 3}


def test_many_shards(store):
    cache = store.cache("morgan:counts=true,length=256")
    batches = [SMILES[:3], SMILES[3:5], SMILES[5:], ["CCCCCC", "C1CCCCC1"]]
    for batch in batches:
        fill(cache, batch)
    assert len(shard_names(cache)) == 4
    assert len(set(shard_names(cache))) == 4
    everything = [s for batch in batches for s in batch]
    assert len(cache) == len(everything) == 10
    order = np.random.default_rng(0).permutation(len(everything))
    keys = [inchikeys(everything)[i] for i in order]
    values, valid = FeatureCache(store.root, cache.featurizer, store.lock_dir).get(keys)  # fresh reader
    np.testing.assert_array_equal(values, cache.featurizer.transform([everything[i] for i in order]).values)
    assert valid.all()
    assert sorted(store.list()[0].items()) == sorted(
        {
            "spec": cache.featurizer.spec,
            "hash": cache.featurizer.hash,
            "folder": cache.featurizer.cache_name,
            "kind": "counts",
            "dim": 256,
            "rows": 10,
            "invalid": 0,
            "shards": 4,
            "updated": cache.manifest()["updated"],
            "bytes": cache.size_bytes(),
            "stale": False,
        }.items()
    )
    assert cache.size_bytes() == sum(p.stat().st_size for p in cache.dir.iterdir())


def test_a_crash_before_the_manifest_leaves_invisible_orphans_that_prune_removes(store):
    cache = store.cache("morgan:length=64")
    fill(cache, SMILES[:4])
    (name,) = shard_names(cache)
    manifest_bytes = (cache.dir / MANIFEST).read_bytes()
    # a second build wrote its shard (and was writing the manifest) when the process died
    crashed = "20990101T000000-deadbeef"
    new_keys = as_keys(KEYS[4:])
    data, _ = featurize_smiles(cache.featurizer.spec, SMILES[4:])
    np.save(cache.dir / f"{crashed}.keys.npy", np.sort(new_keys))
    np.save(cache.dir / f"{crashed}.data.npy", data)
    np.save(cache.dir / f"{crashed}.valid.npy", np.ones(4, dtype=bool))
    (cache.dir / f"{crashed}.errors.json").write_text("{}")
    (cache.dir / "20990101T000001-cafecafe.keys.npy.tmp-0a1b2c3d").write_bytes(b"half a file")
    (cache.dir / f"{MANIFEST}.tmp-12345678").write_text('{"shards": [')
    orphan_names = {
        f"{crashed}.keys.npy",
        f"{crashed}.data.npy",
        f"{crashed}.valid.npy",
        f"{crashed}.errors.json",
        "20990101T000001-cafecafe.keys.npy.tmp-0a1b2c3d",
        f"{MANIFEST}.tmp-12345678",
    }
    orphan_bytes = sum((cache.dir / n).stat().st_size for n in orphan_names)

    fresh = store.cache("morgan:length=64")
    assert len(fresh) == 4
    assert fresh.missing(new_keys).tolist() == [True] * 4  # invisible
    assert fresh.valid(KEYS[4:]).tolist() == [False] * 4
    with pytest.raises(KeyError, match="4 of 4 molecules"):
        fresh.get(KEYS[4:])
    assert {p.name for p in fresh.orphans()} == orphan_names
    assert store.list()[0]["rows"] == 4
    # a rebuild computes them again as a proper shard, ignoring the orphans
    assert fill(fresh, SMILES[4:]) == 4

    result = store.prune()
    assert result == {"removed": [], "bytes_freed": orphan_bytes}
    assert fresh.orphans() == []
    assert {p.name for p in cache.dir.iterdir()} == {
        MANIFEST,
        *(f"{n}.{part}.npy" for n in shard_names(fresh) for part in ("keys", "data", "valid")),
    }
    assert name in shard_names(fresh)
    values, valid = store.cache("morgan:length=64").get(KEYS)
    np.testing.assert_array_equal(values, fresh.featurizer.transform(SMILES).values)
    assert valid.all()
    assert store.prune() == {"removed": [], "bytes_freed": 0}
    assert (cache.dir / MANIFEST).read_bytes() != manifest_bytes  # the rebuild's shard is named


def test_prune_waits_for_a_build_holding_the_cache_lock(store, caplog):
    """Shards a build has written but not named yet are not orphans while it holds the lock."""
    cache = store.cache("morgan:length=64")
    fill(cache, SMILES[:2])
    result: dict = {}
    lock_path = str(store.lock_dir / f"features-{cache.featurizer.cache_name}.lock")
    lock = FileLock(lock_path)
    caplog.set_level(logging.DEBUG, logger="filelock")  # it logs each attempt that finds the lock taken

    def refused() -> bool:
        return any(
            "not acquired" in (message := r.getMessage()) and lock_path in message
            for r in list(caplog.records)
        )

    with lock:  # what FeatureCache.add holds from its first shard file to the manifest
        name = "20990101T000000-0badf00d"
        data, _ = featurize_smiles(cache.featurizer.spec, SMILES[2:])
        np.save(cache.dir / f"{name}.keys.npy", np.sort(as_keys(KEYS[2:])))
        np.save(cache.dir / f"{name}.data.npy", data[np.argsort(KEYS[2:])])
        pruner = threading.Thread(target=lambda: result.update(store.prune()))
        pruner.start()
        wait_until(refused, 30, "prune to find the cache lock taken")
        assert pruner.is_alive() and not result  # blocked on the lock…
        assert (cache.dir / f"{name}.keys.npy").exists()  # …so the build's files are still there
        np.save(cache.dir / f"{name}.valid.npy", np.ones(6, dtype=bool))
        manifest = cache.manifest()
        manifest["shards"].append({"name": name, "rows": 6, "invalid": 0})
        (cache.dir / MANIFEST).write_text(json.dumps(manifest))
    pruner.join(10)
    assert not pruner.is_alive()
    assert result == {"removed": [], "bytes_freed": 0}
    values, valid = store.cache("morgan:length=64").get(KEYS)
    np.testing.assert_array_equal(values, cache.featurizer.transform(SMILES).values)
    assert valid.all()


def _age(store, cache: FeatureCache, old_hash: str | None) -> None:
    """Make *cache* look written by another RDKit: its manifest names another hash."""
    manifest = json.loads((cache.dir / MANIFEST).read_text())
    manifest["hash"] = "0123456789abcdef"
    manifest["versions"] = {"rdkit": "2019.03.1"}
    (cache.dir / MANIFEST).write_text(json.dumps(manifest))
    if old_hash:  # as on disk after an upgrade: the folder is named by the old hash too
        cache.dir.rename(store.root / old_hash)


@pytest.mark.parametrize("rename", [False, True], ids=["manifest-edited", "folder-and-manifest"])
def test_a_stale_cache_is_listed_stale_and_pruned(store, rename):
    old = store.cache("morgan:length=64")
    fill(old, SMILES)
    current = store.cache("maccs")
    fill(current, SMILES[:3])
    _age(store, old, "0123456789abcdef" if rename else None)
    listing = {r["spec"]: r for r in store.list()}
    assert listing[old.featurizer.spec]["stale"] is True
    assert listing[old.featurizer.spec]["hash"] == "0123456789abcdef"
    assert listing[old.featurizer.spec]["rows"] == 8
    assert listing[current.featurizer.spec]["stale"] is False
    stale_bytes = listing[old.featurizer.spec]["bytes"]

    assert store.prune() == {"removed": [old.featurizer.spec], "bytes_freed": stale_bytes}
    assert [r["spec"] for r in store.list()] == [current.featurizer.spec]
    assert sorted(p.name for p in store.root.iterdir()) == [current.featurizer.cache_name]
    assert len(store.cache("maccs")) == 3
    assert len(store.cache("morgan:length=64")) == 0


def test_an_rdkit_upgrade_makes_a_cache_stale(store, monkeypatch):
    cache = store.cache("morgan:length=64")
    fill(cache, SMILES)
    assert [r["stale"] for r in store.list()] == [False]
    monkeypatch.setattr(rdkit, "__version__", "2099.01.1")
    assert [r["stale"] for r in store.list()] == [True]
    assert store.cache("morgan:length=64").dir != cache.dir  # a new cache would be used
    assert store.prune()["removed"] == [cache.featurizer.spec]
    assert not cache.dir.exists()


def test_a_cache_written_by_another_standardiser_is_stale_and_never_served(store, monkeypatch):
    """Its InChIKeys are the old rules' names: under version 3 the flat key of a cis/trans pair named
    the drawn isomer, under version 4 it names the unspecified one, so the vector is not theirs."""
    cache = store.cache("morgan:length=64")
    fill(cache, SMILES)
    monkeypatch.setattr(cache_module, "STANDARDIZER_VERSION", STANDARDIZER_VERSION + 1)
    monkeypatch.setattr("molops.features.base.STANDARDIZER_VERSION", STANDARDIZER_VERSION + 1)
    monkeypatch.setattr("molops.features.store.STANDARDIZER_VERSION", STANDARDIZER_VERSION + 1)
    assert [r["stale"] for r in store.list()] == [True]
    newer = store.cache("morgan:length=64")
    assert newer.dir != cache.dir and len(newer) == 0  # nothing cached under the old rules is served
    assert store.prune()["removed"] == [cache.featurizer.spec]
    assert not cache.dir.exists()


def test_a_cache_of_an_unknown_featurizer_is_stale(store):
    cache = store.cache("maccs")
    fill(cache, SMILES[:2])
    manifest = json.loads((cache.dir / MANIFEST).read_text())
    manifest["spec"] = "retired:bits=1024"
    (cache.dir / MANIFEST).write_text(json.dumps(manifest))
    (entry,) = store.list()
    assert (entry["spec"], entry["stale"]) == ("retired:bits=1024", True)
    assert store.prune()["removed"] == ["retired:bits=1024"]
    assert store.list() == []


def test_prune_one_featurizer_or_everything(store):
    for spec in ("morgan", "maccs", "morgan:radius=3"):
        fill(store.cache(spec), SMILES[:3])
    sizes = {r["spec"]: r["bytes"] for r in store.list()}
    morgan = get_featurizer("morgan").spec
    assert store.prune("morgan") == {"removed": [morgan], "bytes_freed": sizes[morgan]}
    assert sorted(r["spec"] for r in store.list()) == sorted(set(sizes) - {morgan})
    assert store.prune("morgan") == {"removed": [], "bytes_freed": 0}
    result = store.prune(everything=True)
    assert sorted(result["removed"]) == sorted(set(sizes) - {morgan})
    assert result["bytes_freed"] == sum(sizes.values()) - sizes[morgan]
    assert store.list() == []
    assert store.prune(everything=True) == {"removed": [], "bytes_freed": 0}


def test_delete(store):
    cache = store.cache("maccs")
    fill(cache, SMILES)
    size = cache.size_bytes()
    assert size > 0
    assert cache.delete() == size
    assert not cache.dir.exists()
    assert len(cache) == 0
    assert cache.missing(as_keys(KEYS)).all()
    shutil.rmtree(store.root, ignore_errors=True)
    assert store.list() == []
