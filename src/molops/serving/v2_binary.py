"""The Open Inference Protocol's binary tensor data extension: the body codec, without HTTP.

A request (or response) body is a JSON header of ``Inference-Header-Content-Length`` bytes
followed by the tensors' raw bytes, in the order of the tensors that declare
``parameters.binary_data_size``. BYTES elements are each a 4-byte little-endian length and the
bytes; FP64 and BOOL tensors are plain little-endian arrays (8 bytes and 1 byte per element).
Every malformed body raises :class:`BinaryError` with a sentence saying what is wrong, so the
routes answer 400 and never fail on a client's bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

import numpy as np

#: The header that says a body is binary, and how long its JSON part is.
HEADER = "Inference-Header-Content-Length"
_LENGTH = struct.Struct("<I")
#: numpy's little-endian dtype of each fixed-size datatype molops answers with.
FIXED = {"FP64": np.dtype("<f8"), "BOOL": np.dtype("?")}


class BinaryError(ValueError):
    """A binary body (or part of one) that cannot be read."""


def split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header of *body* and the binary data after it (all JSON without *header_length*)."""
    if header_length is None:
        return body, b""
    text = header_length.strip()
    if not (text.isascii() and text.isdigit()):
        raise BinaryError(f"{HEADER} is {header_length!r}; expected the JSON header's length in bytes")
    length = int(text)
    if length > len(body):
        raise BinaryError(
            f"{HEADER} is {length} but the body has only {len(body)} bytes; "
            "expected the length of the JSON header at the start of the body"
        )
    return body[:length], body[length:]


def take(data: bytes, sizes: Sequence[tuple[str, int]]) -> list[bytes]:
    """Cut *data* into each named tensor's ``binary_data_size`` bytes, in order; all of it is used."""
    blobs, offset = [], 0
    for name, size in sizes:
        if size < 0 or offset + size > len(data):
            raise BinaryError(
                f"input {name!r} declares binary_data_size {size} but {len(data) - offset} bytes of "
                "binary data are left after the JSON header"
            )
        blobs.append(data[offset : offset + size])
        offset += size
    if offset != len(data):
        raise BinaryError(
            f"the body has {len(data)} bytes of binary data after the JSON header but the inputs "
            f"declare {offset} (binary_data_size)"
        )
    return blobs


def decode_bytes(blob: bytes, name: str) -> list[bytes]:
    """The elements of a BYTES tensor *name*: each a 4-byte little-endian length, then the bytes."""
    items: list[bytes] = []
    offset = 0
    while offset < len(blob):
        if offset + _LENGTH.size > len(blob):
            raise BinaryError(
                f"input {name!r}: element {len(items)} has a truncated length at byte {offset} "
                f"({len(blob) - offset} of 4 bytes); each BYTES element starts with a 4-byte length"
            )
        (size,) = _LENGTH.unpack_from(blob, offset)
        offset += _LENGTH.size
        if offset + size > len(blob):
            raise BinaryError(
                f"input {name!r}: element {len(items)} declares {size} bytes but only "
                f"{len(blob) - offset} are left in the tensor's binary data"
            )
        items.append(blob[offset : offset + size])
        offset += size
    return items


def encode_bytes(items: Iterable[bytes]) -> bytes:
    """A BYTES tensor's binary data: each element's 4-byte little-endian length, then its bytes."""
    return b"".join(_LENGTH.pack(len(item)) + item for item in items)


def encode(values: Sequence[object], datatype: str) -> bytes:
    """The binary data of one output tensor of *datatype* (BYTES as UTF-8; FP64 None as NaN)."""
    if datatype == "BYTES":
        return encode_bytes(str(v).encode() for v in values)
    if datatype == "FP64":
        return np.array([np.nan if v is None else v for v in values], dtype=FIXED["FP64"]).tobytes()
    if datatype == "BOOL":
        return np.array([bool(v) for v in values], dtype=FIXED["BOOL"]).tobytes()
    raise ValueError(f"datatype {datatype!r} has no binary encoding here; expected BYTES, FP64 or BOOL")
