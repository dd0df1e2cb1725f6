"""Row validation: a raw (structure, target) pair becomes an accepted measurement or a rejection.

Pure functions of their inputs, so chunks can be validated in worker processes.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from molops.chem.standardize import REASONS as STRUCTURE_REASONS
from molops.chem.standardize import (
    Rejected,
    Standardized,
    Standardizer,
    StandardizerSettings,
    StructureFormat,
)

TARGET_REASONS: dict[str, str] = {
    "malformed_row": "the record could not be split into the file's columns",
    "ambiguous_property": "an SD record gives a property molops reads twice, with different values",
    "missing_target": "the target value is empty or a missing-value marker (NA, NaN, null, …)",
    "non_numeric_target": "the target value is not a number",
    "censored_target": "the target value is censored ('<', '>', '~' qualifiers), not a measurement",
    "non_finite_target": "the target value is infinite",
    "out_of_range": "the target value is outside the range configured in [ingest.ranges]",
}
#: Every rejection reason ingest can give, with what it means.
REASONS: dict[str, str] = {**TARGET_REASONS, **STRUCTURE_REASONS}

_MISSING = {"", "na", "n/a", "nan", "null", "none", "nd", "n.d.", "-", "?", "#n/a", "#value!"}
_UNICODE_MINUS = "\u2212"
_CENSORED = re.compile(r"^\s*(<=|>=|<|>|~|≤|≥)\s*[-+]?(\d|\.\d)")


def parse_target(raw: Any, low: float | None = None, high: float | None = None) -> float | Rejected:
    """A finite float inside [low, high], or the reason it is not."""
    if type(raw) is str:  # a text field holding a plain number: the common case, decided at once
        try:
            value = float(raw)  # strips whitespace as str.strip does; no marker parses as finite
        except ValueError:
            pass
        else:
            if math.isfinite(value) and not (
                (low is not None and value < low) or (high is not None and value > high)
            ):
                return value
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return Rejected("missing_target", "the target value is missing")
    if isinstance(raw, bool):
        return Rejected("non_numeric_target", f"{raw!r} is a boolean, not a number")
    if isinstance(raw, int | float):
        value = float(raw)
    else:
        text = str(raw).strip()
        if text.lower() in _MISSING:
            return Rejected("missing_target", f"the target value is {text!r}")
        # word processors and ELNs type U+2212 for a minus; float() only reads the ASCII one
        number = text.replace(_UNICODE_MINUS, "-")
        try:
            value = float(number)
        except ValueError:
            shown = text if len(text) <= 40 else text[:37] + "..."
            if _CENSORED.match(number):
                return Rejected("censored_target", f"{shown!r} is a censored value, not a measurement")
            return Rejected("non_numeric_target", f"{shown!r} is not a number")
        if math.isnan(value):
            return Rejected("missing_target", f"the target value is {text!r}")
    if math.isinf(value):
        return Rejected("non_finite_target", f"the target value is {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        return Rejected("out_of_range", f"{value:g} is outside [{low}, {high}]")
    return value


#: (raw SMILES, parent SMILES, InChIKey, heavy atoms, weight, reason, detail): a standardisation
#: result as plain values, cheap to send back from a worker (None where it does not apply).
ResultRow = tuple[str, str | None, str | None, int | None, float | None, str | None, str | None]


def result_row(raw: str, result: Standardized | Rejected) -> ResultRow:
    if isinstance(result, Rejected):
        return (raw, None, None, None, None, result.reason, result.detail)
    return (raw, result.smiles, result.inchikey, result.heavy_atoms, result.molecular_weight, None, None)


@dataclass(slots=True)
class ChunkVerdict:
    """Validation outcome of one chunk; positions index into the chunk."""

    accepted: list[int] = field(default_factory=list)
    inchikeys: list[str] = field(default_factory=list)
    smiles: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)
    #: SMILES standardised for this chunk (not given as *known*), each once, with its result as
    #: plain values (:func:`result_row`): what the workspace's identity cache learns from the chunk.
    fresh: list[ResultRow] = field(default_factory=list)


@lru_cache(maxsize=8)
def standardizer(settings: StandardizerSettings) -> Standardizer:
    """One standardiser per settings per process (workers reuse it across chunks)."""
    return Standardizer(settings)


#: SMILES results each process remembers across chunks and files: a result depends only on the
#: text and the settings, so a string repeated anywhere in a file (or in the next file this
#: process validates) is standardised once. Bounded, at a few hundred bytes per entry.
REMEMBERED_SMILES = 65_536


@lru_cache(maxsize=REMEMBERED_SMILES)
def standardized_smiles(text: str, settings: StandardizerSettings) -> Standardized | Rejected:
    """``Standardizer(settings).standardize(text)``, remembered (see :data:`REMEMBERED_SMILES`)."""
    return standardizer(settings).standardize(text, "smiles")


def validate_chunk(
    structures: list[str | None],
    targets: list[Any],
    skip: dict[int, tuple[str, str]],
    fmt: StructureFormat,
    settings: StandardizerSettings,
    value_range: tuple[float | None, float | None] = (None, None),
    known: dict[int, Standardized | Rejected] | None = None,
) -> ChunkVerdict:
    """Validate a chunk. Rows in *skip* were already rejected by the reader (reason, detail);
    rows in *known* have their structure's result already (from the identity cache)."""
    std = standardizer(settings)
    seen: dict[str, Standardized | Rejected] = {}  # mol blocks repeated in a chunk: standardised once
    reported: set[str] = set()  # SMILES already in out.fresh
    known = known or {}
    out = ChunkVerdict()
    for pos, (structure, raw_target) in enumerate(zip(structures, targets, strict=True)):
        if pos in skip:
            reason, detail = skip[pos]
            out.rejected.append((pos, reason, detail))
            continue
        value = parse_target(raw_target, *value_range)
        if isinstance(value, Rejected):
            out.rejected.append((pos, value.reason, value.detail))
            continue
        if structure is None:
            out.rejected.append((pos, "empty_structure", "the structure field is empty"))
            continue
        result: Standardized | Rejected
        if pos in known:
            result = known[pos]
        elif fmt == "smiles":
            result = standardized_smiles(structure, settings)
            if structure not in reported:
                reported.add(structure)
                out.fresh.append(result_row(structure, result))
        else:
            result = seen.get(structure) or seen.setdefault(structure, std.standardize(structure, fmt))
        if isinstance(result, Rejected):
            out.rejected.append((pos, result.reason, result.detail))
            continue
        out.accepted.append(pos)
        out.inchikeys.append(result.inchikey)
        out.smiles.append(result.smiles)
        out.values.append(value)
    return out


def validate_chunk_in_process(*unit: Any) -> tuple[int, ChunkVerdict]:
    """``validate_chunk`` and the process that ran it, so the report can say whether the pool ran.

    It lives here, not in ``molops.data.ingest``, so a worker that unpickles it imports only this
    module (RDKit and the chemistry layer), not pandas, pyarrow and deltalake.
    """
    return os.getpid(), validate_chunk(*unit)
