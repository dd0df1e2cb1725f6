"""Where the workspace's tables live: a local directory or an object-store URL, in one place.

Every Delta table is opened and written with :attr:`Storage.options` and its Parquet files are read
through :meth:`Storage.read_parquet` / :meth:`Storage.dataset`, so no layer above spells a scheme,
an endpoint or a credential. S3 settings (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``) are read from the environment by deltalake's object
store and by pyarrow themselves: no secret passes through molops, is written to ``molops.toml`` or
is logged. A plain ``http://`` endpoint is used as given (``AWS_ALLOW_HTTP`` set explicitly wins).

On S3 every object is written with server-side encryption (SSE-KMS with the configured key, else
SSE-S3) and every Delta commit is a conditional put, so concurrent writers from several machines
never overwrite each other's commits (no locking provider and no unsafe rename needed).

Plain files (feature-cache shards, pool identity tables) go through :meth:`Storage.put_file` /
:meth:`Storage.get_file`: on an object store through deltalake's object-store handler, which sends
the same server-side encryption settings (pyarrow's S3 filesystem cannot request SSE).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake._internal import DeltaFileSystemHandler

from molops._types import StrPath
from molops.errors import ConfigError, MolopsError

#: Object stores deltalake and pyarrow both reach; tested: s3.
OBJECT_STORE_SCHEMES = ("s3", "s3a", "gs", "az", "abfs", "abfss")
_S3 = ("s3", "s3a")
#: Bytes per read or write when a plain file is copied to or from the store.
_BLOCK = 8 << 20
#: Terminal colour codes, which deltalake puts in its error messages.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class StorageError(MolopsError):
    """An object could not be written to or read from the workspace's storage."""


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


