"""DatasetStore: Delta commits, dataset versions vs maintenance commits, quarantine, locking."""

from __future__ import annotations

import threading

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from filelock import FileLock

from molops.data.replicates import group_replicates, merge_measurements
from molops.data.store import (
    CORE_COLUMNS,
    QUARANTINE_SCHEMA,
    CommitConflictError,
    DatasetStore,
    snapshot_schema,
    target_columns,
    targets_of,
)
from molops.errors import ConcurrentWriteError, DatasetNotFoundError, VersionNotFoundError


@pytest.fixture
def store(tmp_path):
    return DatasetStore(
        "sol", str(tmp_path / "datasets" / "sol") + "/", tmp_path / "sol.lock", lock_timeout=0.2
    )


def snapshot(values: dict[str, float], version: int = 1):
    keys = list(values)
    frame = group_replicates(
        keys, [k.lower() for k in keys], list(values.values()), list(range(1, len(keys) + 1))
    )
    return merge_measurements(None, frame, target="y", version=version, source="t").snapshot.to_pandas()


def lineage(version: int, **extra):
    return {"version": version, "operation": "ingest", **extra}


# -- schema helpers ----------------------------------------------------------------------------
def test_schema_helpers():
    assert target_columns("y") == ["y", "y_std", "y_n", "y_replicates", "y_disagree"]
    assert targets_of(CORE_COLUMNS + target_columns("y") + target_columns("z")) == ["y", "z"]
    assert targets_of([*CORE_COLUMNS, "y", "y_std"]) == []
    schema = snapshot_schema(["y"])
    assert schema.names == CORE_COLUMNS + target_columns("y")
    assert schema.field("y_replicates").type == pa.list_(pa.float64())
    assert schema.field("y_n").type == pa.int64()
    assert not schema.field("inchikey").nullable


def test_root_is_normalised(store, tmp_path):
    assert store.root == str(tmp_path / "datasets" / "sol")
    assert store.data_uri == store.root + "/table"
    assert store.quarantine_uri == store.root + "/quarantine"


# -- commits and versions ----------------------------------------------------------------------
def test_a_new_store_has_nothing(store):
    assert not store.exists()
    assert store.latest_version() is None
    with pytest.raises(DatasetNotFoundError, match="'sol' does not exist"):
        store.versions()
    with pytest.raises(DatasetNotFoundError):
        store.read()


def test_commit_and_read_back(store):
    snap = snapshot({"A": 1.0, "B": 2.0})
    with store.lock():
        assert store.commit(snap, lineage(1, note="first")) == 1
    assert store.exists()
    assert store.latest_version() == 1
    (info,) = store.versions()
    assert (info.version, info.delta_version, info.operation) == (1, 0, "ingest")
    assert info.lineage == {"version": 1, "operation": "ingest", "note": "first"}
    assert info.time.endswith("+00:00")
    pd.testing.assert_frame_equal(store.read(), snap, check_dtype=False)


def test_versions_are_numbered_by_molops(store):
    for version, values in enumerate(({"A": 1.0}, {"A": 2.0}, {"A": 3.0}), start=1):
        store.commit(snapshot(values, version), lineage(version))
    assert [v.version for v in store.versions()] == [1, 2, 3]
    assert [store.read(v)["y"].tolist() for v in (1, 2, 3)] == [[1.0], [2.0], [3.0]]
    assert store.resolve(None).version == 3
    with pytest.raises(VersionNotFoundError, match=r"has no version 4; it has 1\.\.3"):
        store.resolve(4)


def test_maintenance_commits_are_not_dataset_versions(store):
    store.commit(snapshot({"A": 1.0, "B": 2.0}), lineage(1))
    table = pa.Table.from_pandas(store.read(), schema=snapshot_schema(["y"]), preserve_index=False)
    write_deltalake(store.data_uri, table, mode="overwrite")  # no molops metadata
    assert DeltaTable(store.data_uri).version() == 1
    assert [(v.version, v.delta_version) for v in store.versions()] == [(1, 0)]
    assert store.latest_version() == 1
    store.commit(snapshot({"A": 5.0}, 2), lineage(2))
    assert [(v.version, v.delta_version) for v in store.versions()] == [(1, 0), (2, 2)]


