"""Feature caches and pool identity tables on a real S3-compatible server (moto, on loopback).

Two workspace directories initialised with the same ``--storage s3://…`` stand for two machines:
what one featurizes, the other fetches instead of computing (byte for byte the same local files);
several processes building the same features at once all succeed and leave a cache a third
machine reads warm; every object is written with server-side encryption; a corrupt object is
refused and its molecules computed again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from integration._cli import enamine, finish, molops, start, write_csv
from molops.features import get_featurizer
from molops.workspace import Workspace

from ._s3 import Bucket

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MORGAN = get_featurizer("morgan")


def _rows(n: int, offset: int) -> list[list[Any]]:
    return [[s, float(y)] for s, y in enamine()[offset : offset + n]]


def _build(ws: Path, *args: Any) -> list[Any]:
    return ["features", "build", *args, "-f", "morgan", "-w", ws, "--json"]


def _files(folder: Path) -> dict[str, str]:
    """sha256 of every file below *folder* except the manifests (which carry times)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def _secrets_absent(secret: str, *folders: Path) -> None:
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), f"{path} holds the secret key"


def test_a_second_machine_reads_features_and_pools_warm(s3: Bucket, tmp_path: Path) -> None:
    url = s3.url("team")
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    outputs = [molops("init", ws, "--storage", url).ok() for ws in (a, b, c)]
    data = write_csv(tmp_path / "sol.csv", ["smiles", "y"], _rows(200, 0))
    molops("data", "ingest", data, "-d", "sol", "--target-col", "y", "-w", a, "--json").json()
    pool = write_csv(tmp_path / "pool.csv", ["smiles"], [[s] for s, _ in _rows(150, 1000)])

    cold = molops(*_build(a, "-d", "sol")).json()
    assert (cold["computed"], cold["fetched"]) == (cold["n"], 0) and cold["n"] > 190
    cold_pool = molops(*_build(a, "--pool", pool)).json()
    assert (cold_pool["n"], cold_pool["fetched"]) == (150, 0)

    moved = tmp_path / "elsewhere" / "candidates.csv"  # the same bytes under another machine's path
    moved.parent.mkdir()
    moved.write_bytes(pool.read_bytes())
    warm = molops(*_build(b, "-d", "sol")).json()
    assert (warm["n"], warm["computed"], warm["cached"], warm["fetched"]) == (
        cold["n"],
        0,
        cold["n"],
        cold["n"],
    )
    # (b fetched every published shard, the pool's too: c shows the pool's own warm build)
    warm_pool = molops(*_build(c, "--pool", moved)).json()
    assert warm_pool["computed"] == 0
    assert warm_pool["fetched"] == warm_pool["cached"] == 150 - warm_pool["no_identity"]
    assert warm_pool["invalid"] == cold_pool["invalid"]
    d = tmp_path / "d"  # the text form says where the molecules came from
    outputs += [
        molops("init", d, "--storage", url).ok(),
        molops("features", "build", "-d", "sol", "-f", "morgan", "-w", d).ok(),
    ]
    assert (
        f"0 computed, {cold['n']} from cache ({cold['n']} fetched from the shared store)"
        in outputs[-1].stdout
    )

    # the working copies are byte for byte the same; the shared copies are all encrypted
    assert _files(b / "features") == _files(a / "features")
    assert _files(c / "pools") == _files(a / "pools")
    keys = [k for k in s3.keys("team/") if k.split("/")[1] in ("features", "pools")]
    assert any(k.startswith(f"team/features/{MORGAN.cache_name}/shards/") for k in keys), keys
    assert any(k.endswith("/identity.json") for k in keys), keys
    for key in keys:
        assert s3.head(key).get("ServerSideEncryption") == "AES256", key
    _secrets_absent(s3.server.secret_key, a, b, c)
    for res in outputs:
        assert s3.server.secret_key not in res.stdout + res.stderr


