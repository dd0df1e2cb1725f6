"""``molops campaign status``: a campaign's progress, as a table or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from molops.cli._campaign_common import budget_text
from molops.cli._output import JsonOption, WorkspaceOption, emit_json, fmt_float, open_workspace, out, table


def status(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of the campaign's progress here.")] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Iterations, budget, best value, hits, model quality per measured batch, open proposals."""
    from molops.active.campaign import Campaign
    from molops.active.plots import plot_status

    ws = open_workspace(ctx, workspace)
    st = Campaign.open(ws, name).status()
    if plot is not None:
        plot_status(st, plot)
    if as_json:
        emit_json(st.model_dump() | {"plot": str(plot) if plot else None})
        return
    obj = st.config["objective"]
    best = st.best
    out.print(
        f"[bold]{name}[/]: {obj['target']} ({'maximise' if obj['maximize'] else 'minimise'}), dataset "
        f"{st.config['dataset']} v{st.dataset_version}; budget {budget_text(st.budget)}; best so far "
        + (f"{best['value']:g} ({escape(best['smiles'])})" if best else "none")
        + (
            f"; hits ({'≥' if obj['maximize'] else '≤'} {obj['threshold']:g}): "
            f"{st.hits['dataset']} in the dataset, "
            f"{st.hits['campaign']} from the campaign"
            if obj["threshold"] is not None
            else ""
        )
    )
    out.print(
        table(
            "Iterations",
            [
                "#",
                "trained on",
                "n train",
                "proposed",
                "answered",
                "open",
                "RMSE",
                "Spearman",
                "hit rate",
                "best in batch",
            ],
            [
                [
                    it["iteration"],
                    f"v{it['dataset_version']}",
                    it["n_train"],
                    it["proposed"],
                    it["answered"],
                    it["open"],
                    fmt_float(it["rmse"]),
                    fmt_float(it["spearman"], 2),
                    fmt_float(it["hit_rate"], 2),
                    fmt_float(it["best_in_batch"]),
                ]
                for it in st.iterations
            ],
        )
    )
    out.print(f"open proposals: {st.proposals['open']} of {st.proposals['total']}")
    if st.failures:  # molecules a live oracle (campaign run, tell) could not measure
        out.print(
            table(
                "Oracle failures",
                ["smiles", "reason"],
                [[escape(f["smiles"]), escape(f["reason"])] for f in st.failures],
            )
        )
    if st.decisions:  # review decisions, oldest first (a later one on a proposal replaces it)
        for it in st.iterations:
            counts = ", ".join(f"{n} {what}" for what, n in it["review"].items())
            out.print(f"review of iteration {it['iteration']}: {counts}")
        out.print(
            table(
                "Review decisions",
                ["iteration", "id", "decision", "smiles", "reason", "by", "when"],
                [
                    [
                        d["iteration"],
                        d["id"],
                        d["action"],
                        escape(d["smiles"]) + (f" → {escape(d['swap_smiles'])}" if d["swap_smiles"] else ""),
                        escape(d["reason"] or ""),
                        escape(d["user"]),
                        d["time"],
                    ]
                    for d in st.decisions
                ],
            )
        )
    if st.stopped:
        out.print(f"[bold]stopped[/]: {escape(st.stopped)}")
    if plot is not None:
        out.print(f"plot → {plot}")