def test_empty_snapshot_is_a_valid_version(store):
    empty = merge_measurements(
        None, group_replicates([], [], [], []), target="y", version=1, source="t"
    ).snapshot
    store.commit(empty, lineage(1))
    frame = store.read()
    assert len(frame) == 0
    assert list(frame.columns) == CORE_COLUMNS + target_columns("y")


# -- quarantine --------------------------------------------------------------------------------
def quarantine_rows(ingest_id: str, version: int, reasons: list[str]) -> pa.Table:
    n = len(reasons)
    return pa.table(
        {
            "ingest_id": [ingest_id] * n,
            "dataset_version": [version] * n,
            "time": pa.array([pd.Timestamp("2024-01-01", tz="UTC")] * n, pa.timestamp("us", tz="UTC")),
            "source": ["f.csv"] * n,
            "row": list(range(n, 0, -1)),
            "target": ["y"] * n,
            "reason": reasons,
            "detail": ["d"] * n,
            "raw": [f"raw{i}" for i in range(n)],
            "hash": [f"{ingest_id}-{i}" for i in range(n)],
        },
        schema=QUARANTINE_SCHEMA,
    )


def test_quarantine_is_visible_per_committed_version(store):
    store.commit(
        snapshot({"A": 1.0}), lineage(1, ingest_id="one"), quarantine_rows("one", 1, ["inorganic", "radical"])
    )
    store.commit(
        snapshot({"A": 2.0}, 2), lineage(2, ingest_id="two"), quarantine_rows("two", 2, ["missing_target"])
    )
    assert list(store.read_quarantine(1)["reason"]) == ["radical", "inorganic"]  # sorted by row
    assert list(store.read_quarantine(2)["reason"]) == ["missing_target"]
    assert list(store.read_quarantine()["dataset_version"]) == [1, 1, 2]
    assert store.quarantine_hashes() == {"one-0", "one-1", "two-0"}


def test_quarantine_of_an_uncommitted_ingest_is_invisible(store):
    # a crash between the quarantine write and the data commit leaves rows no version names
    store.commit(snapshot({"A": 1.0}), lineage(1, ingest_id="one"), quarantine_rows("one", 1, ["inorganic"]))
    write_deltalake(store.quarantine_uri, quarantine_rows("crashed", 2, ["radical"]), mode="append")
    assert list(store.read_quarantine()["reason"]) == ["inorganic"]
    assert store.quarantine_hashes() == {"one-0"}


def test_quarantine_before_any_rejects(store):
    store.commit(snapshot({"A": 1.0}), lineage(1, ingest_id="one"))
    frame = store.read_quarantine()
    assert len(frame) == 0
    assert list(frame.columns) == QUARANTINE_SCHEMA.names
    with pytest.raises(VersionNotFoundError):
        store.read_quarantine(2)


# -- locking -----------------------------------------------------------------------------------
def test_lock_held_elsewhere_gives_a_concurrent_write_error(store, tmp_path):
    other = FileLock(str(tmp_path / "sol.lock"))
    with other, pytest.raises(ConcurrentWriteError) as info, store.lock():
        pass
    assert str(info.value) == (
        "dataset 'sol' is being written by another process; gave up after 0.2 s (ingest.lock_timeout_s)"
    )
    with store.lock():  # free again
        pass


def test_ingest_waits_for_the_lock_then_fails_cleanly(tmp_path, write):
    from molops import Workspace
    from molops.config import CONFIG_FILE

    Workspace.init(tmp_path / "w")
    (tmp_path / "w" / CONFIG_FILE).write_text("[ingest]\nlock_timeout_s = 0.2\n", encoding="utf-8")
    ws = Workspace.open(tmp_path / "w")
    path = write("a.csv", "smiles,y\nCCO,1\n")
    with FileLock(str(ws.lock_dir / "dataset-sol.lock")), pytest.raises(ConcurrentWriteError):
        ws.dataset("sol").ingest(path, smiles_col="smiles", target_col="y", workers=1)
    assert not ws.dataset("sol").exists()
    assert ws.dataset("sol").ingest(path, smiles_col="smiles", target_col="y", workers=1).version == 1


