"""``molops data``: ingest, inspect, diff, export, quarantine and roll back datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from molops.cli._output import (
    JsonOption,
    WorkspaceOption,
    byte_progress,
    emit_json,
    err,
    fmt_float,
    open_workspace,
    out,
    table,
    warn,
)
from molops.data import REASONS, IngestReport
from molops.data.builtin import BUILTINS, builtin
from molops.data.sources import FORMATS
from molops.data.summary import ingest_rows, target_stats
from molops.errors import UsageError
from molops.workspace import Workspace

app = typer.Typer(help="Ingest measurements and manage versioned datasets.", no_args_is_help=True)

VersionOption = Annotated[
    int | None, typer.Option("--version", "-v", help="Dataset version (default: latest).")
]
LimitOption = Annotated[int, typer.Option("--limit", help="Rows to show in tables.")]


def print_ingest(report: IngestReport) -> None:
    """Human summary of an ingest, on stdout; its warnings one line each on stderr, as ``campaign
    propose`` prints its own, so a duplicated column nobody reads is seen without ``--json``."""
    for warning in report.warnings:
        warn(warning)
    state = "unchanged (no new version)" if report.unchanged else f"version {report.version}"
    out.print(f"[bold]{report.dataset}[/]: {state} from {report.source} in {report.seconds:.1f} s")
    out.print(table("Ingest summary", ["", "count"], ingest_rows(report)))


@app.command()
def ingest(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Argument(help="CSV/TSV/SDF/Parquet file, optionally .gz.", show_default=False)
    ] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", "-d", help="Dataset to write to.")] = None,
    smiles_col: Annotated[
        str | None,
        typer.Option(
            help="Column holding SMILES (default: the one named smiles in any case; SDF: mol block)."
        ),
    ] = None,
    target_col: Annotated[
        str | None, typer.Option(help="Column (or SD property) holding the measured value.")
    ] = None,
    units: Annotated[
        str | None, typer.Option(help="Units of the target, recorded and checked on later ingests.")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help=f"Override the format: {', '.join(FORMATS)}.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: ingest.workers; 0 = all cores).")
    ] = None,
    builtin_name: Annotated[
        str | None, typer.Option("--builtin", help=f"Ingest a built-in dataset: {', '.join(BUILTINS)}.")
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate a file of measurements and commit it as a new dataset version."""
    ws = open_workspace(ctx, workspace)
    if builtin_name is not None:
        spec = builtin(builtin_name)
        file, smiles_col = spec.path(), spec.smiles_col
        target_col, units = target_col or spec.target_col, units or spec.units
        dataset = dataset or spec.name
    if file is None:
        raise UsageError("data ingest: give a FILE or --builtin NAME")
    if dataset is None or target_col is None:
        raise UsageError("data ingest: --dataset and --target-col are required with a FILE")
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not supported; expected one of: {', '.join(FORMATS)}")
    with byte_progress(f"ingest {file.name}") as progress:
        report = ws.dataset(dataset).ingest(
            file,
            smiles_col=smiles_col,
            target_col=target_col,
            units=units,
            fmt=fmt,
            workers=workers,
            progress=progress,
        )
    if as_json:
        emit_json(report.model_dump())
    else:
        print_ingest(report)


def _summaries(ws: Workspace) -> list[dict[str, Any]]:
    rows = []
    for name in ws.datasets():
        versions = ws.dataset(name).versions()
        if not versions:
            continue
        last = versions[-1]
        targets = sorted({str(v.lineage["target"]) for v in versions if v.lineage.get("target")})
        rows.append(
            {
                "name": name,
                "latest_version": last.version,
                "molecules": last.molecules,
                "targets": targets,
                "updated": last.time,
            }
        )
    return rows


