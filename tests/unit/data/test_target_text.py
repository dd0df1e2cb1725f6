"""Targets as word processors and ELNs type them: a Unicode minus sign (U+2212) is a minus, in the
value and in its exponent; it is never a reason to quarantine a measurement."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from molops.chem.standardize import Rejected
from molops.data.validation import parse_target

MINUS = "\u2212"


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_unicode_minus_reads_as_a_minus(x):
    text = repr(x).replace("-", MINUS)
    assert parse_target(text) == x
    assert parse_target(f"  {text}\t") == x


@pytest.mark.parametrize(("raw", "value"), [(f"{MINUS}7.2", -7.2), (f"1e{MINUS}3", 1e-3), (f"{MINUS}0", 0.0)])
def test_unicode_minus_examples(raw, value):
    assert parse_target(raw) == value


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(f"<{MINUS}5", "censored_target"), (f"{MINUS}inf", "non_finite_target"), (MINUS, "non_numeric_target")],
)
def test_unicode_minus_keeps_the_other_reasons(raw, reason):
    result = parse_target(raw)
    assert isinstance(result, Rejected) and result.reason == reason


def test_a_unicode_minus_value_is_checked_against_the_range():
    result = parse_target(f"{MINUS}12", low=-10)
    assert isinstance(result, Rejected) and result.reason == "out_of_range"
    assert parse_target(f"{MINUS}9", low=-10) == -9.0
