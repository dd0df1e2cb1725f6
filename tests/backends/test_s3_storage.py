"""Datasets, quarantine and the prediction log on a real S3-compatible server (moto, on loopback).

Two workspace directories initialised with the same ``--storage s3://…`` are one workspace's
tables; two ingests into one dataset from two processes at once both land as their own versions;
a killed ingest leaves the previous version intact; every object is written with server-side
encryption; the secret key appears in no workspace file and no output.
"""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from _wait import wait_until
from integration._cli import enamine, finish, molops, start, version_numbers, write_csv
from molops.data.prediction_log import PredictionLog
from molops.data.store import QUARANTINE_SCHEMA, CommitConflictError
from molops.workspace import Workspace

from ._s3 import Bucket

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS = [["CCO", 1.0], ["c1ccccc1", 2.0], ["not_a_smiles", 3.0], ["CCN", 4.0]]


def _ingest(ws: Path, src: Path, name: str = "sol", target: str = "y") -> list[Any]:
    return ["data", "ingest", src, "-d", name, "--target-col", target, "-w", ws, "--json"]


def _secrets_absent(secret: str, *folders: Path) -> None:
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), f"{path} holds the secret key"


def test_two_directories_sharing_a_storage_url_are_one_workspace(s3: Bucket, tmp_path: Path) -> None:
    url = s3.url("team")
    a, b = tmp_path / "a", tmp_path / "b"
    outputs = [molops("init", a, "--storage", url).ok()]
    src = write_csv(tmp_path / "sol.csv", ["smiles", "y"], ROWS)
    outputs.append(molops(*_ingest(a, src)).ok())
    report = outputs[-1].json()
    assert (report["version"], report["added"], report["quarantined"]) == (1, 3, 1)
    outputs.append(molops("init", b, "--storage", url + "/").ok())

    for ws in (a, b):
        listed = molops("data", "list", "-w", ws, "--json").json()["datasets"]
        assert [(d["name"], d["latest_version"]) for d in listed] == [("sol", 1)]
    outputs.append(molops("data", "show", "sol", "-w", b))  # the table, as a person sees it
    shown = molops("data", "show", "sol", "-w", b, "--json").json()
    assert (shown["version"], shown["molecules"]) == (1, 3)
    assert sorted(r["smiles"] for r in shown["head"]) == ["CCN", "CCO", "c1ccccc1"]
    rejected = molops("data", "quarantine", "sol", "-w", b, "--json").json()
    assert (rejected["quarantined"], rejected["reasons"]) == (1, {"unparsable_structure": 1})

    # B writes the next version; A reads it
    more = write_csv(tmp_path / "more.csv", ["smiles", "y"], [["CCCO", 5.0]])
    assert molops(*_ingest(b, more)).json()["version"] == 2
    assert version_numbers(a, "sol") == [1, 2]

    # the tables are in the bucket, in neither directory; and the secret key is nowhere
    keys = s3.keys("team/")
    assert any(k.startswith("team/datasets/sol/table/_delta_log/") for k in keys), keys
    assert any(k.startswith("team/datasets/sol/quarantine/_delta_log/") for k in keys), keys
    assert not (a / "datasets").exists() and not (b / "datasets").exists()
    _secrets_absent(s3.server.secret_key, a, b)
    assert 'uri = "s3://' in (a / "molops.toml").read_text()
    for res in outputs:
        assert s3.server.secret_key not in res.stdout + res.stderr


