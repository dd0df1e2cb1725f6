"""Row validation: parse_target and validate_chunk."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from molops.chem.standardize import REASONS as STRUCTURE_REASONS
from molops.chem.standardize import Rejected, StandardizerSettings
from molops.data.validation import REASONS, TARGET_REASONS, parse_target, validate_chunk


def reason(result) -> str:
    assert isinstance(result, Rejected), result
    return result.reason


# -- parse_target ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (1, 1.0),
        (-3, -3.0),
        (2.5, 2.5),
        (0, 0.0),
        ("3.5", 3.5),
        ("  -1.2e3 ", -1200.0),
        ("\t7\n", 7.0),
        ("+4", 4.0),
        (".5", 0.5),
        ("1E-3", 0.001),
        (np.float64(1.25), 1.25),
        (np.int64(3), 3.0),
    ],
)
def test_numbers(raw, value):
    result = parse_target(raw)
    assert type(result) is float
    assert result == value


@pytest.mark.parametrize(
    "raw",
    [
        None,
        float("nan"),
        np.nan,
        "",
        "   ",
        "NA",
        "na",
        "N/A",
        "n/a",
        "NaN",
        "nan",
        "-nan",
        "+NaN",
        "null",
        "NULL",
        "None",
        "nd",
        "ND",
        "n.d.",
        "N.D.",
        "-",
        "?",
        "#N/A",
        "#VALUE!",
        " NA ",
    ],
)
def test_missing_markers(raw):
    assert reason(parse_target(raw)) == "missing_target"


@pytest.mark.parametrize(
    "raw", ["<5", ">=3", "> 3", "<= 2.5", "~4", "≤2", "≥ 1", ">.5", "<-1", "< +7", " >10 "]
)
def test_censored(raw):
    result = parse_target(raw)
    assert reason(result) == "censored_target"
    assert result.detail == f"{raw.strip()!r} is a censored value, not a measurement"


@pytest.mark.parametrize(
    "raw", ["inf", "-inf", "Infinity", "-Infinity", "+inf", float("inf"), -math.inf, np.inf]
)
def test_infinite(raw):
    assert reason(parse_target(raw)) == "non_finite_target"


@pytest.mark.parametrize("raw", [True, False, np.bool_(True)])
def test_booleans_are_not_numbers(raw):
    result = parse_target(raw)
    assert reason(result) == "non_numeric_target"


def test_bool_detail():
    assert parse_target(True).detail == "True is a boolean, not a number"


@pytest.mark.parametrize(
    "raw", ["abc", "1,5", "1.2.3", "5 mM", "<abc", "> x", "12abc", "1 2", "0x10", "--1", "e5"]
)
def test_non_numeric(raw):
    assert reason(parse_target(raw)) == "non_numeric_target"


def test_non_numeric_detail_is_truncated():
    result = parse_target("x" * 100)
    assert result.detail == repr("x" * 37 + "...") + " is not a number"
    assert parse_target("hello").detail == "'hello' is not a number"


@pytest.mark.parametrize(
    ("raw", "low", "high", "expected"),
    [
        (5, 0.0, 10.0, 5.0),
        (0, 0.0, 10.0, 0.0),  # the range is closed
        (10, 0.0, 10.0, 10.0),
        ("-1", 0.0, None, "out_of_range"),
        ("1e9", 0.0, None, 1e9),
        (-1e9, None, 0.0, -1e9),
        (0.5, None, 0.0, "out_of_range"),
        (11, 0.0, 10.0, "out_of_range"),
        (-0.001, 0.0, 10.0, "out_of_range"),
    ],
)
def test_ranges(raw, low, high, expected):
    result = parse_target(raw, low, high)
    if expected == "out_of_range":
        assert reason(result) == "out_of_range"
    else:
        assert result == expected


def test_out_of_range_detail():
    assert parse_target("11", 0.0, 10.0).detail == "11 is outside [0.0, 10.0]"
    assert parse_target(-2, 0.0, None).detail == "-2 is outside [0.0, None]"


def test_other_reasons_come_before_the_range():
    assert reason(parse_target("inf", 0.0, 10.0)) == "non_finite_target"
    assert reason(parse_target("NA", 0.0, 10.0)) == "missing_target"
    assert reason(parse_target("<5", 0.0, 10.0)) == "censored_target"


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_float_round_trips_through_text(x):
    assert parse_target(repr(x)) == x
    assert parse_target(x) == x


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=30), st.floats(), st.integers(), st.booleans(), st.none()))
def test_parse_target_never_raises(raw):
    result = parse_target(raw)
    if isinstance(result, Rejected):
        assert result.reason in TARGET_REASONS
    else:
        assert type(result) is float and math.isfinite(result)


def test_reasons_cover_target_and_structure():
    assert set(REASONS) == set(TARGET_REASONS) | set(STRUCTURE_REASONS)
    assert not set(TARGET_REASONS) & set(STRUCTURE_REASONS)


# -- validate_chunk ----------------------------------------------------------------------------
SETTINGS = StandardizerSettings()


def test_validate_chunk_accepts_and_rejects_by_position():
    structures = ["CCO", "OCC", None, "xyz", "O", "CCO", "CCC"]
    targets = ["1", 2.0, "3", "4", "5", "NA", "<3"]
    verdict = validate_chunk(structures, targets, {}, "smiles", SETTINGS)
    assert verdict.accepted == [0, 1]
    assert verdict.inchikeys == ["LFQSCWFLJHTTHZ-UHFFFAOYSA-N"] * 2
    assert verdict.smiles == ["CCO", "CCO"]
    assert verdict.values == [1.0, 2.0]
    assert [(pos, why) for pos, why, _ in verdict.rejected] == [
        (2, "empty_structure"),
        (3, "unparsable_structure"),
        (4, "inorganic"),
        (5, "missing_target"),
        (6, "censored_target"),
    ]


def test_validate_chunk_keeps_reader_errors():
    verdict = validate_chunk(
        ["CCO", None, "CCC"],
        ["1", None, "2"],
        {1: ("malformed_row", "3 fields, expected 2 (line 3)")},
        "smiles",
        SETTINGS,
    )
    assert verdict.accepted == [0, 2]
    assert verdict.rejected == [(1, "malformed_row", "3 fields, expected 2 (line 3)")]


def test_validate_chunk_applies_the_value_range():
    verdict = validate_chunk(["CCO", "CCC", "CCCC"], ["-1", "5", "11"], {}, "smiles", SETTINGS, (0.0, 10.0))
    assert verdict.accepted == [1]
    assert [r[:2] for r in verdict.rejected] == [(0, "out_of_range"), (2, "out_of_range")]


def test_validate_chunk_uses_the_settings():
    verdict = validate_chunk(["CCCCCC"], ["1"], {}, "smiles", StandardizerSettings(max_heavy_atoms=5))
    assert verdict.rejected == [(0, "too_large", "6 heavy atoms (max 5)")]


def test_validate_chunk_every_position_is_accounted_for():
    structures = ["CCO", "", "C1CC", "[CH3]", "C[Te]C", "CC", "c1ccccc1", None]
    targets = ["1", "2", "3", "4", "5", "inf", "x", "6"]
    verdict = validate_chunk(structures, targets, {}, "smiles", SETTINGS)
    positions = sorted(verdict.accepted + [pos for pos, _, _ in verdict.rejected])
    assert positions == list(range(len(structures)))
    assert dict((pos, why) for pos, why, _ in verdict.rejected) == {
        1: "empty_structure",
        2: "unparsable_structure",
        3: "radical",
        4: "disallowed_element",
        5: "non_finite_target",
        6: "non_numeric_target",
        7: "empty_structure",
    }


def test_validate_chunk_empty():
    verdict = validate_chunk([], [], {}, "smiles", SETTINGS)
    assert (verdict.accepted, verdict.rejected, verdict.values) == ([], [], [])


def test_validate_chunk_strips_a_smiles_but_refuses_whitespace_inside_it():
    """A CSV cell ' CCO ' is ethanol; 'CCO CCN' or a quoted 'CCO<newline>CCN' is quarantined, not
    read up to its first space as RDKit would."""
    structures = [" CCO ", "CCO CCN", "CCO\nCCN", "\tCCN\r\n", "CCO\tethanol"]
    verdict = validate_chunk(structures, ["1", "2", "3", "4", "5"], {}, "smiles", SETTINGS)
    assert verdict.accepted == [0, 3] and verdict.smiles == ["CCO", "CCN"]
    assert [pos for pos, why, _ in verdict.rejected if why == "unparsable_structure"] == [1, 2, 4]
    assert all("contains whitespace" in detail for _, _, detail in verdict.rejected)


class _Text(str):
    """A str subclass: parse_target takes its general path, not the plain-number shortcut."""


@pytest.mark.parametrize("bounds", [(None, None), (0.0, 10.0), (-1.5, None), (None, -2.0)])
def test_the_plain_number_shortcut_decides_as_the_general_path(bounds):
    texts = ["1", " 2.5 ", "\t-3e2\n", "1e400", "-1e400", "inf", "-Infinity", "nan", "NaN", " ",
             "", "NA", "n/a", "1_000", "0x10", "1,5", "<5", "~ 3", "+7", "10", "10.0000001",
             "\u00a04\u2003", "\u0661\u0662", "-0", "1e-320", "None", "-", "abc", "0"]  # fmt: skip
    for text in texts:
        assert parse_target(text, *bounds) == parse_target(_Text(text), *bounds), text
