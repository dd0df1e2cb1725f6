"""Output helpers shared by the CLI: JSON to stdout, humans to rich tables, progress to stderr."""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, ConsoleDimensions
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from molops.errors import UsageError
from molops.workspace import Workspace

#: The width of a console that is not a terminal when $COLUMNS is not set: wide enough for any
#: table row to stay on one line.
UNWRAPPED_WIDTH = 100_000


class _Console(Console):
    """A console that, when it is not a terminal, takes $COLUMNS as its width or else does not wrap.

    Rich lays out a pipe, a file or CI as 80 columns and folds a wide table's rows over several
    lines, which breaks ``molops models list | grep``; a terminal keeps rich's own width.
    """

    def __init__(self, *args: Any, width: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, width=width, **kwargs)
        # rich fixes $COLUMNS as the width when the console is made (at import); it is read when
        # printing instead, so the $COLUMNS of the moment, or none, is what counts
        self._width = width

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self.is_terminal or self._width is not None:  # a width set on the console wins, as in rich
            return size
        columns = os.environ.get("COLUMNS", "")
        return ConsoleDimensions(int(columns) if columns.isdigit() else UNWRAPPED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


out = _Console(soft_wrap=False)
err = _Console(stderr=True)

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace directory (default: $MOLOPS_WORKSPACE, then the current directory and its parents).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object, on one line, to stdout.")]
#: Where distributed work runs (``features build``, ``campaign propose``).
WorkersOption = Annotated[int, typer.Option(help="Worker processes (0 = all cores).")]
RayAddressOption = Annotated[
    str | None, typer.Option(help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray).")
]


def check_executor(executor: str | None) -> None:
    """Refuse an ``--executor`` that is not one of molops' executors."""
    from molops.compute import EXECUTORS

    if executor is not None and executor not in EXECUTORS:
        raise UsageError(f"--executor {executor!r} is not supported; expected one of: {', '.join(EXECUTORS)}")


def open_workspace(ctx: typer.Context, explicit: Path | None) -> Workspace:
    """The command's ``--workspace``, else the root's, else the environment/cwd search."""
    root_option = (ctx.find_root().obj or {}).get("workspace")
    return Workspace.find(explicit or root_option)


def _default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if getattr(value, "ndim", 0):  # arrays (e.g. a target's replicates): .item() needs size 1
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def emit_json(payload: dict[str, Any]) -> None:
    """Exactly one JSON object on one line of stdout (NaN/inf become null, as JSON has neither).

    One line on a terminal too: ``--json`` is machine output, and ``molops monitor --json >> log`` run
    from cron must append one JSON-lines record per run, as log tools and ``jq -c`` expect (``| jq .``
    indents it for a person). The same bytes whatever stdout is, so what a terminal shows is what a
    script gets.
    """
    text = json.dumps(_finite(json.loads(json.dumps(payload, default=_default))))
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    return t


def fmt_float(value: Any, digits: int = 3) -> str:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(f) else f"{f:.{digits}g}"


def fmt_time(iso: str | None) -> str:
    """An ISO 8601 time as a table shows it, ``2026-11-27 07:37:45`` in UTC (say so in the header).

    ``--json`` keeps ISO 8601; a person reading a table wants neither the ``T`` nor the offset.
    """
    if not iso:
        return ""
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S")


class _RateColumn(ProgressColumn):
    """Rows done and rows per second."""

    def render(self, task: Task) -> Text:
        rows = int(task.fields.get("rows", 0))
        rate = rows / task.elapsed if task.elapsed else 0.0
        return Text(f"{rows:,} rows  {rate:,.0f} rows/s", style="progress.data.speed")


@contextmanager
def byte_progress(description: str) -> Iterator[Any]:
    """A progress bar over a file's bytes that also shows rows and rows/s; yields a callback."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with progress:
        task = progress.add_task(description, total=None, rows=0)

        def update(rows: int, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total or None, rows=rows)

        yield update


class _CountRateColumn(ProgressColumn):
    """Items done per second (molecules, iterations): what users size their runs by."""

    def render(self, task: Task) -> Text:
        rate = task.completed / task.elapsed if task.elapsed else 0.0
        return Text(f"{rate:,.1f}/s", style="progress.data.speed")


def warn(message: str) -> None:
    """One ``warning: …`` line on stderr, never folded (a log line, greppable) and never read as rich
    markup (a column may be named ``[b]``)."""
    err.print(Text.assemble(("warning: ", "yellow"), message), highlight=False, soft_wrap=True)


def stage_line(label: str, since: float | None = None) -> str:
    """A stage's plain progress line: its start (``label…``) or, given *since* (seconds since the job
    began), its end. The one wording of both, which :func:`is_stage_line` recognises."""
    return f"{label}…" if since is None else f"{label}: done, {since:.1f} s since the start"


_STAGE_LINE = re.compile(r".+…|.+: done, \d+\.\d s since the start")


def is_stage_line(text: str) -> bool:
    """Whether *text* is a :func:`stage_line` (for callers that tell progress from other stderr lines)."""
    return _STAGE_LINE.fullmatch(text) is not None


@contextmanager
def stage_progress(labels: dict[str, str] | None = None) -> Iterator[Any]:
    """One bar per stage of a long job, each with count, rate, elapsed time and ETA.

    Yields ``update(stage, done, total)``; a stage's bar appears on its first update, titled
    ``labels[stage]`` (or the stage itself). Without a terminal (a log file, CI, cron) there are no
    bars, so each stage says in one line when it starts and when it is done (with the seconds since
    the job began): a long ``campaign simulate`` is otherwise silent for minutes.
    """
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _CountRateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    plain, started = not err.is_terminal, progress.get_time()
    tasks: dict[str, Any] = {}
    finished: set[str] = set()
    with progress:

        def update(stage: str, done: int, total: int) -> None:
            label = (labels or {}).get(stage, stage)
            if stage not in tasks:
                tasks[stage] = progress.add_task(label, total=total or None)
                if plain:
                    err.print(stage_line(label), highlight=False, soft_wrap=True)
            progress.update(tasks[stage], completed=done, total=total or None)
            if plain and total and done >= total and stage not in finished:
                # since the job's start: a stage's first update may come only after its first step
                finished.add(stage)
                since = progress.get_time() - started
                err.print(stage_line(label, since), highlight=False, soft_wrap=True)

        yield update


def json_params(text: str | None) -> dict[str, Any]:
    """The model parameters a --params option gives as a JSON object ({} when not given)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"--params {text!r} is not valid JSON ({exc.msg}); expected e.g. '{{\"n_estimators\": 500}}'"
        ) from None
    if not isinstance(value, dict):
        raise UsageError(f"--params must be a JSON object of model parameters; got {text!r}")
    return value
