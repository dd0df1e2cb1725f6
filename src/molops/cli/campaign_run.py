"""``molops campaign run``: the closed loop with a live oracle (a command or a Python function)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from molops.cli._campaign_common import open_campaign, ray_closed_after
from molops.cli._output import (
    JsonOption,
    RayAddressOption,
    WorkspaceOption,
    emit_json,
    err,
    out,
    stage_progress,
    table,
)
from molops.errors import UsageError


def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    oracle: Annotated[
        str,
        typer.Option(
            "--oracle",
            help="'CMD {in} {out}' ({in}: CSV of id,smiles; {out}: CSV of id,value[,…]; with several "
            "objectives a column per target) or python:module:function.",
        ),
    ],
    iterations: Annotated[
        int | None, typer.Option(min=1, help="Batches to run (a batch resumed after a crash counts).")
    ] = None,
    parallel: Annotated[int, typer.Option(min=1, help="Oracle calls at once.")] = 1,
    timeout_per_molecule: Annotated[
        float, typer.Option(help="Seconds per molecule; a chunk gets its size times this.")
    ] = 600.0,
    chunk_size: Annotated[
        int | None, typer.Option(min=1, help="Molecules per oracle call (default: batch / (4 × parallel)).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Molecules per batch (default: the campaign's).")
    ] = None,
    executor: Annotated[
        str, typer.Option(help="Where oracle calls run: local (threads here) or ray (Ray tasks).")
    ] = "local",
    ray_address: RayAddressOption = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Send the molecules the oracle failed before again.")
    ] = False,
    track: Annotated[
        bool, typer.Option("--track/--no-track", help="Record each iteration as an MLflow run.")
    ] = True,
    send_unreviewed: Annotated[
        bool,
        typer.Option(
            "--send-unreviewed",
            help="Send a partly reviewed batch's undecided proposals too (default: wait for the review).",
        ),
    ] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Propose, measure with the oracle, ingest, retrain, repeat; resumes after a crash."""
    from molops.active.oracle import Oracle
    from molops.active.outcomes import BatchRecord
    from molops.active.run_loop import run as run_loop
    from molops.compute import EXECUTORS, get_executor

    if executor not in EXECUTORS:
        raise UsageError(f"--executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
    if not 0 < timeout_per_molecule < float("inf"):
        raise UsageError(
            f"--timeout-per-molecule must be a number of seconds above 0; got {timeout_per_molecule:g}"
        )
    spec = Oracle.parse(oracle)
    campaign = open_campaign(ctx, workspace, name)
    pool = get_executor("ray", parallel, ray_address) if executor == "ray" else None

    def report(b: BatchRecord) -> None:  # each batch as it finishes
        out.print(
            f"[bold]{name}[/] iteration {b.iteration}: {b.answered} of {b.sent} answered"
            + (f" → dataset version {b.dataset_version}" if b.dataset_version is not None else "")
            + (f"; {len(b.failures)} failed" if b.failures else "")
            + (f"; {len(b.rejected_rows)} output rows rejected" if b.rejected_rows else "")
        )
        if b.failures:
            out.print(
                table(
                    f"Failed in iteration {b.iteration}",
                    ["smiles", "inchikey", "reason"],
                    [[escape(f.smiles), f.inchikey, escape(f.reason)] for f in b.failures],
                )
            )

    with ray_closed_after(executor), stage_progress() as progress:
        result = run_loop(
            campaign,
            spec,
            iterations=iterations,
            parallel=parallel,
            timeout_per_molecule=timeout_per_molecule,
            chunk_size=chunk_size,
            executor=pool,
            retry_failed=retry_failed,
            batch_size=batch_size,
            track=track,
            progress=progress,
            on_batch=None if as_json else report,
            send_unreviewed=send_unreviewed,
        )
    if as_json:
        emit_json(result.model_dump())
        return
    if result.splits:
        err.print(f"{result.splits} failed chunks were split and retried")
    out.print(
        f"{len(result.batches)} batch{'es' if len(result.batches) != 1 else ''}, {result.sent} molecules, "
        f"{result.calls} oracle calls in {result.seconds:.1f} s; stopped: {escape(result.reason)}"
    )
