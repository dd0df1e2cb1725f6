"""``molops campaign …``: active-learning campaigns, and their retrospective simulation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from molops.cli._output import (
    JsonOption,
    RayAddressOption,
    WorkersOption,
    WorkspaceOption,
    byte_progress,
    check_executor,
    emit_json,
    err,
    fmt_float,
    json_params,
    open_workspace,
    out,
    stage_progress,
    table,
)
from molops.errors import InputFileError, UsageError

#: What pool-scoring workers import once (the model zoo and the feature caches).
SCORING_PRELOAD = ("molops.active.scan", "molops.models.zoo")

app = typer.Typer(
    help="Active learning: choose the next experiments, take results back, retrain.", no_args_is_help=True
)

#: The recipe options of ``simulate`` and ``create`` (unset: molops' default recipe).
ModelOption = Annotated[str | None, typer.Option(help="Model (default: molops' recipe).")]
ParamsOption = Annotated[str | None, typer.Option(help="Model parameters as a JSON object.")]
FeaturizerOption = Annotated[str | None, typer.Option(help="Featurizer SPEC; join several with '+'.")]
AcquisitionOption = Annotated[str | None, typer.Option(help="Acquisition SPEC, e.g. greedy, ucb:beta=2.")]
DiversityOption = Annotated[
    float | None, typer.Option(help="Batch diversity: no two picks this similar (1 = top-N).")
]


def _recipe(
    model: str | None,
    params: str | None,
    featurizer: str | None,
    acquisition: str | None,
    max_similarity: float | None,
) -> Any:
    """The Recipe of the given options; molops' defaults for the rest."""
    from molops.active.recipe import Recipe

    given: dict[str, Any] = {
        "model": model,
        "featurizer": featurizer,
        "acquisition": acquisition,
        "max_similarity": max_similarity,
    }
    options = {k: v for k, v in given.items() if v is not None}
    if params:
        options["model_params"] = json_params(params)
    return Recipe(**options)


_STAGES = {"read": "reading", "features": "featurizing", "loop": "active-learning iterations"}


