"""The binary tensor codec: round trips, agreement with tritonclient's own codec, and malformed
bytes that always raise BinaryError (the routes' 400) and nothing else."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tritonclient.utils import deserialize_bytes_tensor, serialize_byte_tensor

from molops.serving import v2_binary
from molops.serving.v2_binary import BinaryError

elements = st.lists(st.binary(max_size=40), max_size=20)


@given(items=elements)
def test_bytes_round_trip_and_match_tritonclient(items):
    encoded = v2_binary.encode_bytes(items)
    assert v2_binary.decode_bytes(encoded, "x") == items
    if items:  # tritonclient's serializer is what its InferInput sends, its deserializer what as_numpy reads
        assert serialize_byte_tensor(np.array(items, dtype=object)).item() == encoded
        assert deserialize_bytes_tensor(encoded).tolist() == items


@given(items=elements.filter(bool), data=st.data())
def test_a_cut_encoding_is_a_prefix_or_an_error(items, data):
    encoded = v2_binary.encode_bytes(items)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    try:
        decoded = v2_binary.decode_bytes(encoded[:cut], "x")
    except BinaryError as exc:
        assert "input 'x': element" in str(exc)
    else:  # cut at an element's boundary
        assert decoded == items[: len(decoded)] and len(decoded) < len(items)


@given(raw=st.binary(max_size=64))
def test_any_bytes_decode_or_raise_binary_error(raw):
    try:
        decoded = v2_binary.decode_bytes(raw, "x")
    except BinaryError:
        return
    assert v2_binary.encode_bytes(decoded) == raw


@given(values=st.lists(st.floats(allow_nan=False) | st.none(), max_size=20))
def test_fp64_is_little_endian_with_none_as_nan(values):
    decoded = np.frombuffer(v2_binary.encode(values, "FP64"), dtype="<f8")
    expected = np.array([np.nan if v is None else v for v in values], dtype=float)
    np.testing.assert_array_equal(decoded, expected)


@given(values=st.lists(st.booleans(), max_size=20))
def test_bool_is_one_byte_each(values):
    assert np.frombuffer(v2_binary.encode(values, "BOOL"), dtype=bool).tolist() == values


def test_bytes_outputs_are_utf8_and_other_datatypes_are_refused():
    assert v2_binary.decode_bytes(v2_binary.encode(["CCO", "é", ""], "BYTES"), "x") == [
        b"CCO",
        "é".encode(),
        b"",
    ]
    with pytest.raises(ValueError, match="expected BYTES, FP64 or BOOL"):
        v2_binary.encode([1], "INT32")


@given(header=st.binary(max_size=30), data=st.binary(max_size=30))
def test_split_cuts_at_the_header_length(header, data):
    assert v2_binary.split(header + data, str(len(header))) == (header, data)
    assert v2_binary.split(header + data, None) == (header + data, b"")


@pytest.mark.parametrize(
    ("length", "message"),
    [
        ("11", "Inference-Header-Content-Length is 11 but the body has only 10 bytes"),
        ("-1", "Inference-Header-Content-Length is '-1'; expected the JSON header's length in bytes"),
        ("ten", "Inference-Header-Content-Length is 'ten'"),
        ("²", "Inference-Header-Content-Length is '²'"),  # a digit to str.isdigit, not to int()
        ("", "Inference-Header-Content-Length is ''"),
    ],
)
def test_split_refuses_a_length_it_cannot_use(length, message):
    with pytest.raises(BinaryError, match=message.replace("(", r"\(")):
        v2_binary.split(b"0123456789", length)


@given(data=st.binary(max_size=40), cuts=st.lists(st.integers(0, 40), max_size=4))
def test_take_uses_every_byte_or_says_why_not(data, cuts):
    sizes = [(f"t{i}", n) for i, n in enumerate(cuts)]
    try:
        blobs = v2_binary.take(data, sizes)
    except BinaryError as exc:
        assert sum(cuts) != len(data) and "declare" in str(exc)
    else:
        assert sum(cuts) == len(data) and b"".join(blobs) == data
        assert [len(b) for b in blobs] == cuts
