"""An S3-compatible object store for the backend tests: moto's server on 127.0.0.1, one per session.

``s3_server`` starts it on a free port in a process of its own, not in a thread of the test process
(a deltalake call that holds the GIL while it waits for the server would wait forever); ``s3``
gives a test a fresh bucket and the standard AWS variables (endpoint, region, credentials,
``AWS_ALLOW_HTTP``) in its environment, which the molops commands it starts inherit. The secret key
is random per session, so a test can look for it in every file and every line of output. Without
moto the tests are skipped loudly (or fail under ``MOLOPS_REQUIRE_BACKENDS=1``), like the other
backends.
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from _wait import wait_until

_BUCKETS = itertools.count()


@dataclass
class S3Server:
    endpoint: str
    region: str = "us-east-1"
    access_key: str = "molops-test-access"
    secret_key: str = field(default_factory=lambda: "molops-secret-" + secrets.token_hex(12))

    def env(self) -> dict[str, str]:
        """The AWS variables every S3 client (deltalake, pyarrow, boto3) reads."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ALLOW_HTTP": "true",
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 (a free port), for the whole session."""
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as exc:
        from .conftest import unavailable

        unavailable(f"no S3-compatible server: {exc.name} is not installed (pip install 'moto[server]')")
        raise  # unreachable: unavailable() skips or fails
    with tempfile.TemporaryFile() as log:
        port = _free_port()
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: proc.poll() is not None or _answers(port), 60, "moto's server to listen")
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"moto's server exited ({proc.returncode}): {log.read()[-2000:]!r}")
            yield S3Server(endpoint=f"http://127.0.0.1:{port}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


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
