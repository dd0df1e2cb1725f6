"""``molops campaign review``: accept, reject or swap a proposed batch's molecules before the lab
makes them; without a decision, the batch with the decisions in force."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from molops.cli._campaign_common import open_campaign
from molops.cli._output import JsonOption, WorkspaceOption, emit_json, fmt_float, out, table

IdsHelp = "ids (rank in the batch) or InChIKeys, comma-separated; repeatable"


def review(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    iteration: Annotated[
        int | None, typer.Option(min=1, help="Iteration whose batch to review (default: the latest).")
    ] = None,
    accept: Annotated[
        list[str] | None, typer.Option("--accept", help=f"Accept proposals: {IdsHelp}.")
    ] = None,
    reject: Annotated[
        list[str] | None, typer.Option("--reject", help=f"Reject proposals (needs --reason): {IdsHelp}.")
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option(help="Why: 'not synthesisable', 'IP', 'toxicophore' or your own words."),
    ] = None,
    swap: Annotated[
        list[str] | None,
        typer.Option("--swap", help="Put your own molecule in a proposal's place: ID=SMILES; repeatable."),
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Review a proposed batch: accept, reject with a reason, or swap in your own molecule."""
    from molops.active.review import parse_ids, parse_swaps, record_decisions, review_state

    campaign = open_campaign(ctx, workspace, name)
    if not (accept or reject or swap or reason is not None):
        state = review_state(campaign, iteration)
        if as_json:
            emit_json(state.model_dump())
            return
        _print(state.model_dump())
        return
    result = record_decisions(
        campaign,
        iteration,
        accept=parse_ids(accept or []),
        reject=parse_ids(reject or []),
        reason=reason,
        swaps=parse_swaps(swap or []),
    )
    if as_json:
        emit_json(result.model_dump())
        return
    done = [d.action for d in result.recorded]
    out.print(
        f"[bold]{name}[/] iteration {result.iteration}: recorded {len(done)} decision"
        f"{'s' if len(done) != 1 else ''} ({done.count('accept')} accepted, {done.count('reject')} "
        f"rejected, {done.count('swap')} swapped) as {escape(result.recorded[0].user)}"
    )
    _print(result.review.model_dump())


def _print(review: dict[str, Any]) -> None:
    counts = ", ".join(f"{n} {status}" for status, n in review["counts"].items())
    out.print(
        table(
            f"Iteration {review['iteration']} of {review['campaign']}: review"
            + (" (closed: its results were ingested)" if review["closed"] else ""),
            ["id", "smiles", "inchikey", "mean", "std", "status", "reason", "by", "when"],
            [
                [
                    p["id"],
                    escape(p["smiles"]) + (f" → {escape(p['swap_smiles'])}" if p["swap_smiles"] else ""),
                    p["inchikey"],
                    fmt_float(p["predicted_mean"]),
                    fmt_float(p["predicted_std"]),
                    p["status"],
                    escape(p["reason"] or ""),
                    escape(p["decided_by"] or ""),
                    p["decided_at"] or "",
                ]
                for p in review["proposals"]
            ],
        )
    )
    out.print(counts)
