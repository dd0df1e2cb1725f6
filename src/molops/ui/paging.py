"""Pages of a long table: a page shows a slice, never the whole table, so a page renders in the same
time for a hundred rows or a million."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pandas as pd

T = TypeVar("T")

PER_PAGE = 50


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    number: int  # 1-based
    pages: int
    total: int


def _clamp(total: int, number: int, per_page: int) -> tuple[int, int]:
    pages = max(1, -(-total // per_page))
    return min(max(1, number), pages), pages


def page_of(rows: Sequence[T], number: int, per_page: int = PER_PAGE) -> Page[T]:
    """Page *number* (clamped to 1..pages) of *rows*."""
    number, pages = _clamp(len(rows), number, per_page)
    start = (number - 1) * per_page
    return Page(rows[start : start + per_page], number, pages, len(rows))


def frame_page(frame: pd.DataFrame, number: int, per_page: int = PER_PAGE) -> Page[dict[str, Any]]:
    """Page *number* of *frame* as row dicts; only that slice is converted."""
    number, pages = _clamp(len(frame), number, per_page)
    start = (number - 1) * per_page
    rows = frame.iloc[start : start + per_page].to_dict(orient="records")
    return Page([{str(k): v for k, v in row.items()} for row in rows], number, pages, len(frame))