def test_every_object_is_encrypted_server_side(s3: Bucket, tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws", storage=s3.url("enc"))
    src = write_csv(tmp_path / "sol.csv", ["smiles", "y"], ROWS)
    ws.dataset("sol").ingest(src, smiles_col=None, target_col="y", workers=1)
    PredictionLog.of(ws).append([{"smiles": "CCO", "mean": 1.0, "model_name": "m"}])
    assert len(PredictionLog.of(ws).read()) == 1
    keys = s3.keys("enc/")
    assert {k.split("/")[1] for k in keys} >= {"datasets", "predictions"}
    for key in keys:
        assert s3.head(key).get("ServerSideEncryption") == "AES256", key


def test_a_configured_kms_key_is_requested(s3: Bucket, tmp_path: Path, monkeypatch) -> None:
    import boto3

    kms = boto3.client("kms", endpoint_url=s3.server.endpoint, region_name=s3.server.region)
    key_id = kms.create_key(Description="molops test")["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("MOLOPS_STORAGE__KMS_KEY_ID", key_id)
    ws = Workspace.init(tmp_path / "ws", storage=s3.url("kms"))
    assert ws.storage.kms_key_id == key_id
    src = write_csv(tmp_path / "sol.csv", ["smiles", "y"], ROWS)
    ws.dataset("sol").ingest(src, smiles_col=None, target_col="y", workers=1)
    keys = s3.keys("kms/")
    assert keys
    for key in keys:
        head = s3.head(key)
        assert head.get("ServerSideEncryption") == "aws:kms", key
        assert key_id in head.get("SSEKMSKeyId", ""), key


def test_storage_from_the_environment(s3: Bucket, tmp_path: Path, monkeypatch) -> None:
    ws = Workspace.init(tmp_path / "ws")  # a laptop workspace ...
    monkeypatch.setenv("MOLOPS_STORAGE__URI", s3.url("env"))  # ... pointed at the team's store
    ws = Workspace.open(ws.root)
    assert ws.storage_uri == s3.url("env")
    src = write_csv(tmp_path / "sol.csv", ["smiles", "y"], ROWS)
    ws.dataset("sol").ingest(src, smiles_col=None, target_col="y", workers=1)
    assert ws.datasets() == ["sol"]
    assert not (ws.root / "datasets").exists()


def test_init_refuses_a_missing_bucket_and_credentials_in_the_url(s3: Bucket, tmp_path: Path) -> None:
    res = molops("init", tmp_path / "x", "--storage", "s3://no-such-bucket-here/team")
    assert res.returncode != 0 and "bucket 'no-such-bucket-here' does not exist" in res.stderr, str(res)
    assert not (tmp_path / "x").exists()
    secret = s3.server.secret_key
    res = molops("init", tmp_path / "y", "--storage", f"s3://key:{secret}@{s3.name}/team")
    assert res.returncode != 0 and "contains credentials" in res.stderr, str(res)
    assert secret not in res.stdout + res.stderr
    assert not (tmp_path / "y").exists()


def _molecules(n: int, offset: int) -> list[list[Any]]:
    smiles = [s for s, _ in enamine()[offset : offset + n]]
    return [[s, float(i)] for i, s in enumerate(smiles)]


def test_two_processes_ingesting_one_dataset_at_once_both_land(s3: Bucket, tmp_path: Path) -> None:
    # Two workspace directories stand for two machines: their local locks do not see each other,
    # so only the object store's conditional commits keep the two ingests apart.
    url = s3.url("race")
    a, b = tmp_path / "a", tmp_path / "b"
    molops("init", a, "--storage", url).ok()
    molops("init", b, "--storage", url).ok()
    base = write_csv(tmp_path / "base.csv", ["smiles", "y"], _molecules(20, 0))
    molops(*_ingest(a, base)).json()
    first = write_csv(tmp_path / "first.csv", ["smiles", "y"], _molecules(300, 100))
    second = write_csv(tmp_path / "second.csv", ["smiles", "y"], _molecules(300, 500))
    procs = [start(*_ingest(a, first)), start(*_ingest(b, second))]
    reports = [finish(p).json() for p in procs]

    assert sorted(r["version"] for r in reports) == [2, 3]
    assert version_numbers(a, "sol") == [1, 2, 3]
    latest = molops("data", "show", "sol", "-w", b, "--json", "--limit", "1").json()
    expected = 20 + reports[0]["added"] + reports[1]["added"]
    assert latest["molecules"] == expected  # neither ingest's molecules were lost
    assert min(r["added"] for r in reports) > 250


def test_a_killed_ingest_leaves_the_previous_version_intact(s3: Bucket, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    molops("init", ws, "--storage", s3.url("crash")).ok()
    base = write_csv(tmp_path / "base.csv", ["smiles", "y"], _molecules(20, 0))
    molops(*_ingest(ws, base)).json()
    before_export = tmp_path / "before.csv"
    molops("data", "export", "sol", before_export, "-w", ws).ok()
    before_keys = set(s3.keys("crash/"))
    rows = [*_molecules(3000, 100), *[["not_a_smiles", 1.0]] * 50]
    big = write_csv(tmp_path / "big.csv", ["smiles", "y"], rows)

    proc = start(*_ingest(ws, big), new_session=True)
    # the first object the ingest writes (its quarantine rows come before the data commit)
    wait_until(
        lambda: proc.poll() is not None or set(s3.keys("crash/")) - before_keys,
        120,
        "the ingest's first object in the bucket",
        interval=0.005,
    )
    killed = proc.poll() is None
    if killed:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        proc.communicate()
    else:
        assert finish(proc).json()["version"] == 2

    # The dataset opens, and its latest version is the previous one, byte for byte, or the whole new
    # one (the kill may land after the commit): never anything in between.
    seen = version_numbers(ws, "sol")
    assert seen in ([1], [1, 2])
    after = tmp_path / "after.csv"
    molops("data", "export", "sol", after, "-w", ws).ok()
    quarantined = molops("data", "quarantine", "sol", "-w", ws, "--json").json()["quarantined"]
    if seen == [1]:
        assert after.read_bytes() == before_export.read_bytes()
        assert quarantined == 0
        # the next ingest lands on top of whatever the killed one left behind
        assert molops(*_ingest(ws, big)).json()["version"] == 2
    else:
        assert len(after.read_text().splitlines()) == 1 + 20 + 3000
        assert quarantined == 50


def test_a_failed_commit_leaves_no_trace(s3: Bucket, tmp_path: Path) -> None:
    """A writer whose commit loses to another machine's (after its quarantine rows and data files
    were uploaded) changes nothing a reader sees; the winner's version stands."""
    one = Workspace.init(tmp_path / "one", storage=s3.url("fail"))
    two = Workspace.init(tmp_path / "two", storage=s3.url("fail"))
    base = write_csv(tmp_path / "base.csv", ["smiles", "y"], _molecules(10, 0))
    one.dataset("sol").ingest(base, smiles_col=None, target_col="y", workers=1)
    loser, winner = one.dataset("sol").store, two.dataset("sol").store
    with loser.lock():
        snapshot = loser.read()
        lineage = {"version": 2, "operation": "ingest", "ingest_id": "lost"}
        rejected = pa.table(
            {
                "ingest_id": ["lost"],
                "dataset_version": [2],
                "time": [datetime.now(UTC)],
                "reason": ["unparsable_structure"],
                "hash": ["h"],
            }
        )
        with winner.lock():
            winner.commit(winner.read().head(5), {"version": 2, "operation": "ingest", "ingest_id": "won"})
        with pytest.raises(CommitConflictError, match="changed by another writer"):
            loser.commit(snapshot.head(3), lineage, _quarantine(rejected))
    assert [v.lineage["ingest_id"] for v in one.dataset("sol").versions()[1:]] == ["won"]
    assert len(one.dataset("sol").read()) == 5
    assert one.dataset("sol").quarantine().empty


def _quarantine(partial: pa.Table) -> pa.Table:
    """*partial*'s columns, the rest of the quarantine schema as nulls."""
    columns = [
        partial.column(f.name) if f.name in partial.column_names else pa.nulls(len(partial), f.type)
        for f in QUARANTINE_SCHEMA
    ]
    return pa.Table.from_arrays(columns, schema=QUARANTINE_SCHEMA)
