"""The workspace's identity cache (issue 19): a SMILES string standardised in an earlier ingest is
looked up, not standardised again, and the tables come out as a cold ingest's; results stored under
other standardiser rules are never used."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from molops.chem.standardize import StandardizerSettings
from molops.data import identity_cache
from molops.data.identity_cache import IdentityCache, IdentityLookup, rules_key
from molops.data.validation import standardized_smiles
from molops.workspace import Workspace

from ..chem.real_sets import smiles_sets

ODD = ["not a smiles", "[Na+].[Cl-]", "CC(=O)[O-].[Na+]", "C C", "[Fe]", "c1ccccc1.O", "*C"]


def _rows(seed: int, n: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pool = smiles_sets()["chembl_samples.csv"][:120] + ODD
    values = ["1.5", "2", "-0.3", "NA", "abc", "7"]
    return [(rng.choice(pool), rng.choice(values)) for _ in range(n)]


def _csv(rows: list[tuple[str, str]]) -> str:
    return "smiles,y\n" + "".join(f'"{s}",{v}\n' for s, v in rows)


def _cache_rows(ws: Workspace) -> int:
    return int(DeltaTable(ws.storage.uri("identities")).to_pyarrow_table().num_rows)


def _tables(ws: Workspace, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    ds = ws.dataset(name)
    quarantine = ds.store.read_quarantine().drop(columns=["ingest_id", "time"])
    return ds.read(), quarantine


def _ingest(ws: Workspace, name: str, path: object) -> dict[str, object]:
    standardized_smiles.cache_clear()  # nothing remembered by this process: only the table helps
    report = ws.dataset(name).ingest(path, smiles_col="smiles", target_col="y", workers=1)
    return report.model_dump(exclude={"seconds", "workers_used"})


def test_reingest_and_overlapping_files_match_a_cold_workspace(tmp_path, write):
    first = write("first.csv", _csv(_rows(1, 300)))
    overlap = write("overlap.csv", _csv(_rows(1, 150) + _rows(2, 150)))
    warm = Workspace.init(tmp_path / "warm")

    assert _ingest(warm, "a", first)["from_cache"] == 0
    learnt = _cache_rows(warm)
    assert learnt > 0
    again = _ingest(warm, "again", first)
    assert _cache_rows(warm) == learnt  # every string came from the cache: nothing new learnt
    assert again.pop("from_cache") > 200  # rows with a structure (not a malformed target)
    both = _ingest(warm, "overlap", overlap)
    assert learnt < _cache_rows(warm) < learnt + 150  # only the second half's new strings
    assert both.pop("from_cache") >= 150

    for warm_report, name, path in ((again, "again", first), (both, "overlap", overlap)):
        cold = Workspace.init(tmp_path / f"cold-{name}")  # nothing cached
        cold_report = _ingest(cold, name, path)
        assert cold_report.pop("from_cache") == 0
        assert warm_report == cold_report
        for got, want in zip(_tables(warm, name), _tables(cold, name), strict=True):
            pd.testing.assert_frame_equal(got, want)


def _poison(ws: Workspace, raw: str) -> None:
    """Store a result no standardiser would give, to see whether an ingest takes it."""
    writer = IdentityCache(ws.storage.child("identities"), StandardizerSettings()).writer()
    writer.add([(raw, "C[N]X", "FAKEFAKEFAKEFA-FAKEFAKEFA-N", 2, 45.0, None, None)])
    writer.publish()


def test_a_cached_result_is_used_until_the_standardiser_version_changes(ws, write, monkeypatch):
    path = write("amine.csv", "smiles,y\nCCN,1\n")
    _poison(ws, "CCN")
    _ingest(ws, "cached", path)
    assert ws.dataset("cached").read()["smiles"].tolist() == ["C[N]X"]

    monkeypatch.setattr(identity_cache, "STANDARDIZER_VERSION", identity_cache.STANDARDIZER_VERSION + 1)
    _ingest(ws, "new_rules", path)
    assert ws.dataset("new_rules").read()["smiles"].tolist() == ["CCN"]


def test_other_settings_read_another_partition(ws, write):
    _poison(ws, "CCN")
    ws.config.ingest.max_heavy_atoms = 50
    _ingest(ws, "other", write("amine.csv", "smiles,y\nCCN,1\n"))
    assert ws.dataset("other").read()["smiles"].tolist() == ["CCN"]


def test_rules_key_names_the_settings():
    assert rules_key(StandardizerSettings()) == rules_key(StandardizerSettings())
    assert rules_key(StandardizerSettings()) != rules_key(StandardizerSettings(reject_radicals=False))


@pytest.mark.parametrize("structures", [[], [None], ["CCO", None, "CCN", "CCO"]])
def test_an_empty_lookup_finds_nothing(structures):
    empty = IdentityLookup(identity_cache.RESULT_SCHEMA.empty_table())
    assert len(empty) == 0
    assert empty.find(structures) == {}


def test_the_indexed_and_the_scanned_lookup_agree(ws, write):
    _ingest(ws, "a", write("first.csv", _csv(_rows(1, 200))))
    cache = IdentityCache(ws.storage.child("identities"), StandardizerSettings())
    texts = [s for s, _ in _rows(5, 100)] + [None, "CCCCCCCCCCCCCCCCCCCCCN", "not a smiles"]
    indexed, scanned = cache.load().find(texts), cache.scanner().find(texts)
    assert indexed == scanned
    assert len(indexed) > 50
    assert indexed[len(texts) - 1].reason == "unparsable_structure"
    assert len(texts) - 2 not in indexed  # never ingested


def _publish(cache: IdentityCache, rows: list[tuple[object, ...]]) -> None:
    writer = cache.writer()
    writer.add(rows)  # type: ignore[arg-type]
    writer.publish()


def _live_files(cache: IdentityCache) -> int:
    return len(DeltaTable(cache.storage.root).file_uris())


def _on_disk(cache: IdentityCache) -> int:
    return sum(1 for _ in Path(cache.storage.root).rglob("*.parquet"))


def test_many_publishes_are_compacted_and_lookups_stay_the_same(ws, monkeypatch):
    monkeypatch.setattr(identity_cache, "COMPACT_FILES", 4)
    cache = IdentityCache(ws.storage.child("identities"), StandardizerSettings())
    rows: list[tuple[object, ...]] = []
    for i in range(15):
        batch = [
            (f"C{'C' * j}N{i}", f"C{j}", f"KEY{i:02d}{j:02d}", j, 17.5 + i, None, None) for j in range(3)
        ]
        batch.append((f"bad {i}", None, None, None, None, "unparsable_structure", f"row {i}"))
        if i % 5 == 4:  # a string another ingest had already stored: kept twice, same result
            batch.append(rows[0])
        rows += batch
        _publish(cache, batch)
        assert _live_files(cache) <= 5  # never more than the threshold plus the new file
    texts = [str(row[0]) for row in rows] + ["never stored", None]
    want = IdentityLookup(
        pa.Table.from_pylist(
            [dict(zip(identity_cache.RESULT_SCHEMA.names, row, strict=True)) for row in rows],
            schema=identity_cache.RESULT_SCHEMA,
        )
    ).find(texts)
    assert len(want) == len(texts) - 2
    assert cache.load().find(texts) == want
    assert len(cache.load()) == len(rows)
    scanner = cache.scanner()  # lists the files now, scans them on each call

    # within the retention the files a compaction removed stay, so that scanner still reads
    assert _on_disk(cache) > _live_files(cache)
    assert cache.compact(min_files=0) is not None
    assert scanner.find(texts) == want
    # past it (none here) they go, and what is left answers the same
    done = cache.compact(min_files=0, retention_hours=0)
    assert done is not None and done["files_vacuumed"] > 0
    assert _on_disk(cache) == _live_files(cache) == 1
    assert cache.load().find(texts) == cache.scanner().find(texts) == want


def test_ingests_that_compact_the_cache_match_a_cold_workspace(tmp_path, write, monkeypatch):
    monkeypatch.setattr(identity_cache, "COMPACT_FILES", 1)
    warm = Workspace.init(tmp_path / "warm")
    for seed in (1, 2):
        _ingest(warm, f"d{seed}", write(f"d{seed}.csv", _csv(_rows(seed, 80))))
    cache = IdentityCache(warm.storage.child("identities"), StandardizerSettings())
    assert _live_files(cache) == 1  # the second ingest's append made two: compacted
    path = write("d3.csv", _csv(_rows(3, 80) + _rows(1, 40)))
    warm_report = _ingest(warm, "d3", path)
    cold = Workspace.init(tmp_path / "cold")
    cold_report = _ingest(cold, "d3", path)
    assert warm_report.pop("from_cache") > 20 and cold_report.pop("from_cache") == 0
    assert warm_report == cold_report
    for got, want in zip(_tables(warm, "d3"), _tables(cold, "d3"), strict=True):
        pd.testing.assert_frame_equal(got, want)
