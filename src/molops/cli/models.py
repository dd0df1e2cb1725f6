"""``molops models``: registered models, their versions, aliases and lineage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from molops.cli._output import (
    JsonOption,
    WorkspaceOption,
    emit_json,
    err,
    fmt_float,
    fmt_time,
    open_workspace,
    out,
    table,
)

app = typer.Typer(
    help="Registered models: versions, aliases (champion/challenger), lineage.", no_args_is_help=True
)


def _registry(ctx: typer.Context, workspace: Any) -> Any:
    from molops.tracking.registry import ModelRegistry
    from molops.tracking.store import Tracking

    ws = open_workspace(ctx, workspace)
    return ModelRegistry(Tracking.of(ws).uri, ws.config.tracking.user, audit=ws.audit)


def _aliases(aliases: dict[str, int]) -> str:
    return ", ".join(f"{a}→v{v}" for a, v in aliases.items())


@app.command("list")
def list_(ctx: typer.Context, workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List registered models with their latest version and aliases."""
    registry = _registry(ctx, workspace)
    rows = registry.list()
    if as_json:
        emit_json({"tracking_uri": registry.tracking_uri, "models": rows})
        return
    out.print(
        table(
            "Registered models",
            ["name", "target", "versions", "aliases", "updated (UTC)"],
            [
                [r["name"], r["target"], r["versions"], _aliases(r["aliases"]), fmt_time(r["updated"])]
                for r in rows
            ],
        )
    )


@app.command()
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every version of a model with its aliases, metrics and promotions."""
    info = _registry(ctx, workspace).show(name)
    if as_json:
        emit_json(info)
        return
    out.print(f"[bold]{name}[/] (target {info['target']}); champion: {info['model_uri'] or 'none'}")
    out.print(
        table(
            "Versions",
            ["version", "aliases", "model", "featurizer", "dataset", "test rmse", "r2", "created (UTC)"],
            [
                [
                    v["version"],
                    ", ".join(v["aliases"]),
                    v["model"],
                    v["featurizer"],
                    f"{v['dataset']} v{v['dataset_version']}",
                    fmt_float(v["metrics"].get("rmse")),
                    fmt_float(v["metrics"].get("r2")),
                    fmt_time(v["created"]),
                ]
                for v in info["versions"]
            ],
        )
    )
    if info["history"]:
        out.print(
            table(
                "Alias history",
                ["at (UTC)", "alias", "version", "previous", "operation", "by", "reason"],
                [
                    [
                        fmt_time(h["at"]),
                        h["alias"],
                        h["version"],
                        h["previous"],
                        h["operation"],
                        h["by"],
                        h["reason"],
                    ]
                    for h in info["history"]
                ],
            )
        )


@app.command()
def promote(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[int, typer.Argument(help="Version to promote.")],
    alias: Annotated[str, typer.Option(help="Alias to point at the version.")] = "champion",
    reason: Annotated[str, typer.Option(help="Why (recorded with who and when).")] = "",
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Point an alias (default champion) at a version; who, when and why are recorded."""
    from molops.tracking.registry import CHALLENGER, CHAMPION

    record = _registry(ctx, workspace).promote(name, version, alias, reason or "promoted by hand")
    if record["previous"] is None and alias not in (CHAMPION, CHALLENGER):  # a typo of champion?
        err.print(
            f"[yellow]note:[/] {name} had no alias {alias!r}; it now exists "
            f"(molops' own aliases are {CHAMPION!r} and {CHALLENGER!r})"
        )
    if as_json:
        emit_json(record)
    else:
        if record["unchanged"]:
            out.print(f"{name}: {alias} already points at version {version}; nothing changed")
        else:
            out.print(f"{name}: {alias} → version {version} (was {record['previous'] or 'unset'})")


