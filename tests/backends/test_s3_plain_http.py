"""A plain-http S3 endpoint (a MinIO on http://, moto here) without ``AWS_ALLOW_HTTP``.

The operator's guide sets only the endpoint and the credentials; ``init`` accepted such an endpoint
(pyarrow follows its scheme) while every later table read failed in deltalake with a traceback
("URL scheme is not allowed"). The endpoint's own scheme now decides for both.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from integration._cli import molops, write_csv
from molops.storage import Storage

from ._s3 import Bucket

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_an_http_endpoint_works_without_aws_allow_http(
    s3: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert s3.server.endpoint.startswith("http://")
    monkeypatch.delenv("AWS_ALLOW_HTTP", raising=False)
    url = s3.url("plain")
    a, b = tmp_path / "a", tmp_path / "b"
    molops("init", a, "--storage", url).ok()
    molops("init", b, "--storage", url).ok()
    src = write_csv(tmp_path / "sol.csv", ["smiles", "y"], [["CCO", 1.0], ["CCN", 2.0]])
    report = molops("data", "ingest", src, "-d", "sol", "--target-col", "y", "-w", a, "--json").ok()
    assert report.json()["version"] == 1
    listed = molops("data", "list", "-w", b, "--json").json()["datasets"]
    assert [(d["name"], d["latest_version"]) for d in listed] == [("sol", 1)]


def test_an_explicit_aws_allow_http_is_left_to_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ALLOW_HTTP", "false")
    assert "aws_allow_http" not in Storage("s3://bucket/prefix").options
    monkeypatch.delenv("AWS_ALLOW_HTTP")
    assert Storage("s3://bucket/prefix").options["aws_allow_http"] == "true"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://minio.lab:9000")
    assert "aws_allow_http" not in Storage("s3://bucket/prefix").options
