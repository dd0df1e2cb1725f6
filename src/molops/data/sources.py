"""Opening input files: format detection, transparent gzip, and a running sha256 of the bytes.

The hash is of the file exactly as given (compressed bytes for a .gz), so it identifies the
source in a dataset version's lineage.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from molops._types import StrPath
from molops.errors import InputFileError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

FileFormat = Literal["csv", "tsv", "sdf", "parquet", "smi"]

_SUFFIXES: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".sdf": "sdf",
    ".sd": "sdf",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".smi": "smi",
    ".smiles": "smi",
    ".txt": "smi",
}
FORMATS: tuple[FileFormat, ...] = ("csv", "tsv", "sdf", "parquet", "smi")
_GZIP_MAGIC = b"\x1f\x8b"


def detect_format(path: StrPath) -> FileFormat:
    """Format from the file name, ignoring a trailing ``.gz``."""
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = _SUFFIXES.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        known = ", ".join(sorted(_SUFFIXES))
        raise InputFileError(
            f"{p}: cannot tell the file format from its name; expected one of {known} "
            "(optionally followed by .gz), or pass --format"
        )
    return fmt


class HashingReader(io.RawIOBase):
    """A read-only binary stream that hashes and counts the bytes read through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")  # whatever the buffer's item format, fill it byte-wise
        data = self._raw.read(len(view))
        n = len(data)
        view[:n] = data
        self.sha256.update(data)
        self.bytes_read += n
        return n

    def drain(self) -> None:
        """Read what is left so the hash covers the whole file."""
        while chunk := self._raw.read(1 << 20):
            self.sha256.update(chunk)
            self.bytes_read += len(chunk)


class Source:
    """An input file opened for streaming: decompressed bytes out, hash and progress kept."""

    def __init__(self, path: StrPath) -> None:
        self.path = Path(path)
        try:
            raw = self.path.open("rb")
        except FileNotFoundError:
            raise InputFileError(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise InputFileError(f"{self.path}: is a directory, expected a file") from None
        except OSError as exc:
            raise InputFileError(f"{self.path}: cannot open ({exc.strerror})") from None
        self.size = self.path.stat().st_size
        self._raw = raw  # closed by close() only: wrappers closing early must not lose the hash
        self._hashing = HashingReader(raw)
        head = raw.read(2)
        raw.seek(0)
        self.compressed = head == _GZIP_MAGIC
        buffered = io.BufferedReader(self._hashing, buffer_size=1 << 20)
        self.stream: gzip.GzipFile | io.BufferedReader[HashingReader] = (
            gzip.GzipFile(fileobj=buffered) if self.compressed else buffered
        )

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def bytes_read(self) -> int:
        """Bytes of the file (as stored) consumed so far: drives progress bars."""
        return self._hashing.bytes_read

    def head(self, n: int = 4) -> bytes:
        """The first *n* bytes of the content (decompressed), without consuming them; fewer when
        the content is shorter or unreadable (reading it then raises, where it is handled)."""
        try:
            return self.stream.peek(n)[:n]
        except (OSError, EOFError):
            return b""

    def text(self) -> io.TextIOWrapper:
        """The content as text: UTF-8 with an optional BOM; undecodable bytes are kept escaped.

        A UTF-16 or UTF-32 BOM selects that encoding: Excel's "Unicode text" export is UTF-16,
        and read as UTF-8 every field would be garbled by its NUL bytes.
        """
        encoding = _bom_encoding(self.head())
        if encoding is None:
            return io.TextIOWrapper(self.stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
        # surrogateescape cannot keep the ASCII bytes of a broken UTF-16 unit: spell them out instead
        return io.TextIOWrapper(self.stream, encoding=encoding, errors="backslashreplace", newline="")

    def finish(self) -> str:
        """Hash the rest of the file and return its sha256 hex digest."""
        self._hashing.drain()
        return self._hashing.sha256.hexdigest()

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_PARQUET_MAGIC = b"PAR1"
_ZIP_MAGIC = b"PK\x03\x04"


def refuse_binary(source: Source, fmt: str) -> None:
    """A binary file under a text format's name fails in one sentence that says what it is,
    rather than as a 'missing column' listing its bytes."""
    head, shown = source.head(), fmt.upper()
    if head == _PARQUET_MAGIC:
        raise InputFileError(
            f"{source.path}: the content is a Parquet file, not {shown} text; "
            "pass --format parquet or rename it to .parquet"
        )
    if head == _ZIP_MAGIC:
        raise InputFileError(
            f"{source.path}: the content is a zip archive (an Excel .xlsx workbook is one), "
            f"not {shown} text; export the sheet as CSV"
        )


def _bom_encoding(head: bytes) -> str | None:
    """The codec a UTF-16 or UTF-32 byte-order mark at the start of *head* names (it consumes the
    BOM), else None. UTF-32 LE is checked first: its BOM starts with UTF-16 LE's."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def clean_text(value: str) -> str:
    """Make a string decoded with ``surrogateescape`` safe to store (bad bytes become ``\\xNN``)."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
