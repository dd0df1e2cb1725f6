"""``molops audit``: who changed what in the workspace, oldest first."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from molops.cli._output import JsonOption, WorkspaceOption, emit_json, fmt_time, open_workspace, out, table

#: A table cell shows at most this much of an entry's details (``--json`` has them all).
DETAILS_WIDTH = 80


def _summary(details: dict[str, Any]) -> str:
    text = ", ".join(
        f"{k}={v if isinstance(v, str | int | float | bool) or v is None else json.dumps(v)}"
        for k, v in details.items()
    )
    return text if len(text) <= DETAILS_WIDTH else text[: DETAILS_WIDTH - 1] + "…"


def audit(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Only changes since: 30m, 2h, 7d or an ISO time (UTC if no zone).")
    ] = None,
    user: Annotated[str | None, typer.Option(help="Only changes by this user.")] = None,
    action: Annotated[
        str | None,
        typer.Option(help="Only this action (e.g. model.promote), or a group of them (e.g. model)."),
    ] = None,
    subject: Annotated[
        str | None, typer.Option(help="Only changes to this dataset, model or campaign.")
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """List who ingested, trained, promoted, rolled back, proposed and retrained what, and when."""
    ws = open_workspace(ctx, workspace)
    entries = ws.audit.read(since=since, user=user, action=action, subject=subject)
    if as_json:
        emit_json({"entries": [e.model_dump(mode="json") for e in entries], "count": len(entries)})
        return
    if not entries:
        out.print("no recorded changes" + (" match" if since or user or action or subject else " yet"))
        return
    rows = [
        [fmt_time(e.time.isoformat()), e.user, e.action, e.subject, e.version, _summary(e.details)]
        for e in entries
    ]
    out.print(table("Audit log", ["time (UTC)", "user", "action", "subject", "version", "details"], rows))
