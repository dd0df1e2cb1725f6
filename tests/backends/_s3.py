"""An S3-compatible object store for the backend tests: moto's server on 127.0.0.1, one per session.

``s3_server`` starts it on a free port in a process of its own (``_servers.moto_server``); ``s3``
gives a test a fresh bucket and the standard AWS variables (endpoint, region, credentials,
``AWS_ALLOW_HTTP``) in its environment, which the molops commands it starts inherit. The secret key
is random per session, so a test can look for it in every file and every line of output. Without
moto the tests are skipped loudly (or fail under ``MOLOPS_REQUIRE_BACKENDS=1``), like the other
backends.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ._servers import BackendUnavailable, S3Server, moto_server

_BUCKETS = itertools.count()


@dataclass
class Bucket:
    server: S3Server
    name: str

    def url(self, prefix: str = "") -> str:
        return f"s3://{self.name}/{prefix}".rstrip("/")

    def keys(self, prefix: str = "") -> list[str]:
        paginator = self.server.client().get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.name, Prefix=prefix)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def head(self, key: str) -> dict[str, Any]:
        head: dict[str, Any] = self.server.client().head_object(Bucket=self.name, Key=key)
        return head


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 (a free port), for the whole session."""
    try:
        with moto_server() as server:
            yield server
    except BackendUnavailable as exc:
        from .conftest import unavailable

        unavailable(str(exc))


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A fresh bucket, with the AWS variables set for this test (and the commands it starts)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    bucket = Bucket(s3_server, f"molops-test-{os.getpid()}-{next(_BUCKETS)}")
    s3_server.client().create_bucket(Bucket=bucket.name)
    return bucket
