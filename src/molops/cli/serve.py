"""``molops serve``, ``molops serve-key`` and ``molops predictions``: the REST service and its log."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from molops.cli._output import JsonOption, WorkspaceOption, emit_json, err, open_workspace, out, table

_SUMMARY_KEYS = (
    "model_name", "model_version", "source", "role", "molecules", "errors", "requests",
    "latency_p50_ms", "latency_p99_ms",
)  # fmt: skip


class Source(StrEnum):
    """Where predictions in the log came from."""

    api = "api"
    batch = "batch"
    campaign = "campaign"


class Role(StrEnum):
    """Which predictions of the log: the answers, mirrored copies, canary answers, or all."""

    primary = "primary"
    shadow = "shadow"
    canary = "canary"
    all = "all"


predictions_app = typer.Typer(help="The prediction log: every served, batch and campaign prediction.")


def serve(
    ctx: typer.Context,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Model to serve: NAME (at --alias), NAME@ALIAS or NAME:VERSION; repeat for several. "
            "Default: every registered model.",
        ),
    ] = None,
    alias: Annotated[
        str, typer.Option(help="Alias to follow; the service swaps when it moves.")
    ] = "champion",
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default from molops.toml: 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default from molops.toml: 8000; 0: any free port).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default from molops.toml: 1).")
    ] = None,
    shadow: Annotated[
        str | None,
        typer.Option(help="Also send a mirrored copy of requests to this alias (logged, not returned)."),
    ] = None,
    canary: Annotated[
        str | None,
        typer.Option(help="Answer a share of requests (--share) with this alias instead (logged as canary)."),
    ] = None,
    share: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="Share of requests the shadow or canary sees (default: all / a tenth)."
        ),
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Allow a non-loopback address without API keys.")
    ] = False,
    ssl_certfile: Annotated[Path | None, typer.Option(help="TLS certificate (PEM); serve HTTPS.")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not write the prediction log.")] = False,
    ui: Annotated[bool, typer.Option("--ui", help="Also serve the web app at /ui/ (same keys).")] = False,
    onnx: Annotated[
        bool,
        typer.Option("--onnx", help="Answer with each version's ONNX export (`molops models export`)."),
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve registered models over REST (v1 + Open Inference Protocol v2) until Ctrl-C or SIGTERM."""
    from molops.errors import InputFileError, UsageError
    from molops.serving.auth import KeyRing
    from molops.serving.server import check_exposure, model_refs, run
    from molops.tracking.registry import ModelRegistry
    from molops.tracking.store import Tracking

    ws = open_workspace(ctx, workspace)
    if shadow and canary:
        raise UsageError("--shadow and --canary exclude each other; a service has one second alias")
    if share is not None and not (shadow or canary):
        raise UsageError("--share is the share of requests a --shadow or --canary alias sees; name one")
    overrides: dict[str, object] = {"host": host, "port": port, "workers": workers, "shadow_alias": shadow}
    if onnx:
        overrides["onnx"] = True
    if canary:
        overrides |= {"shadow_alias": canary, "shadow_mode": "canary", "shadow_share": 0.1}
    if share is not None:
        overrides["shadow_share"] = share
    settings = ws.config.serve.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise UsageError("--ssl-certfile and --ssl-keyfile go together; pass both to serve HTTPS")
    for path in (ssl_certfile, ssl_keyfile):
        if path is not None and not path.is_file():
            raise InputFileError(f"{path}: no such file; expected a PEM certificate or key")
    warning = check_exposure(settings.host, KeyRing(settings.keys), insecure)
    registry = ModelRegistry(Tracking.of(ws).uri, ws.config.tracking.user)
    refs = model_refs(registry, model or [], alias)
    second = settings.shadow_alias
    if second:  # the second alias must exist now, as the first must (it loads in the background)
        model_refs(registry, [f"{ref.name}@{second}" for ref in refs], second)
    if warning:
        err.print(f"[yellow]warning:[/] {warning}")
    scheme = "https" if ssl_certfile else "http"
    mode = "answers" if settings.shadow_mode == "canary" else "sees a mirrored copy of"
    err.print(
        f"serving {', '.join(str(r) for r in refs)} on {scheme}://{settings.host}:{settings.port} "
        f"({settings.workers} worker{'s' if settings.workers > 1 else ''}; API docs at /docs, "
        f"metrics at /metrics{', web app at /ui/' if ui else ''})"
        + (f"; {second} {mode} {settings.shadow_share:.0%} of requests" if second else "")
    )
    run(
        ws,
        settings,
        refs,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        log_predictions=not no_log,
        ui=ui,
    )


def serve_key(
    name: Annotated[str, typer.Argument(help="Who the key is for, e.g. lab-app (logged with each request).")],
    role: Annotated[
        str,
        typer.Option(
            help="read: predictions; review: also the web app's reviews and uploads; admin: everything."
        ),
    ] = "read",
    as_json: JsonOption = False,
) -> None:
    """Make an API key: prints the key once, and the line with its hash to put in molops.toml."""
    from molops.errors import UsageError
    from molops.serving.auth import ROLES, hash_key, new_key

    if role not in ROLES:
        raise UsageError(f"--role {role!r} is not a role; expected one of: {', '.join(ROLES)}")
    key = new_key()
    line = f'{{ name = "{name}", role = "{role}", hash = "{hash_key(key)}" }}'
    if as_json:
        emit_json({"name": name, "role": role, "key": key, "hash": hash_key(key), "config": line})
        return
    out.print(key)
    err.print(
        "add this to the keys list of [serve] in molops.toml (the key itself is not stored; "
        f"keep it now):\n  keys = [{line}]",
        markup=False,
        soft_wrap=True,
    )


@predictions_app.command("export")
def export(
    ctx: typer.Context,
    output: Annotated[Path, typer.Argument(metavar="OUT", help="A .csv or .parquet file.")],
    model: Annotated[str | None, typer.Option(help="Only this registered model.")] = None,
    since: Annotated[str | None, typer.Option(help="From: 30m, 2h, 7d or an ISO time.")] = None,
    until: Annotated[str | None, typer.Option(help="Until: 30m, 2h, 7d (ago) or an ISO time.")] = None,
    source: Annotated[Source | None, typer.Option(help="Only api, batch or campaign predictions.")] = None,
    role: Annotated[
        Role,
        typer.Option(help="Answers (primary), mirrored copies (shadow), canary answers, or all."),
    ] = Role.primary,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export the prediction log, one row per predicted molecule."""
    from molops.data.prediction_log import PredictionLog

    ws = open_workspace(ctx, workspace)
    n = PredictionLog.of(ws).export(
        output,
        model=model,
        since=since,
        until=until,
        source=source.value if source else None,
        role=None if role is Role.all else role.value,
    )
    if as_json:
        emit_json({"output": str(output), "rows": n})
    else:
        out.print(f"{n} predictions → {output}")


@predictions_app.command("summary")
def summary(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="From: 30m, 2h, 7d or an ISO time.")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Predictions per model, version and source, with error counts and request latency."""
    from molops.data.prediction_log import PredictionLog

    ws = open_workspace(ctx, workspace)
    rows = PredictionLog.of(ws).summary(since=since)
    if as_json:
        emit_json({"since": since, "groups": rows})
        return
    out.print(
        table(
            "Prediction log",
            ["model", "version", "source", "role", "molecules", "errors", "requests", "p50 ms", "p99 ms"],
            [[r[k] for k in _SUMMARY_KEYS] for r in rows],
        )
    )
