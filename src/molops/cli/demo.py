"""``molops demo``: the library's ``run_demo`` with its steps printed by rich (or one JSON object)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from molops.cli._output import JsonOption, emit_json, err, out, table
from molops.cli.data import print_ingest
from molops.data import IngestReport


class RichReporter:
    """The demo's steps on stdout (bold headings, tables), training progress on stderr."""

    def step(self, number: int, title: str, detail: str = "") -> None:
        out.print(f"[bold]{number}. {escape(title)}[/]{escape(detail)}")

    def note(self, text: str) -> None:
        out.print(escape(text))

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        cells = [[None if v is None else escape(str(v)) for v in r] for r in rows]
        out.print(table(escape(title), columns, cells))

    def ingest(self, report: IngestReport) -> None:
        print_ingest(report)

    def log(self, text: str) -> None:
        err.print(escape(text))


def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Workspace to create or reuse.")] = Path(
        "molops-demo"
    ),
    as_json: JsonOption = False,
) -> None:
    """Create a workspace, ingest the built-in sets, then a messy lab update, and show what happened."""
    from molops.demo import Silent, run_demo

    result = run_demo(directory, Silent() if as_json else RichReporter())
    if as_json:
        emit_json(result.model_dump())
    else:
        err.print("[green]demo finished[/]")