@app.command()
def rollback(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    alias: Annotated[str, typer.Option(help="Alias to move back.")] = "champion",
    reason: Annotated[str, typer.Option(help="Why (recorded with who and when).")] = "",
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move an alias back to the version it pointed to before its latest promotion."""
    record = _registry(ctx, workspace).rollback(name, alias, reason)
    if as_json:
        emit_json(record)
    else:
        out.print(f"{name}: {alias} rolled back to version {record['version']} (was {record['previous']})")


@app.command()
def lineage(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[int, typer.Argument(help="Model version.")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """What produced a version: dataset version, featurizer, params, split, code and environment."""
    info = _registry(ctx, workspace).lineage(name, version)
    if as_json:
        emit_json(info)
        return
    rows = [
        ["dataset", f"{info['dataset']} version {info['dataset_version']}"],
        ["target", info["target"]],
        ["model", info["model"]],
        ["featurizer", f"{info['featurizer']} (hash {info['featurizer_hash']})"],
        ["split", f"{info['split']} (seed {info['seed']})"],
        ["tuned", info["tuned"]],
        ["molops", info["code"]["molops_version"]],
        ["git commit", info["code"]["git_sha"] or "unknown"],
        ["run", info["run_id"]],
    ]
    rows += [[f"param {k}", v] for k, v in info["params"].items()]
    out.print(table(f"Lineage of {name} version {version}", ["", ""], rows))


@app.command()
def history(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every registration, promotion, rollback and retraining decision (promoted or rejected), with why."""
    entries = _registry(ctx, workspace).history(name)
    if as_json:
        emit_json({"name": name, "history": entries})
        return
    out.print(
        table(
            f"History of {name}",
            ["at (UTC)", "operation", "alias", "version", "previous", "decision", "by", "reason"],
            [
                [
                    fmt_time(e.get("at")),
                    e.get("operation", ""),
                    e.get("alias") or "",
                    e.get("version", ""),
                    e.get("previous") or "",
                    e.get("decision", ""),
                    e.get("by", ""),
                    e.get("reason", ""),
                ]
                for e in entries
            ],
        )
    )


@app.command("export")
def export(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="NAME:VERSION", help="Model version (or NAME@ALIAS).")],
    onnx: Annotated[Path, typer.Option("--onnx", help="Where to write the ONNX model (.onnx).")],
    quantize: Annotated[
        str | None, typer.Option(help="int8: dynamic int8 weights (mlp, dmpnn; trees have none).")
    ] = None,
    molecules: Annotated[
        Path | None,
        typer.Option(
            help="Parity molecules: a CSV with a smiles column or a .smi file (default: the "
            "last 200 molecules of the training dataset version)."
        ),
    ] = None,
    tolerance: Annotated[
        float, typer.Option(min=0.0, help="Largest |ONNX − native| of mean and std accepted (target units).")
    ] = 1e-3,
    force: Annotated[bool, typer.Option("--force", help="Keep the export even above --tolerance.")] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export a version to ONNX (rf, lightgbm, mlp, dmpnn), checked against the model on held-back molecules;
    recorded with the version (replacing an earlier export), so `molops serve --onnx` can serve it."""
    from molops.tracking.onnx_export import export_version
    from molops.tracking.registry import ModelRegistry
    from molops.tracking.store import Tracking

    ws = open_workspace(ctx, workspace)
    registry = ModelRegistry(Tracking.of(ws).uri, ws.config.tracking.user, audit=ws.audit)
    report = export_version(
        ws, registry, ref, onnx, molecules=molecules, quantize=quantize, tolerance=tolerance, force=force
    )
    if as_json:
        emit_json(report)
        return
    status = "forced past the tolerance" if report["forced"] else f"within {report['tolerance']:g}"
    out.print(
        f"{report['name']} version {report['version']} ({report['model']}) → {report['path']} "
        f"({report['bytes'] / 1e6:.2f} MB); max |ONNX − native| {report['max_abs_diff']:.2g} on "
        f"{report['molecules']} molecules ({status})"
    )
