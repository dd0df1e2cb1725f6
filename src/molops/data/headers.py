"""A table's header: which column holds the SMILES, and why the wanted columns were not found.

Users name neither the SMILES column (``smiles`` in any case is found) nor the file's layout, so
when a header lacks the wanted columns the error says what the file shows instead: another
delimiter, Excel's ``sep=`` line, or the column names on a later line under a title. A name given
to two columns is refused when molops reads that column (which one was meant is a guess), and only
reported when it does not.
"""

from __future__ import annotations

import csv
from typing import Any

from molops.data.sources import clean_text
from molops.errors import ColumnNotFoundError, DuplicateColumnError

#: The SMILES column of a table when none is named; matched in any case (SMILES, Smiles).
DEFAULT_SMILES_COL = "smiles"
#: Delimiters a table may use instead of the one its format expects, by name (for the error).
_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "'|'"}
#: Lines after a header without the wanted columns searched for them (title lines above it).
_HEADER_LOOKAHEAD = 10


def _listing(available: list[str]) -> str:
    shown = ", ".join(repr(c) for c in available[:20]) or "(none)"
    return shown + (f" and {len(available) - 20} more" if len(available) > 20 else "")


def missing_column(path: str, kind: str, wanted: str, available: list[str]) -> ColumnNotFoundError:
    """The error for a *kind* (column, SD property) *wanted* that is not among *available*."""
    return ColumnNotFoundError(f"{path}: no {kind} {wanted!r}; the file has {_listing(available)}")


def duplicated(names: list[str]) -> dict[str, list[int]]:
    """Each name given to more than one column, with the columns' 1-based positions."""
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(names, start=1):
        positions.setdefault(name, []).append(i)
    return {name: where for name, where in positions.items() if len(where) > 1}


def _where(positions: list[int]) -> str:
    """'twice (columns 2 and 5)', '3 times (columns 1, 4 and 6)'."""
    times = "twice" if len(positions) == 2 else f"{len(positions)} times"
    shown = [str(p) for p in positions]
    return f"{times} (columns {', '.join(shown[:-1])} and {shown[-1]})"


def check_unique(path: str, names: list[str], used: list[str], *, kept: bool = False) -> list[str]:
    """Refuse a *used* column that *names* holds twice; the warnings for the other duplicates.

    A used column named twice is refused rather than read from its first (or last) occurrence:
    the two usually differ (an export that appended a recomputed value), and guessing trains on
    the wrong one without a word. A duplicate molops does not read costs nothing, so it is only
    reported; *kept*: every column is carried to an output, under :func:`unique_names`.
    """
    warnings = []
    renamed = unique_names(names) if kept else names
    for name, positions in duplicated(names).items():
        if name in used:
            raise DuplicateColumnError(
                f"{path}: the column {name!r} appears {_where(positions)}; "
                "rename one so molops knows which to read"
            )
        fate = (
            "kept as " + ", ".join(repr(renamed[p - 1]) for p in positions)
            if kept
            else "molops does not read it"
        )
        warnings.append(f"{path}: the column {name!r} appears {_where(positions)}; {fate}")
    return warnings


def unique_names(names: list[str]) -> list[str]:
    """*names* with each repeat renamed as pandas does (``y``, ``y.1``, ``y.2``; a suffix another
    column already has is skipped), so outputs that keep every input column keep both of a pair."""
    taken = set(names)
    seen: set[str] = set()
    out = []
    for name in names:
        new, k = name, 0
        while new in seen or (k and new in taken):
            k += 1
            new = f"{name}.{k}"
        seen.add(new)
        out.append(new)
    return out


def smiles_column(path: str, columns: list[str], smiles_col: str | None) -> str:
    """The table column holding SMILES: *smiles_col* when given, else the one named smiles.

    Users should not have to name the column every file calls ``smiles``; case is ignored because
    exports write ``SMILES`` as often as ``smiles``. An exact match wins over case variants.
    """
    if smiles_col is not None:
        return smiles_col
    if DEFAULT_SMILES_COL in columns:
        return DEFAULT_SMILES_COL
    matches = list(dict.fromkeys(c for c in columns if c.lower() == DEFAULT_SMILES_COL))
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ColumnNotFoundError(
            f"{path}: columns {_listing(matches)} could each hold the SMILES; choose one with --smiles-col"
        )
    raise ColumnNotFoundError(
        f"{path}: no column named 'smiles' (in any case) and no --smiles-col; "
        f"the file has {_listing(columns)}"
    )


def _has_wanted(fields: list[str], smiles_col: str | None, target_col: str | None) -> bool:
    """Whether *fields* hold the wanted columns (a SMILES one in any case if unnamed)."""
    has_smiles = (
        smiles_col in fields
        if smiles_col is not None
        else any(f.lower() == DEFAULT_SMILES_COL for f in fields)
    )
    return has_smiles and (target_col is None or target_col in fields)


def header_hint(
    header: list[str], reader: Any, delimiter: str, smiles_col: str | None, target_col: str | None
) -> str | None:
    """Why the columns were not found, when the file shows it: one header field holding another
    delimiter (European Excel writes ';'), or the column names on a later line of *reader* (a
    title, comment or Excel 'sep=' line above them). None when neither."""
    own = _DELIMITERS.get(delimiter, repr(delimiter))
    other, other_fmt = (",", "csv") if delimiter == "\t" else ("\t", "tsv")
    if header and header[0].lower().startswith("sep="):
        return (
            f"its first line {header[0]!r} is Excel's delimiter line; expected the column names "
            f"on the first line, {own}-delimited"
        )
    if len(header) == 1:
        for d, name in _DELIMITERS.items():
            if d != delimiter and d in header[0]:
                instead = f", or pass --format {other_fmt}" if d == other else ""
                return (
                    f"the header looks {name}-delimited; expected {own}-delimited fields "
                    f"(re-export the file with {own}s{instead})"
                )
    for _ in range(_HEADER_LOOKAHEAD):
        try:
            fields = [clean_text(f).strip() for f in next(reader)]
        except (StopIteration, csv.Error, UnicodeError, OSError, EOFError):
            return None
        if _has_wanted(fields, smiles_col, target_col):
            return (
                f"the column names are on line {reader.line_num}; expected the column names "
                "on the first line (remove the title or comment lines above them)"
            )
    return None