@app.command()
def simulate(
    data: Annotated[Path, typer.Option("--data", help="CSV/TSV/SDF/Parquet file of measured molecules.")],
    target_col: Annotated[str, typer.Option("--target-col", help="Column of the measured value.")],
    smiles_col: Annotated[
        str | None,
        typer.Option("--smiles-col", help="Column of the SMILES (SDF: the mol block when omitted)."),
    ] = "smiles",
    minimize: Annotated[
        bool, typer.Option("--minimize/--maximize", help="Lower is better (e.g. docking).")
    ] = False,
    model: ModelOption = None,
    params: ParamsOption = None,
    featurizer: FeaturizerOption = None,
    acquisition: AcquisitionOption = None,
    max_similarity: DiversityOption = None,
    init: Annotated[float, typer.Option(help="Initial random batch: fraction (<1) or count.")] = 0.01,
    batch: Annotated[float, typer.Option(help="Batch per iteration: fraction (<1) or count.")] = 0.01,
    iterations: Annotated[int, typer.Option(help="Batches after the initial one.")] = 5,
    top_k: Annotated[
        float, typer.Option("--top-k", help="What counts as a hit: fraction (<1) or count.")
    ] = 0.01,
    repeats: Annotated[int, typer.Option(help="Independent repeats (different initial batches).")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the first repeat.")] = 0,
    workers: Annotated[int, typer.Option(help="Processes for reading and featurizing (0: all cores).")] = 0,
    plot: Annotated[Path | None, typer.Option(help="Write the curve as a PNG here.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Replay active learning on a file of known values (a lookup oracle) and report the top-k curve."""
    from molops.active.plots import plot_simulation
    from molops.active.simulate import load_library
    from molops.active.simulate import simulate as run_simulation
    from molops.compute.local import LocalExecutor

    if repeats < 1:
        raise UsageError(f"--repeats must be at least 1; got {repeats}")
    if not data.is_file():
        raise InputFileError(
            f"--data {data}: no such file; expected a CSV, TSV, SDF or Parquet file of measurements"
        )
    recipe = _recipe(model, params, featurizer, acquisition, max_similarity).check()
    executor = LocalExecutor(workers, preload=("molops.data.validation", "molops.features.build"))
    with stage_progress(_STAGES) as progress:
        library = load_library(data, smiles_col, target_col, executor=executor, progress=progress)
        result = run_simulation(
            library,
            recipe,
            maximize=not minimize,
            init=init,
            batch=batch,
            iterations=iterations,
            top_k=top_k,
            repeats=repeats,
            seed=seed,
            executor=executor,
            progress=progress,
        )
    if plot is not None:
        plot_simulation(result, plot, f"{data.name}: top-{result.protocol['top_k']} recovery")
    if as_json:
        emit_json(result.model_dump())
        return
    lib = result.library
    out.print(
        f"{lib['molecules']} molecules from {lib['rows_in']} rows ({lib['duplicates']} duplicates, "
        f"{sum(lib['rejected'].values())} rejected); recipe: {result.recipe['model']} on "
        f"{result.recipe['featurizer']}, {result.recipe['acquisition']}; {result.seconds:.1f} s"
    )
    out.print(
        table(
            f"Fraction of the top {result.protocol['top_k']} found "
            f"(mean ± sd of {repeats} repeat{'s' if repeats > 1 else ''})",
            ["iteration", "evaluated", "found", "± sd"],
            [
                [i, p.evaluated, f"{p.top_k_found_mean:.3f}", f"{p.top_k_found_sd:.3f}"]
                for i, p in enumerate(result.curve)
            ],
        )
    )
    if plot is not None:
        out.print(f"curve → {plot}")


# -- campaigns ---------------------------------------------------------------------------------------


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Campaign name (letters, digits, '.', '_', '-').")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset of the measurements so far.")],
    pool: Annotated[Path, typer.Option(help="Candidate file (CSV/TSV/SMILES/SDF/Parquet, optionally .gz).")],
    target: Annotated[str, typer.Option(help="Target (a column of the dataset) to optimise.")],
    maximize: Annotated[
        bool, typer.Option("--maximize/--minimize", help="Whether higher or lower values are better.")
    ],
    threshold: Annotated[
        float | None, typer.Option(help="A hit: at least this (--maximize) or at most this (--minimize).")
    ] = None,
    model: ModelOption = None,
    params: ParamsOption = None,
    featurizer: FeaturizerOption = None,
    acquisition: AcquisitionOption = None,
    max_similarity: DiversityOption = None,
    batch_size: Annotated[int, typer.Option(help="Molecules per proposal (default of propose).")] = 96,
    budget: Annotated[
        int | None, typer.Option(min=1, help="Most molecules the campaign may propose.")
    ] = None,
    max_iterations: Annotated[int | None, typer.Option(min=1, help="Most proposals (iterations).")] = None,
    cost_col: Annotated[
        str | None, typer.Option(help="Pool column with each molecule's cost (price, effort).")
    ] = None,
    budget_cost: Annotated[
        float | None, typer.Option(help="Most total cost, in --cost-col units (above 0).")
    ] = None,
    stop_hits: Annotated[
        int | None, typer.Option(min=1, help="Stop once the proposals found this many hits (--threshold).")
    ] = None,
    stop_patience: Annotated[
        int | None,
        typer.Option(min=1, help="Stop once this many measured batches in a row did not improve the best."),
    ] = None,
    stop_min_improvement: Annotated[
        float, typer.Option(min=0.0, help="With --stop-patience: a smaller gain is no improvement.")
    ] = 0.0,
    smiles_col: Annotated[
        str | None, typer.Option(help="SMILES column of the pool (default: smiles).")
    ] = None,
    mw: Annotated[str | None, typer.Option("--mw", help="Molecular weight range MIN:MAX.")] = None,
    logp: Annotated[str | None, typer.Option("--logp", help="Crippen logP range MIN:MAX.")] = None,
    hbd: Annotated[int | None, typer.Option("--hbd", help="Most H-bond donors.")] = None,
    hba: Annotated[int | None, typer.Option("--hba", help="Most H-bond acceptors.")] = None,
    no_pains: Annotated[bool, typer.Option("--no-pains", help="Exclude RDKit PAINS matches.")] = False,
    exclude_smarts: Annotated[
        list[str] | None,
        typer.Option("--exclude-smarts", help="Exclude matches of this SMARTS (repeatable)."),
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a campaign: dataset, pool, objective, recipe, batch size, budget and filters."""
    from molops.active.campaign import Campaign
    from molops.active.filters import Filters, parse_range
    from molops.active.state import Budget, Objective
    from molops.active.stopping import StoppingRules

    if budget_cost is not None and not 0 < budget_cost < float("inf"):
        raise UsageError(f"--budget-cost must be a number above 0; got {budget_cost:g}")
    if stop_min_improvement and stop_patience is None:
        raise UsageError("--stop-min-improvement qualifies --stop-patience; pass --stop-patience too")
    ws = open_workspace(ctx, workspace)
    recipe = _recipe(model, params, featurizer, acquisition, max_similarity)
    filters = Filters(
        mw=parse_range(mw, "--mw") if mw else None,
        logp=parse_range(logp, "--logp") if logp else None,
        hbd=hbd,
        hba=hba,
        pains=no_pains,
        exclude_smarts=exclude_smarts or [],
    )
    campaign = Campaign.create(
        ws,
        name,
        dataset=dataset,
        pool=pool,
        objective=Objective(target=target, maximize=maximize, threshold=threshold),
        recipe=recipe,
        batch_size=batch_size,
        budget=Budget(molecules=budget, iterations=max_iterations, cost=budget_cost),
        filters=filters,
        smiles_col=smiles_col,
        cost_col=cost_col,
        stopping=StoppingRules(hits=stop_hits, patience=stop_patience, min_improvement=stop_min_improvement),
    )
    config = campaign.load().config
    if as_json:
        emit_json({"campaign": name, "path": str(campaign.dir), **config.model_dump()})
        return
    r = config.recipe
    out.print(
        f"created campaign [bold]{name}[/]: {config.objective.target} "
        f"({'maximise' if maximize else 'minimise'}) on dataset {dataset}, pool {config.pool}; "
        f"recipe {r.model} on {r.featurizer}, {r.acquisition}; batch {batch_size}"
    )


def _budget_text(budget: dict[str, Any]) -> str:
    """``used/limit`` per kind, ``used (no limit)`` where none was set."""

    def used(kind: str, value: float) -> str:
        limit = budget[kind]
        return f"{value:g}/{limit:g}" if limit else f"{value:g} (no limit)"

    parts = [
        f"molecules {used('molecules', budget['molecules_used'])}",
        f"iterations {used('iterations', budget['iterations_used'])}",
    ]
    if budget.get("cost_used") is not None:
        parts.append(f"cost {used('cost', budget['cost_used'])}")
    return ", ".join(parts)


@app.command()
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
    from molops.active.campaign import Campaign
    from molops.compute import get_executor

    check_executor(executor)
    ws = open_workspace(ctx, workspace)
    campaign = Campaign.open(ws, name)
    pool = None if executor is None else get_executor(executor, workers, ray_address, preload=SCORING_PRELOAD)
    try:
        with stage_progress() as progress:
            result = campaign.propose(
                batch_size,
                out=out_file,
                progress=progress,
                ignore_stop=ignore_stop,
                executor=pool,
                track=track,
            )
    finally:
        if executor == "ray":
            from molops.compute.ray import shutdown

            shutdown()
    if as_json:
        emit_json(result.model_dump())
        return
    it = result.iteration
    for warning in it.warnings:
        err.print(f"warning: {warning}")
    out.print(
        f"[bold]{name}[/] iteration {it.number}: trained on {it.n_train} molecules (dataset version "
        f"{it.dataset_version}); scored {it.scored:,} of {it.pool_rows:,} pool rows in "
        f"{it.seconds_scoring:.1f} s ({it.molecules_per_s:,.0f}/s); excluded {it.excluded}; "
        f"filtered {it.filtered or 'none'}; budget {_budget_text(result.budget)}"
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


@app.command("ingest")
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
    from molops.active.campaign import Campaign
    from molops.cli.data import print_ingest

    ws = open_workspace(ctx, workspace)
    campaign = Campaign.open(ws, name)
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


@app.command()
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
        f"{st.config['dataset']} v{st.dataset_version}; budget {_budget_text(st.budget)}; best so far "
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
    if st.stopped:
        out.print(f"[bold]stopped[/]: {escape(st.stopped)}")
    if plot is not None:
        out.print(f"plot → {plot}")


@app.command("list")
def list_(ctx: typer.Context, workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """The workspace's campaigns with their progress."""
    from molops.active.campaign import Campaign
    from molops.active.store import list_campaigns

    ws = open_workspace(ctx, workspace)
    rows = []
    for name in list_campaigns(ws):
        state = Campaign(ws, name).load()
        cfg = state.config
        rows.append(
            {
                "name": name,
                "dataset": cfg.dataset,
                "target": cfg.objective.target,
                "maximize": cfg.objective.maximize,
                "pool": cfg.pool,
                "iterations": len(state.iterations),
                "proposed": state.proposed(),
                "budget": cfg.budget.molecules,
                "created": cfg.created,
            }
        )
    if as_json:
        emit_json({"campaigns": rows})
        return
    out.print(
        table(
            "Campaigns",
            ["name", "dataset", "target", "direction", "iterations", "proposed", "budget", "created"],
            [
                [
                    r["name"],
                    r["dataset"],
                    r["target"],
                    "max" if r["maximize"] else "min",
                    r["iterations"],
                    r["proposed"],
                    r["budget"] or "",
                    r["created"],
                ]
                for r in rows
            ],
        )
    )