def test_concurrent_ingests_both_land(ws, write):
    paths = [write(f"{i}.csv", f"smiles,y\n{'C' * (i + 1)}O,{i}\n") for i in range(3)]
    errors: list[BaseException] = []
    # every ingest has validated its file before any asks for the lock: all three are in flight
    validated = threading.Barrier(len(paths))

    def run(path):
        try:
            ws.dataset("sol").ingest(
                path, smiles_col="smiles", target_col="y", workers=1, progress=lambda *_: validated.wait(60)
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ds = ws.dataset("sol")
    assert [v.version for v in ds.versions()] == [1, 2, 3]
    assert sorted(ds.read()["smiles"]) == ["CCCO", "CCO", "CO"]


# -- writers on several machines (no shared lock): the commit decides ------------------------------
@pytest.fixture
def elsewhere(store, tmp_path):
    """The same dataset opened by another machine: same tables, a lock file this one never sees."""
    return DatasetStore("sol", store.root, tmp_path / "other-machine.lock", lock_timeout=5)


def test_a_commit_on_top_of_a_stale_read_is_refused(store, elsewhere):
    store.commit(snapshot({"A": 1.0}), lineage(1))
    with store.lock():
        latest = store.latest_version()
        with elsewhere.lock():
            elsewhere.commit(snapshot({"B": 2.0}, version=2), lineage(2, ingest_id="won"))
        with pytest.raises(CommitConflictError, match="'sol' was changed by another writer"):
            store.commit(snapshot({"C": 3.0}, version=2), lineage(latest + 1, ingest_id="lost"))
    assert [(v.version, v.lineage.get("ingest_id")) for v in store.versions()] == [(1, None), (2, "won")]


def test_two_first_versions_cannot_both_land(store, elsewhere):
    with store.lock():
        assert not store.exists()
        elsewhere.commit(snapshot({"B": 2.0}), lineage(1, ingest_id="won"))
        with pytest.raises(CommitConflictError):
            store.commit(snapshot({"A": 1.0}), lineage(1, ingest_id="lost"))
    assert [v.lineage["ingest_id"] for v in store.versions()] == ["won"]


def test_retrying_merges_again_on_the_winners_version(store, elsewhere, tmp_path):
    # retrying gives up after lock_timeout: the fixture's 0.2 s (for the lock tests) is too short
    # for a second attempt on a loaded machine
    store = DatasetStore("sol", store.root, tmp_path / "sol.lock", lock_timeout=10)
    store.commit(snapshot({"A": 1.0}), lineage(1))
    seen: list[int] = []

    def attempt() -> int:
        with store.lock():
            latest = store.latest_version()
            current = store.read(latest)
            if not seen:  # another machine commits between this read and this commit
                with elsewhere.lock():
                    theirs = pd.concat([elsewhere.read(), snapshot({"B": 2.0}, version=2)], ignore_index=True)
                    elsewhere.commit(theirs, lineage(2))
            seen.append(latest)
            merged = pd.concat([current, snapshot({"C": 3.0}, version=latest + 1)], ignore_index=True)
            return store.commit(merged, lineage(latest + 1))

    assert store.retrying(attempt) == 3
    assert seen == [1, 2]
    assert [v.version for v in store.versions()] == [1, 2, 3]
    assert sorted(store.read()["inchikey"]) == ["A", "B", "C"]


def test_a_pinned_read_sees_its_own_versions_after_another_machine_commits(store, elsewhere):
    # deltalake's history() numbers commits from the version a table was loaded at, so a table
    # loaded before a newer commit mislabels them all: versions must not inherit that.
    store.commit(snapshot({"A": 1.0}), lineage(1))
    with store.lock():
        assert [v.version for v in store.versions()] == [1]
        with elsewhere.lock():
            elsewhere.commit(snapshot({"B": 2.0}, version=2), lineage(2))
        assert [(v.version, v.delta_version) for v in store.versions()] == [(1, 0)]
        assert list(store.read(1)["inchikey"]) == ["A"]
    assert [(v.version, v.delta_version) for v in store.versions()] == [(1, 0), (2, 1)]
    assert list(store.read(2)["inchikey"]) == ["B"]
