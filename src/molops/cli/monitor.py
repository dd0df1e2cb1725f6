"""``molops monitor``: drift, live performance and processing health of a model, with a verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from molops.cli._output import JsonOption, WorkspaceOption, emit_json, fmt_float, open_workspace, out, table

COLOURS = {"ok": "green", "insufficient_data": "dim", "warn": "yellow", "alert": "bold red"}
#: exit code of ``--fail-on`` when the verdict reaches the level (0: ran fine, whatever it found)
FAILED_CHECK = 3


def monitor(
    ctx: typer.Context,
    model: Annotated[str, typer.Option("--model", "-m", help="Registered model name.")],
    since: Annotated[
        str | None, typer.Option(help="Window start: 30m, 2h, 7d or an ISO time (default from \\[monitor]).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Window end (default: now).")] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            help="Version whose training set and test error are the yardstick (default NAME@champion)."
        ),
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Also write an HTML report with plots here.")] = None,
    fail_on: Annotated[
        str | None,
        typer.Option(help=f"Exit {FAILED_CHECK} when the verdict is at least warn or alert (for cron)."),
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a model's recent predictions: input drift, prediction drift, live error, latency, errors."""
    from molops.errors import UsageError
    from molops.monitoring.checks import ORDER
    from molops.monitoring.monitor import monitor as run_monitor

    if fail_on is not None and fail_on not in ("warn", "alert"):
        raise UsageError(f"--fail-on {fail_on!r} is not a level; expected warn or alert")
    ws = open_workspace(ctx, workspace)
    result, evidence = run_monitor(ws, model, since=since, until=until, reference=reference)
    written = None
    if report is not None:
        from molops.monitoring.report import write_report

        written = write_report(result, evidence, report)
    if as_json:
        emit_json(result.model_dump() | {"report": str(written) if written else None})
    else:
        w = result.window
        out.print(
            f"[bold]{result.model}[/] v{result.version}: [{COLOURS[result.verdict]}]{result.verdict}[/] "
            f"({w['from']} → {w['to']}: {w['n']} predictions, {w['molecules']} molecules, "
            f"{w['labels']} labels)"
        )
        out.print(
            table(
                "Checks",
                ["check", "verdict", "statistic", "threshold", "detail"],
                [
                    [
                        c["name"],
                        f"[{COLOURS[c['verdict']]}]{c['verdict']}[/]",
                        fmt_float(c["statistic"]),
                        fmt_float(c["threshold"]),
                        c["detail"],
                    ]
                    for c in result.checks
                ],
            )
        )
        if written:
            out.print(f"report → {written}")
    if fail_on is not None and ORDER[result.verdict] >= ORDER[fail_on]:
        raise typer.Exit(FAILED_CHECK)