def test_processes_building_the_same_features_at_once(s3: Bucket, tmp_path: Path) -> None:
    # two processes in one directory (one machine: its file lock orders them) and one in another
    # (a second machine: only the object store's write-once keys keep them apart)
    url = s3.url("race")
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for ws in (a, b, c):
        molops("init", ws, "--storage", url).ok()
    data = write_csv(tmp_path / "sol.csv", ["smiles", "y"], _rows(300, 0))
    molops("data", "ingest", data, "-d", "sol", "--target-col", "y", "-w", a, "--json").json()
    pool = write_csv(tmp_path / "pool.csv", ["smiles"], [[s] for s, _ in _rows(300, 2000)])

    for args in (["-d", "sol"], ["--pool", pool]):
        procs = [start(*_build(ws, *args)) for ws in (a, a, b)]
        reports = [finish(p).json() for p in procs]
        assert len({(r["n"], r["no_identity"]) for r in reports}) == 1
        assert all(r["computed"] + r["cached"] + r["no_identity"] == r["n"] for r in reports)

    # every published shard is whole: its descriptor's files are there, at the sizes it names
    listed = {k: s for k, s in _sizes(s3, f"race/features/{MORGAN.cache_name}/").items()}
    descriptors = [k for k in listed if "/shards/" in k]
    assert descriptors
    for key in descriptors:
        descriptor = json.loads(s3.server.client().get_object(Bucket=s3.name, Key=key)["Body"].read())
        for part, expected in descriptor["files"].items():
            name = f"race/features/{MORGAN.cache_name}/{descriptor['name']}.{part}"
            assert listed[name] == expected["bytes"], name

    # a third machine reads it all warm, and the features are the featurizer's
    warm = molops(*_build(c, "-d", "sol")).json()
    warm_pool = molops(*_build(c, "--pool", pool)).json()
    assert (warm["computed"], warm_pool["computed"]) == (0, 0)
    ws = Workspace.open(c)
    frame = ws.dataset("sol").read()
    values, valid = ws.features.get("morgan", frame["inchikey"].tolist())
    np.testing.assert_array_equal(values, MORGAN.transform(frame["smiles"].tolist()).values)
    assert valid.all()


def _sizes(s3: Bucket, prefix: str) -> dict[str, int]:
    paginator = s3.server.client().get_paginator("list_objects_v2")
    pages = paginator.paginate(Bucket=s3.name, Prefix=prefix)
    return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}


def test_a_kms_key_is_requested_and_a_corrupt_object_refused(
    s3: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import boto3

    kms = boto3.client("kms", endpoint_url=s3.server.endpoint, region_name=s3.server.region)
    key_id = kms.create_key(Description="molops test")["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("MOLOPS_STORAGE__KMS_KEY_ID", key_id)
    one = Workspace.init(tmp_path / "one", storage=s3.url("kms"))
    two = Workspace.init(tmp_path / "two", storage=s3.url("kms"))
    src = write_csv(tmp_path / "sol.csv", ["smiles", "y"], _rows(50, 0))
    one.dataset("sol").ingest(src, smiles_col=None, target_col="y", workers=1)
    assert one.features.build_dataset(one.dataset("sol"), "maccs").computed == 50
    maccs = get_featurizer("maccs")
    keys = [k for k in s3.keys("kms/") if k.startswith("kms/features/")]
    assert keys
    for key in keys:
        head = s3.head(key)
        assert head.get("ServerSideEncryption") == "aws:kms", key
        assert key_id in head.get("SSEKMSKeyId", ""), key

    (data_key,) = [k for k in keys if k.endswith(".data.npy")]
    body = s3.server.client().get_object(Bucket=s3.name, Key=data_key)["Body"].read()
    s3.server.client().put_object(Bucket=s3.name, Key=data_key, Body=body[:-1])  # truncated
    with caplog.at_level(logging.WARNING, logger="molops.features.remote"):
        report = two.features.build_dataset(two.dataset("sol"), "maccs")
    assert (report.computed, report.fetched) == (50, 0)
    assert "skipped, its molecules are computed here" in caplog.text
    assert two.features.cache(maccs).orphans() == []
    frame = two.dataset("sol").read()
    values, _ = two.features.get("maccs", frame["inchikey"].tolist())
    np.testing.assert_array_equal(values, maccs.transform(frame["smiles"].tolist()).values)
