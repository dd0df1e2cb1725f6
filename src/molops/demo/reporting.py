"""How the demo tells what it is doing: a small protocol, so that the CLI prints each step with rich
while a notebook prints plain text, keeps the events, or stays silent. The demo never prints."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, Protocol, TextIO

from molops.data.ingest import IngestReport
from molops.data.summary import ingest_rows


class DemoReporter(Protocol):
    """What the demo reports, in order; every method is called on the demo's own thread."""

    def step(self, number: int, title: str, detail: str = "") -> None:
        """Step *number* begins: *title*, then *detail* (which starts with its own separator)."""

    def note(self, text: str) -> None:
        """A line under the current step."""

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A table of results (cells are plain values; ``None`` is an empty cell)."""

    def ingest(self, report: IngestReport) -> None:
        """The summary of one ingest worth showing in full (the lab's messy update)."""

    def log(self, text: str) -> None:
        """Progress of a long step (training, tuning): for a progress stream, not the results."""


class Silent:
    """Reports nothing: the result object says it all."""

    def step(self, number: int, title: str, detail: str = "") -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        pass

    def ingest(self, report: IngestReport) -> None:
        pass

    def log(self, text: str) -> None:
        pass


class TextReporter:
    """Plain text on *stream* (default: stdout), e.g. in a notebook; progress goes to *log_stream*."""

    def __init__(self, stream: TextIO | None = None, log_stream: TextIO | None = None) -> None:
        self.stream = stream
        self.log_stream = log_stream

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout)

    def step(self, number: int, title: str, detail: str = "") -> None:
        self._print(f"{number}. {title}{detail}")

    def note(self, text: str) -> None:
        self._print(text)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        cells = [list(columns), *(["" if v is None else str(v) for v in r] for r in rows)]
        widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
        self._print(title)
        for r in cells:
            self._print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())

    def ingest(self, report: IngestReport) -> None:
        state = "unchanged (no new version)" if report.unchanged else f"version {report.version}"
        self._print(f"{report.dataset}: {state} from {report.source} in {report.seconds:.1f} s")
        self.table("Ingest summary", ["", "count"], ingest_rows(report))

    def log(self, text: str) -> None:
        print(text, file=self.log_stream or sys.stderr)
