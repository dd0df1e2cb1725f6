"""``molops campaign status``: a campaign's progress, as a table or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from molops.cli._campaign_common import budget_text
from molops.cli._output import JsonOption, WorkspaceOption, emit_json, fmt_float, open_workspace, out, table


def status(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of the campaign's progress here.")] = None,
    hit_top: Annotated[
        float | None,
        typer.Option(
            help="Without a --threshold, a hit is in the best this fraction of the seed data (0.05)."
        ),
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Iterations, budget, best value, hits, model quality per measured batch, open proposals."""
    from molops.active.campaign import Campaign
    from molops.active.plots import plot_status

    ws = open_workspace(ctx, workspace)
    st = Campaign.open(ws, name).status(hit_top)
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
    if st.pareto is not None:  # several objectives
        _front(st.pareto)
    _diagnostics(st.iterations, st.diagnostics)
    _compute(st.compute)
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


def _front(front: dict[str, Any]) -> None:
    """The measured Pareto front and its hypervolume now and when each iteration was proposed."""
    targets = [o["target"] for o in front["objectives"]]
    ref = ", ".join(f"{t} {v:g}" for t, v in front["reference"].items())
    history = "; ".join(f"#{h['iteration']} {h['hypervolume_before']:.3f}" for h in front["history"])
    out.print(
        f"Pareto front ({front['acquisition']}): {len(front['front'])} molecules, hypervolume "
        f"{front['hypervolume']:.3f} of at most {front['hypervolume_max']:.2f} (reference {ref})"
        + (f"; before each iteration: {history}" if history else "")
    )
    rows = [
        [escape(r["smiles"]), *[fmt_float(r[t]) for t in targets], r["iteration"] or ""]
        for r in front["front"]
    ]
    out.print(table("Pareto front (measured)", ["smiles", *targets, "iteration"], rows))


def _pct(value: Any) -> str:
    return "" if value is None else f"{value:.0%}"


def _diagnostics(iterations: list[dict[str, Any]], diag: dict[str, Any]) -> None:
    """The hit rate against random, error and calibration before labels, diversity per iteration
    (the JSON has more: RMSE, NLL, miscalibration area, nearest similarity, per-phase seconds)."""
    rule = diag["hit_rule"]
    if rule["threshold"] is not None:
        expectation = (
            f"random expectation {rule['expectation']:.1%} "
            f"({rule['seed_hits']}/{rule['seed_n']} of the seed data)"
            if rule["expectation"] is not None
            else "no random expectation (no seed data)"
        )
        out.print(f"hit: {escape(rule['description'])}; {expectation}")
    rows = []
    for it in iterations:
        d = it["diagnostics"]
        raw = d.get("raw") or {}
        interval = d.get("hit_rate_interval")
        rows.append(
            [
                it["iteration"],
                f"{d['hits']}/{d['n']}" if d.get("n") else "",
                f"{interval[0]:.0%}–{interval[1]:.0%}".replace("%–", "–") if interval else "",
                fmt_float(d.get("lift"), 2),
                fmt_float(d.get("mae")),
                _pct(d.get("coverage_1sd")) + (f" ({_pct(raw['coverage_1sd'])})" if raw else ""),
                _pct(d.get("coverage_2sd")) + (f" ({_pct(raw['coverage_2sd'])})" if raw else ""),
                fmt_float((it["calibration"] or {}).get("factor"), 3),
                fmt_float(d.get("diversity"), 2),
                fmt_float(sum(it["cpu_seconds"].values()) if it["cpu_seconds"] else None, 3),
            ]
        )
    out.print(
        table(
            "Diagnostics: predictions made before the labels (raw std in brackets)",
            ["#", "hits", "95% CI", "lift", "MAE", "±1σ 68%", "±2σ 95%", "std ×", "diversity", "CPU s"],
            rows,
        )
    )
    cumulative = diag["cumulative"]
    if cumulative.get("hit_rate") is not None:
        low, high = cumulative["hit_rate_interval"]
        k, n, rate = cumulative["hits"], cumulative["n"], cumulative["hit_rate"]
        out.print(f"campaign hit rate so far: {k}/{n} = {rate:.0%} (95% CI {low:.0%}–{high:.0%})")
    if diag["warning"]:
        out.print(f"[bold yellow]warning[/]: {escape(diag['warning'])}")


def _compute(compute: dict[str, Any]) -> None:
    if not compute.get("iterations_measured"):
        return
    cpu, gpu = compute["cpu_seconds"], compute["gpu_seconds"]
    phases = ", ".join(f"{p} {s:.1f}" for p, s in cpu.items() if p != "total")
    out.print(
        f"compute: {cpu['total']:.1f} CPU-s ({phases}), {gpu['total']:.1f} GPU-s over "
        f"{compute['iterations_measured']} of {compute['iterations']} iterations"
    )
