"""Where the workspace's tables live: a local directory or an object-store URL, in one place.

Every Delta table is opened and written with :attr:`Storage.options` and its Parquet files are read
through :meth:`Storage.read_parquet` / :meth:`Storage.dataset`, so no layer above spells a scheme,
an endpoint or a credential. S3 settings (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ALLOW_HTTP`` for a plain-http endpoint) are read
from the environment by deltalake's object store and by pyarrow themselves: no secret passes
through molops, is written to ``molops.toml`` or is logged.

On S3 every object is written with server-side encryption (SSE-KMS with the configured key, else
SSE-S3) and every Delta commit is a conditional put, so concurrent writers from several machines
never overwrite each other's commits (no locking provider and no unsafe rename needed).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable

from molops._types import StrPath
from molops.errors import ConfigError

#: Object stores deltalake and pyarrow both reach; tested: s3.
OBJECT_STORE_SCHEMES = ("s3", "s3a", "gs", "az", "abfs", "abfss")
_S3 = ("s3", "s3a")


def _s3_endpoint() -> tuple[str | None, str]:
    """(host[:port], scheme) of ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, as pyarrow wants them."""
    url = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        return None, "https"
    parts = urlsplit(url)
    return (parts.netloc + parts.path).rstrip("/") or None, parts.scheme or "https"


@functools.cache
def _s3_filesystem(endpoint: str | None, scheme: str, region: str | None) -> pafs.FileSystem:
    # Credentials: pyarrow's AWS SDK reads them from the environment (never passed here).
    return pafs.S3FileSystem(endpoint_override=endpoint, scheme=scheme, region=region)


@dataclass(frozen=True)
class Storage:
    """The root of some tables: an absolute local path or an object-store URL (no trailing slash)."""

    root: str
    #: SSE-KMS key id for objects written to S3; empty: SSE-S3 (AES256).
    kms_key_id: str = ""

    @classmethod
    def at(cls, location: StrPath, base: StrPath | None = None, kms_key_id: str = "") -> Storage:
        """*location* as a storage root: a URL as given, a path relative to *base* made absolute."""
        text = str(location).strip()
        if "://" in text and not text.startswith("file://"):
            parts = urlsplit(text)
            scheme = parts.scheme.lower()
            if scheme not in OBJECT_STORE_SCHEMES:
                raise ConfigError(
                    f"storage {text!r}: scheme {scheme!r} is not supported; expected a local path or "
                    "s3://BUCKET/PREFIX (also gs://, az://)"
                )
            if "@" in parts.netloc or parts.password:
                raise ConfigError(
                    f"storage URL for bucket {parts.hostname!r} contains credentials; give them in the "
                    "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), never in the URL"
                )
            if not parts.netloc:
                raise ConfigError(f"storage {text!r} names no bucket; expected {scheme}://BUCKET/PREFIX")
            return cls(f"{scheme}://{parts.netloc}{parts.path}".rstrip("/"), kms_key_id)
        path = Path(urlsplit(text).path if text.startswith("file://") else text)
        if base is not None:
            path = Path(base) / path
        return cls(str(path.resolve()), kms_key_id)

    # -- naming --------------------------------------------------------------------------------
    @property
    def scheme(self) -> str:
        """``file`` for a local directory, else the URL's scheme."""
        return urlsplit(self.root).scheme if "://" in self.root else "file"

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    def uri(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def child(self, *parts: str) -> Storage:
        """The same store, rooted at *parts* below this root."""
        return Storage(self.uri(*parts), self.kms_key_id)

    # -- deltalake -----------------------------------------------------------------------------
    @property
    def options(self) -> dict[str, str]:
        """deltalake ``storage_options``: conditional-put commits and server-side encryption on S3.

        Endpoint, region and credentials are deliberately absent: the object store reads them
        from the environment, so they never travel through molops.
        """
        if self.scheme not in _S3:
            return {}
        options = {"aws_conditional_put": "etag"}
        if self.kms_key_id:
            options["aws_server_side_encryption"] = "aws:kms"
            options["aws_sse_kms_key_id"] = self.kms_key_id
        else:
            options["aws_server_side_encryption"] = "AES256"
        return options

    def is_table(self, *parts: str) -> bool:
        """Whether a Delta table (its ``_delta_log``) exists at *parts* below this root."""
        return bool(DeltaTable.is_deltatable(self.uri(*parts), storage_options=self.options))

    # -- pyarrow -------------------------------------------------------------------------------
    def filesystem(self) -> pafs.FileSystem:
        """A pyarrow filesystem for this root's files (paths as :meth:`path` gives them)."""
        if self.is_local:
            return pafs.LocalFileSystem()
        if self.scheme in _S3:
            endpoint, scheme = _s3_endpoint()
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
            return _s3_filesystem(endpoint, scheme, region)
        fs, _ = pafs.FileSystem.from_uri(self.root)
        return fs

    def path(self, uri: str) -> str:
        """*uri* (a table file as deltalake names it) as a path of :meth:`filesystem`."""
        if uri.startswith("file://"):
            return urlsplit(uri).path
        if "://" in uri:
            parts = urlsplit(uri)
            return f"{parts.netloc}{parts.path}"
        return uri

    def read_parquet(self, uris: list[str], schema: pa.Schema) -> pa.Table:
        """The Parquet files *uris* as one table of *schema*."""
        if not uris:
            return schema.empty_table()
        return pq.read_table([self.path(u) for u in uris], schema=schema, filesystem=self.filesystem())

    def dataset(self, uris: list[str], schema: pa.Schema) -> Any:
        """The Parquet files *uris* as a pyarrow dataset (for filtered scans)."""
        return pads.dataset(
            [self.path(u) for u in uris], schema=schema, format="parquet", filesystem=self.filesystem()
        )

    def list_dirs(self, *parts: str) -> list[str]:
        """Names of the "folders" directly below *parts* (common prefixes on an object store)."""
        selector = pafs.FileSelector(self.path(self.uri(*parts)), allow_not_found=True)
        infos = self.filesystem().get_file_info(selector)
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)

    def check(self) -> None:
        """Fail with one sentence when the root cannot be listed (no bucket, no access, no server)."""
        fs, path = self.filesystem(), self.path(self.root)
        try:
            bucket = path.split("/", 1)[0]
            if not self.is_local and fs.get_file_info(bucket).type == pafs.FileType.NotFound:
                raise ConfigError(
                    f"storage {self.root}: bucket {bucket!r} does not exist; create it first "
                    "(molops never creates buckets)"
                )
            fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
        except OSError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(
                f"storage {self.root}: cannot be reached ({first}); check that the bucket exists and "
                "AWS_ENDPOINT_URL, AWS_REGION and the credentials in the environment"
            ) from None
