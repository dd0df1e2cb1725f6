"""SDF text split into records: mol block, data items, and whether a ``$$$$`` line ended each.

Tolerant like RDKit's reader (odd separators, missing blank lines, a last record without ``$$$$``)
but never merging two records, so a reader can quarantine a broken record with its raw text.
:func:`property_names` is the union of every record's data item names, for outputs that keep them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from molops.data.sources import clean_text


class SdfRecord(NamedTuple):
    """One SDF record: its text (for quarantine), its mol block (None without an ``M  END`` line),
    its data items, and whether a ``$$$$`` line ended it (the last record of a file may lack one).

    *clashes*: each data item the record gives more than once with different values, with those
    values in order (:attr:`props` holds the last, as RDKit keeps it); the same value repeated
    is no clash.
    """

    text: str
    molblock: str | None
    props: dict[str, str]
    terminated: bool
    clashes: dict[str, list[str]]


def clash_reason(record: SdfRecord, read: Callable[[str], bool]) -> tuple[str | None, list[str]]:
    """Why *record* is ambiguous, if it is: a property molops reads (``read(name)``) given twice with
    different values; and the names of the other properties it gives so, which nobody reads."""
    reason, unread = None, []
    for name, values in record.clashes.items():
        if read(name):
            shown = ", ".join(repr(v if len(v) <= 20 else v[:17] + "...") for v in values)
            reason = reason or (
                f"the SD property {name!r} is given {len(values)} times with different values "
                f"({shown}); expected it once"
            )
        else:
            unread.append(name)
    return reason, unread


def _is_separator(line: str) -> bool:
    """RDKit's rule: a record ends at any line that starts with ``$$$$`` (trailing spaces, tabs
    or text after it are common in vendor files, and must not merge two records)."""
    return line.startswith("$$$$")


def sdf_records(text: Iterable[str]) -> Iterator[SdfRecord]:
    """Split SDF text into records; tolerant of missing fields, never merging two records."""
    lines: list[str] = []
    for line in text:
        if _is_separator(line):
            yield from _split_records(lines, terminated=True)
            lines = []
        else:
            lines.append(line)
    if any(line.strip() for line in lines):
        yield from _split_records(lines, terminated=False)


def _split_records(lines: list[str], *, terminated: bool) -> Iterator[SdfRecord]:
    """The records of *lines*: one, or several where a ``$$$$`` line is missing between them.

    Without the split the second mol block's data items would be read as the first's (its values
    given to the wrong molecule) and the second molecule lost. A mol block after the first one's
    ``M  END`` is found by its counts line (V2000 or V3000); its record starts at the three header
    lines above that.
    """
    while True:
        start = _next_record_start(lines)
        if start is None:
            yield _sdf_record(lines, terminated=terminated)
            return
        yield _sdf_record(lines[:start], terminated=True)
        lines = lines[start:]


def _next_record_start(lines: list[str]) -> int | None:
    """Where a second record starts in *lines* (a mol block with its own ``M  END`` after the first
    one's), else None."""
    end = next((i for i in range(3, len(lines)) if lines[i].startswith("M  END")), None)
    if end is None:
        return None
    later = next((i for i in range(end + 1, len(lines)) if lines[i].startswith("M  END")), None)
    if later is None:
        return None
    counts = next(
        (i for i in range(later - 1, end, -1) if lines[i].rstrip().endswith(("V2000", "V3000"))), None
    )
    if counts is None or counts - 3 <= end:
        return None
    return counts - 3


def _sdf_record(lines: list[str], *, terminated: bool) -> SdfRecord:
    """The mol block ends at the first ``M  END`` line after the three header lines (the header's
    name or comment may be any text); data items are read only after it, so a ``>`` line of a
    V3000 block or a header is never taken for a data item."""
    end = next((i for i in range(3, len(lines)) if lines[i].startswith("M  END")), None)
    if end is None:
        return SdfRecord("".join(lines), None, {}, terminated, {})
    molblock = "".join(lines[:end]) + lines[end].rstrip("\r\n")
    props, clashes = _sdf_properties(lines[end + 1 :])
    return SdfRecord("".join(lines), molblock, props, terminated, clashes)


def _data_header(line: str) -> str | None:
    """The name of a data header line (``>  <name>  (1)``), else None."""
    text = line.strip()
    if not text.startswith(">"):
        return None
    start = text.find("<")
    stop = text.find(">", start + 1) if start >= 0 else -1
    return clean_text(text[start + 1 : stop]) if stop > start + 1 else None


def _sdf_properties(lines: list[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Data items: a header line, then value lines up to a blank one (a line that starts with a
    space or tab belongs to the value, as RDKit reads it); values are stripped. A header line
    inside a value (its blank line missing) starts the next item rather than joining the value.

    Also the items given twice with different values (see :class:`SdfRecord`)."""
    items: list[tuple[str, str]] = []
    name: str | None = None
    values: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        header = _data_header(line)
        if header is not None:
            if name is not None:
                items.append((name, "\n".join(values).strip()))
            name, values = header, []
        elif name is not None:
            if line.strip() or line[:1] in (" ", "\t"):
                values.append(line)
            else:
                items.append((name, "\n".join(values).strip()))
                name, values = None, []
    if name is not None:
        items.append((name, "\n".join(values).strip()))
    props = dict(items)
    if len(props) == len(items):  # the common case: each item once
        return props, {}
    given: dict[str, list[str]] = {}
    for key, value in items:
        given.setdefault(key, []).append(value)
    return props, {key: vals for key, vals in given.items() if len(set(vals)) > 1}


def property_names(text: Iterable[str]) -> list[str]:
    """Every data item name of the SDF *text*, in order of first appearance: a property that only
    later records carry is a column too."""
    names: dict[str, None] = {}
    for record in sdf_records(text):
        names.update(dict.fromkeys(record.props))
    return list(names)
