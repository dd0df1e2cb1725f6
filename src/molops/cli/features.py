"""``molops features``: build, list and prune the workspace's feature caches."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from molops.cli._output import (
    JsonOption,
    RayAddressOption,
    WorkersOption,
    WorkspaceOption,
    byte_progress,
    check_executor,
    emit_json,
    open_workspace,
    out,
    table,
)
from molops.compute import EXECUTORS
from molops.compute.ray import shutdown as ray_shutdown
from molops.data.sources import FORMATS
from molops.errors import UsageError
from molops.features import FEATURIZERS, get_featurizer
from molops.features.base import GRAPH, InvalidSpecError
from molops.features.build import BuildReport

app = typer.Typer(
    help="Featurize molecules once, into a persistent cache shared by the workspace.", no_args_is_help=True
)

SPEC_HELP = (
    "Featurizer SPEC: a name with optional parameters, e.g. morgan or "
    f"morgan:radius=3,length=1024. Names: {', '.join(FEATURIZERS)}."
)


def _print_build(r: BuildReport) -> None:
    if r.featurizer == GRAPH:  # graphs are never cached: say what was done instead
        done = (
            f"{r.computed} graphs checked"
            if r.source.startswith("dataset:")
            else f"{r.computed} standardised, {r.cached} standardised before (graphs: when it is scored)"
        )
    else:
        done = f"{r.computed} computed, {r.cached} from cache"
        if r.fetched:
            done += f" ({r.fetched} fetched from the shared store)"
    out.print(
        f"[bold]{r.featurizer}[/] on {r.source}: {r.n} molecules, {done}, {r.invalid} invalid, "
        f"in {r.seconds:.1f} s ({r.rows_per_s:,.0f}/s, {r.executor} × {r.workers})"
    )


@app.command()
def build(
    ctx: typer.Context,
    featurizer: Annotated[str, typer.Option("--featurizer", "-f", help=SPEC_HELP)],
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Featurize a dataset version.")
    ] = None,
    version: Annotated[
        int | None, typer.Option("--version", "-v", help="Dataset version (default: latest).")
    ] = None,
    pool: Annotated[
        Path | None,
        typer.Option(help="Featurize a pool file: .smi/.txt, CSV/TSV, Parquet or SDF, optionally .gz."),
    ] = None,
    smiles_col: Annotated[
        str | None, typer.Option(help="SMILES column of a CSV/TSV/Parquet pool (default: smiles).")
    ] = None,
    fmt: Annotated[str | None, typer.Option("--format", help=f"Pool format: {', '.join(FORMATS)}.")] = None,
    executor: Annotated[str, typer.Option(help=f"Where to compute: {' or '.join(EXECUTORS)}.")] = "local",
    ray_address: RayAddressOption = None,
    workers: WorkersOption = 0,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Featurize a dataset version or a pool file; only molecules not cached yet are computed."""
    if (dataset is None) == (pool is None):
        raise UsageError("features build: give exactly one of --dataset NAME or --pool FILE")
    check_executor(executor)
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r} is not supported; expected one of: {', '.join(FORMATS)}")
    ws = open_workspace(ctx, workspace)
    spec = get_featurizer(featurizer)
    try:
        with byte_progress(f"features {spec.name}") as progress:
            if dataset is not None:
                report = ws.features.build_dataset(
                    ws.existing_dataset(dataset),
                    spec,
                    version=version,
                    executor=executor,
                    workers=workers,
                    address=ray_address,
                    progress=lambda done, total: progress(done, done, total),
                )
            else:
                assert pool is not None
                report = ws.features.build_pool(
                    pool,
                    spec,
                    smiles_col=smiles_col,
                    fmt=fmt,
                    executor=executor,
                    workers=workers,
                    address=ray_address,
                    progress=lambda done, total: progress(0, done, total),
                )
    finally:
        if executor == "ray":
            ray_shutdown()
    if as_json:
        emit_json(report.model_dump())
    else:
        _print_build(report)


@app.command("list")
def list_(ctx: typer.Context, workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List the feature caches: featurizer, molecules, size, and whether a cache is stale."""
    rows = open_workspace(ctx, workspace).features.list()
    if as_json:
        emit_json({"caches": rows})
        return
    out.print(
        table(
            "Feature caches",
            ["featurizer", "hash", "molecules", "invalid", "MB", "stale"],
            [
                [
                    r["spec"],
                    r["hash"],
                    r["rows"],
                    r["invalid"],
                    f"{r['bytes'] / 1e6:.1f}",
                    "yes" if r["stale"] else "",
                ]
                for r in rows
            ],
        )
    )


@app.command()
def featurizers(as_json: JsonOption = False) -> None:
    """List the available featurizers with their parameters and defaults."""
    rows = []
    for name in FEATURIZERS:
        f = get_featurizer(name)
        try:
            dim: int | None = f.dim
        except InvalidSpecError:  # graph, without the gnn extra
            dim = None
        rows.append(
            {
                "name": name,
                "kind": f.kind,
                "dim": dim,
                "default_spec": f.spec,
                # the docstring's summary line, without its reST literal markup (``set=all``)
                "doc": (type(f).__doc__ or "").strip().splitlines()[0].replace("``", ""),
            }
        )
    if as_json:
        emit_json({"featurizers": rows})
        return
    out.print(
        table(
            "Featurizers",
            ["name", "kind", "dim", "default spec", "what"],
            [[r["name"], r["kind"], r["dim"] or "—", r["default_spec"], r["doc"]] for r in rows],
        )
    )


@app.command()
def prune(
    ctx: typer.Context,
    featurizer: Annotated[
        str | None, typer.Option("--featurizer", "-f", help="Also delete this cache.")
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="Delete every cache.")] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete stale caches (other library versions) and orphaned files; optionally one or all caches."""
    result = open_workspace(ctx, workspace).features.prune(featurizer, everything)
    if as_json:
        emit_json(result)
    else:
        out.print(f"removed {len(result['removed'])} cache(s), freed {result['bytes_freed'] / 1e6:.1f} MB")
