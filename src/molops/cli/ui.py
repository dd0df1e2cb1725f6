"""``molops ui``: the web app for chemists (datasets, models, campaigns, monitoring, audit)."""

from __future__ import annotations

from typing import Annotated

import typer

from molops.cli._output import WorkspaceOption, err, open_workspace


def ui(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port).")] = 8001,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow a non-loopback address without API keys.")
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve the web app until Ctrl-C: log in with an API key; read-only without keys (loopback only)."""
    import uvicorn

    from molops.serving.auth import KeyRing
    from molops.serving.server import check_exposure
    from molops.ui import create_ui_app

    ws = open_workspace(ctx, workspace)
    keys = KeyRing(ws.config.serve.keys)
    warning = check_exposure(host, keys, insecure)
    if warning:
        err.print(f"[yellow]warning:[/] {warning} (read-only: nobody can log in to change anything)")
    err.print(f"molops ui for {ws.root} on http://{host}:{port}/ui/")
    uvicorn.run(create_ui_app(ws, keys), host=host, port=port, log_level="warning")