@app.command("list")
def list_(ctx: typer.Context, workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List the workspace's datasets."""
    rows = _summaries(open_workspace(ctx, workspace))
    if as_json:
        emit_json({"datasets": rows})
        return
    out.print(
        table(
            "Datasets",
            ["name", "version", "molecules", "targets", "updated"],
            [
                [r["name"], r["latest_version"], r["molecules"], ", ".join(r["targets"]), r["updated"][:19]]
                for r in rows
            ],
        )
    )


@app.command()
def versions(
    ctx: typer.Context, name: str, workspace: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """List the versions of a dataset with their lineage."""
    infos = open_workspace(ctx, workspace).existing_dataset(name).versions()
    if as_json:
        emit_json({"dataset": name, "versions": [v.model_dump() for v in infos]})
        return
    rows = []
    for v in infos:
        lin = v.lineage
        what = (
            f"{lin.get('source', {}).get('name', '')} (+{lin.get('added', 0)} new, "
            f"{lin.get('updated', 0)} updated, {lin.get('quarantined', 0)} quarantined)"
            if v.operation == "ingest"
            else f"rollback to version {lin.get('rollback_to')}"
        )
        rows.append([v.version, v.time[:19], v.operation, v.molecules, what])
    out.print(table(f"Versions of {name}", ["version", "time", "operation", "molecules", "what"], rows))


@app.command()
def show(
    ctx: typer.Context,
    name: str,
    version: VersionOption = None,
    limit: LimitOption = 10,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Summarise one version of a dataset: targets, replicate statistics, lineage, first rows."""
    ds = open_workspace(ctx, workspace).existing_dataset(name)
    info = ds.store.resolve(version)
    frame = ds.export_frame(info.version)
    targets = ds.targets(info.version)
    stats = target_stats(frame, targets)
    warnings = ds.identity_warnings(info.version)
    if as_json:
        emit_json(
            {
                "dataset": name,
                "version": info.version,
                "molecules": len(frame),
                "targets": stats,
                "warnings": warnings,
                "lineage": info.lineage,
                "head": frame.head(limit).to_dict(orient="records"),
            }
        )
        return
    for warning in warnings:
        warn(warning)
    out.print(
        f"[bold]{name}[/] version {info.version}: {len(frame)} molecules ({info.operation}, {info.time[:19]})"
    )
    out.print(
        table(
            "Targets",
            ["target", "count", "mean", "std", "min", "max", "replicated", "disagreeing"],
            [
                [
                    s["target"],
                    s["count"],
                    fmt_float(s["mean"]),
                    fmt_float(s["std"]),
                    fmt_float(s["min"]),
                    fmt_float(s["max"]),
                    s["replicated"],
                    s["disagreeing"],
                ]
                for s in stats
            ],
        )
    )
    shown = ["smiles"] + [c for t in targets for c in (t, f"{t}_std", f"{t}_n")]
    out.print(
        table(
            f"First {min(limit, len(frame))} molecules",
            shown,
            [
                [fmt_float(v) if isinstance(v, float) else v for v in row]
                for row in frame[shown].head(limit).itertuples(index=False)
            ],
        )
    )


@app.command()
def diff(
    ctx: typer.Context,
    name: str,
    v1: int,
    v2: int,
    limit: LimitOption = 20,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Molecules added, removed and changed between two versions."""
    result = open_workspace(ctx, workspace).existing_dataset(name).diff(v1, v2)
    if as_json:
        emit_json({**result.model_dump(), "counts": result.counts()})
        return
    c = result.counts()
    out.print(
        f"[bold]{name}[/] {v1} → {v2}: {c['added']} added, {c['removed']} removed, {c['changed']} changed"
    )
    rows = [["added", r["inchikey"], r["smiles"], ""] for r in result.added[:limit]]
    rows += [["removed", r["inchikey"], r["smiles"], ""] for r in result.removed[:limit]]
    rows += [
        [
            "changed",
            m.inchikey,
            m.smiles,
            "; ".join(f"{k}: {v[0]} → {v[1]}" for k, v in m.changes.items() if not k.endswith("_replicates")),
        ]
        for m in result.changed[:limit]
    ]
    if rows:
        out.print(table("Changes", ["", "inchikey", "smiles", "what changed"], rows))


@app.command()
def export(
    ctx: typer.Context,
    name: str,
    out_path: Annotated[Path, typer.Argument(metavar="OUT", help="Output .csv or .parquet.")],
    version: VersionOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export a version: one row per molecule with smiles, inchikey, targets and replicate statistics."""
    ds = open_workspace(ctx, workspace).existing_dataset(name)
    info = ds.store.resolve(version)
    path = ds.export(out_path, info.version)
    if as_json:
        emit_json({"dataset": name, "version": info.version, "path": str(path), "molecules": info.molecules})
    else:
        err.print(f"wrote {info.molecules} molecules of {name} version {info.version} to {path}")


@app.command()
def quarantine(
    ctx: typer.Context,
    name: str,
    version: VersionOption = None,
    limit: LimitOption = 20,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Also write all rows to .csv or .parquet.")
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Rejected input rows with their reasons (all versions, or one ingest's)."""
    frame = open_workspace(ctx, workspace).existing_dataset(name).quarantine(version)
    frame = frame.drop(columns=["ingest_id", "hash"])
    frame["time"] = frame["time"].astype(str)
    if out_path is not None:
        if out_path.suffix.lower() == ".parquet":
            frame.to_parquet(out_path, index=False)
        else:
            frame.to_csv(out_path, index=False)
    counts = {str(k): int(v) for k, v in frame["reason"].value_counts().items()}
    if as_json:
        emit_json(
            {
                "dataset": name,
                "version": version,
                "quarantined": len(frame),
                "reasons": counts,
                "rows": frame.to_dict(orient="records"),
            }
        )
        return
    out.print(
        table(
            f"Quarantine of {name}" + (f" version {version}" if version else ""),
            ["reason", "rows", "meaning"],
            [[k, v, REASONS.get(k, "")] for k, v in counts.items()],
        )
    )
    if len(frame):
        shown = frame.head(limit)
        out.print(
            table(
                f"First {len(shown)} rejected rows",
                ["version", "source", "row", "reason", "detail", "raw"],
                [
                    [r.dataset_version, r.source, r.row, r.reason, r.detail, str(r.raw)[:80]]
                    for r in shown.itertuples()
                ],
            )
        )


@app.command()
def rollback(
    ctx: typer.Context,
    name: str,
    to_version: Annotated[int, typer.Option("--to-version", help="Version whose content to restore.")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make a new version equal to an earlier one (history is never rewritten)."""
    report = open_workspace(ctx, workspace).existing_dataset(name).rollback(to_version)
    if as_json:
        emit_json(report.model_dump())
    elif report.unchanged:
        out.print(f"{name}: version {report.version} already equals version {to_version}; nothing to do")
    else:
        out.print(
            f"{name}: version {report.version} restores version {to_version} ({report.molecules} molecules)"
        )
