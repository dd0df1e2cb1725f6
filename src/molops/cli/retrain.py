"""``molops retrain``: a challenger when a trigger fires, promoted only through the gate."""

from __future__ import annotations

from typing import Annotated

import typer

from molops.cli._output import (
    JsonOption,
    WorkspaceOption,
    emit_json,
    err,
    fmt_float,
    json_params,
    open_workspace,
    out,
)


def retrain(
    ctx: typer.Context,
    model: Annotated[str, typer.Option("--model", "-m", help="Registered model name.")],
    if_needed: Annotated[
        bool, typer.Option("--if-needed", help="Train only when a \\[retrain] trigger fires (for cron).")
    ] = False,
    params: Annotated[
        str | None, typer.Option(help="JSON overriding the champion's hyperparameters (experiments).")
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Retrain a model on its dataset's latest version with the champion's recipe; promote only a better one.

    Exits 0 whether or not a challenger was promoted; non-zero only when something failed.
    """
    from molops.monitoring.retrain import retrain as run_retrain

    ws = open_workspace(ctx, workspace)
    say = (lambda _msg: None) if as_json else (lambda msg: err.print(f"  {msg}", highlight=False))
    result = run_retrain(ws, model, if_needed=if_needed, params=json_params(params), log=say)
    if as_json:
        emit_json(result.model_dump())
        return
    if not result.triggered:
        out.print(f"{model}: not retrained ({result.reason})")
        return
    champion, challenger = result.champion, result.challenger or {}
    verdict = "[green]promoted[/]" if result.promoted else "[yellow]rejected[/]"
    figures = ""
    if not result.reason_gives_rmses:
        figures = (
            f"; champion RMSE {fmt_float(champion.get('compared', {}).get('rmse'))}, challenger "
            f"{fmt_float(challenger.get('compared', {}).get('rmse'))} on "
            f"{(result.compared_on or {}).get('molecules')} molecules"
        )
    out.print(
        f"{model}: challenger version {challenger.get('version')} {verdict}: {result.reason}{figures} "
        f"(`molops models history {model}`)"
    )
