"""The audit log on a real S3-compatible server (moto, on loopback): two workspace directories sharing
one bucket share one timeline, recorded by whoever acted in each, and the rows are encrypted."""

from __future__ import annotations

from pathlib import Path

import pytest

from integration._cli import clean_env, molops, write_csv

from ._s3 import Bucket

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROWS = [["CCO", 1.0], ["c1ccccc1", 2.0], ["CCN", 4.0]]


def test_two_machines_one_timeline(s3: Bucket, tmp_path: Path) -> None:
    url = s3.url("team")
    a, b = tmp_path / "a", tmp_path / "b"
    molops("init", a, "--storage", url).ok()
    molops("init", b, "--storage", url).ok()
    first = write_csv(tmp_path / "first.csv", ["smiles", "y"], ROWS[:2])
    second = write_csv(tmp_path / "second.csv", ["smiles", "y"], ROWS[2:])
    ingest = ["data", "ingest", "-d", "sol", "--target-col", "y", "--json"]
    molops(*ingest, first, "-w", a, env=clean_env(MOLOPS_USER="alice")).json()
    molops(*ingest, second, "-w", b, env=clean_env(MOLOPS_USER="bob")).json()
    for ws in (a, b):
        entries = molops("audit", "-w", ws, "--json").json()["entries"]
        assert [(e["user"], e["action"], e["version"]) for e in entries] == [
            ("alice", "dataset.ingest", "1"),
            ("bob", "dataset.ingest", "2"),
        ]
    keys = s3.keys("team/audit/")
    assert any(k.endswith(".parquet") for k in keys)
    for key in keys:
        assert s3.head(key).get("ServerSideEncryption") == "AES256", key
    assert not (a / "audit").exists() and not (b / "audit").exists()
