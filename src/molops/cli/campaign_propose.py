"""``molops campaign propose`` and ``ingest``: the next batch out, the lab's results back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from molops.cli._campaign_common import SCORING_PRELOAD, budget_text, open_campaign, ray_closed_after
from molops.cli._output import (
    JsonOption,
    RayAddressOption,
    WorkersOption,
    WorkspaceOption,
    byte_progress,
    check_executor,
    emit_json,
    fmt_float,
    out,
    stage_progress,
    table,
    warn,
)


def propose(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    batch_size: Annotated[
        int | None, typer.Option(help="Molecules to propose (default: the campaign's).")
    ] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Also write the batch to this CSV.")] = None,
    ignore_stop: Annotated[
        bool, typer.Option("--ignore-stop", help="Propose even though a stopping rule is met.")
    ] = False,
    track: Annotated[
        bool, typer.Option("--track/--no-track", help="Record the iteration as an MLflow run.")
    ] = True,
    executor: Annotated[
        str | None,
        typer.Option(help="Score the pool on local worker processes or Ray (default: in this process)."),
    ] = None,
    workers: WorkersOption = 0,
    ray_address: RayAddressOption = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train on the latest dataset version, score the pool and propose the next ranked batch."""
    from molops.compute import get_executor

    check_executor(executor)
    campaign = open_campaign(ctx, workspace, name)
    pool = None if executor is None else get_executor(executor, workers, ray_address, preload=SCORING_PRELOAD)
    with ray_closed_after(executor), stage_progress() as progress:
        result = campaign.propose(
            batch_size,
            out=out_file,
            progress=progress,
            ignore_stop=ignore_stop,
            executor=pool,
            track=track,
        )
    if as_json:
        emit_json(result.model_dump())
        return
    it = result.iteration
    for warning in it.warnings:
        warn(warning)
    out.print(
        f"[bold]{name}[/] iteration {it.number}: trained on {it.n_train} molecules (dataset version "
        f"{it.dataset_version}); scored {it.scored:,} of {it.pool_rows:,} pool rows in "
        f"{it.seconds_scoring:.1f} s ({it.molecules_per_s:,.0f}/s); excluded {it.excluded}; "
        f"filtered {it.filtered or 'none'}; budget {budget_text(result.budget)}"
    )
    out.print(
        table(
            f"Proposals (iteration {it.number})",
            ["rank", "smiles", "mean", "std", "score", "nearest measured", "sim", "value", "reason"],
            [
                [
                    p["rank"],
                    escape(p["smiles"]),
                    fmt_float(p["predicted_mean"]),
                    fmt_float(p["predicted_std"]),
                    fmt_float(p["acquisition_score"]),
                    escape(p["nearest_smiles"]),
                    fmt_float(p["nearest_similarity"], 2),
                    fmt_float(p["nearest_value"]),
                    escape(p["reason"]),
                ]
                for p in result.proposals
            ],
        )
    )
    out.print(
        f"recorded → {result.proposals_file}"
        + (f"; CSV → {result.out}" if result.out else "")
        + (f"; MLflow run {result.iteration.run_id}" if result.iteration.run_id else "")
    )


def ingest_results(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    results: Annotated[Path, typer.Argument(help="Results file (CSV/TSV/SDF/Parquet, optionally .gz).")],
    smiles_col: Annotated[
        str | None, typer.Option(help="SMILES column (default: the pool's, else smiles).")
    ] = None,
    target_col: Annotated[
        str | None, typer.Option(help="Column of the measured value (default: the campaign's target).")
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Take lab results back: a new dataset version, matched to the campaign's proposals."""
    from molops.cli.data import print_ingest

    campaign = open_campaign(ctx, workspace, name)
    with byte_progress(f"ingest {results.name}") as progress:
        result = campaign.ingest(results, smiles_col=smiles_col, target_col=target_col, progress=progress)
    if as_json:
        emit_json(result.model_dump())
        return
    from molops.data import IngestReport

    print_ingest(IngestReport(**result.report))
    rec = result.ingest
    out.print(
        f"[bold]{name}[/]: {rec.answered} proposals answered, {rec.remeasured} re-measured, "
        f"{rec.unproposed} results for molecules never proposed; {result.open_proposals} proposals still open"
    )
    if result.unproposed:
        out.print(
            table(
                "Results for molecules never proposed (accepted, flagged)",
                ["smiles", "inchikey", "value"],
                [[escape(r["smiles"]), r["inchikey"], fmt_float(r["value"])] for r in result.unproposed],
            )
        )