@functools.lru_cache(maxsize=8)
def _object_handler(root: str, options: tuple[tuple[str, str], ...], env: tuple[str, ...]) -> Any:
    """deltalake's object-store handler for *root* (*env*: the AWS variables it read, so a changed
    endpoint or credential gets a new handler)."""
    # deltalake's public DeltaStorageHandler wraps this in pyarrow's PythonFile, whose writes hand
    # the store a Buffer it refuses; the handler itself takes bytes (typed in deltalake's stubs).
    return DeltaFileSystemHandler(root, dict(options))


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
        if _s3_endpoint()[1] == "http" and "AWS_ALLOW_HTTP" not in os.environ:
            # pyarrow follows the endpoint's scheme, but deltalake refuses a plain-http endpoint
            # unless told, so a MinIO on http:// would pass `init` and then fail every table read.
            options["aws_allow_http"] = "true"
        if self.kms_key_id:
            options["aws_server_side_encryption"] = "aws:kms"
            options["aws_sse_kms_key_id"] = self.kms_key_id
        else:
            options["aws_server_side_encryption"] = "AES256"
        return options

    def is_table(self, *parts: str) -> bool:
        """Whether a Delta table (its ``_delta_log``) exists at *parts* below this root."""
        try:
            return bool(DeltaTable.is_deltatable(self.uri(*parts), storage_options=self.options))
        except OSError as exc:
            raise self.failure("look for a table at", "/".join(parts) or "its root", exc) from None

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
        import pyarrow.dataset as pads  # imports pandas (~0.2 s): only filtered scans need it

        return pads.dataset(
            [self.path(u) for u in uris], schema=schema, format="parquet", filesystem=self.filesystem()
        )

    def list_dirs(self, *parts: str) -> list[str]:
        """Names of the "folders" directly below *parts* (common prefixes on an object store)."""
        selector = pafs.FileSelector(self.path(self.uri(*parts)), allow_not_found=True)
        try:
            infos = self.filesystem().get_file_info(selector)
        except OSError as exc:  # an unreachable or refusing store: one sentence, not pyarrow's trace
            raise self.failure("list", "/".join(parts) or "its contents", exc) from None
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)

    # -- plain files (feature shards, pool identity tables) ------------------------------------
    def _handler(self) -> Any:
        env = tuple(os.environ.get(k, "") for k in sorted(os.environ) if k.startswith("AWS_"))
        return _object_handler(self.root, tuple(sorted(self.options.items())), env)

    def _local(self, *parts: str) -> Path:
        return Path(self.root, *parts)

    def failure(self, doing: str, rel: str, exc: Exception) -> StorageError:
        """The one-sentence error for *exc*, raised while trying to *doing* *rel* below this root."""
        # deltalake's errors are a chain, one cause a line ("Generic S3 error" first, the reason
        # last, e.g. "Connection refused"), with colour codes and arrows: the first and last say it.
        lines = [_ANSI.sub("", line).strip(" ↳\t") for line in str(exc).splitlines()]
        lines = [line for line in lines if line] or [type(exc).__name__]
        detail = lines[0] if len(lines) == 1 else f"{lines[0]}: {lines[-1]}"
        return StorageError(f"storage {self.root}: cannot {doing} {rel} ({detail})")

    def put_file(self, source: Path, *parts: str) -> str:
        """Copy the local file *source* to *parts* below this root (encrypted like the tables);
        returns its sha256. A reader sees the whole object or none of it (a local copy is renamed
        into place)."""
        rel = "/".join(parts)
        digest = hashlib.sha256()
        try:
            with source.open("rb") as src:
                if self.is_local:
                    target = self._local(*parts)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    tmp = target.with_name(f"{target.name}.tmp-{uuid.uuid4().hex[:8]}")
                    with tmp.open("wb") as out:
                        while block := src.read(_BLOCK):
                            digest.update(block)
                            out.write(block)
                    tmp.replace(target)
                else:
                    stream = self._handler().open_output_stream(rel, None)
                    while block := src.read(_BLOCK):
                        digest.update(block)
                        stream.write(block)
                    stream.close()  # an object store publishes the object on close, whole
        except OSError as exc:
            raise self.failure("write", rel, exc) from None
        return digest.hexdigest()

    def get_file(self, target: Path, *parts: str) -> str:
        """Copy *parts* below this root into the local file *target* (overwritten); its sha256."""
        rel = "/".join(parts)
        digest = hashlib.sha256()
        try:
            with target.open("wb") as out:
                if self.is_local:
                    with self._local(*parts).open("rb") as src:
                        while block := src.read(_BLOCK):
                            digest.update(block)
                            out.write(block)
                else:
                    stream = self._handler().open_input_file(rel)
                    while block := stream.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
                out.flush()
                os.fsync(out.fileno())  # the caller renames it into place: whole or not at all
        except OSError as exc:
            raise self.failure("read", rel, exc) from None
        return digest.hexdigest()

    def put_bytes(self, data: bytes, *parts: str) -> None:
        """Write a small object (a descriptor) at *parts*, whole."""
        rel = "/".join(parts)
        try:
            if self.is_local:
                target = self._local(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f"{target.name}.tmp-{uuid.uuid4().hex[:8]}")
                tmp.write_bytes(data)
                tmp.replace(target)
            else:
                stream = self._handler().open_output_stream(rel, None)
                stream.write(data)
                stream.close()
        except OSError as exc:
            raise self.failure("write", rel, exc) from None

    def get_bytes(self, *parts: str) -> bytes | None:
        """A small object's bytes, or None when there is no object at *parts*."""
        rel = "/".join(parts)
        try:
            if self.is_local:
                return self._local(*parts).read_bytes()
            stream = self._handler().open_input_file(rel)
            chunks = []
            while block := stream.read(_BLOCK):
                chunks.append(block)
            return b"".join(chunks)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self.failure("read", rel, exc) from None

    def files(self, *parts: str) -> dict[str, int]:
        """Name → size of the files directly below *parts* (none when it does not exist)."""
        rel = "/".join(parts)
        try:
            if self.is_local:
                folder = self._local(*parts)
                if not folder.is_dir():
                    return {}
                files = (p for p in folder.iterdir() if p.is_file() and ".tmp-" not in p.name)
                return {p.name: p.stat().st_size for p in files}
            infos = self._handler().get_file_info_selector(rel, True, False)
        except OSError as exc:
            raise self.failure("list", rel, exc) from None
        return {i.base_name: int(i.size) for i in infos if i.type == pafs.FileType.File}

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
