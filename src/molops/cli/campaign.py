"""``molops campaign …``: active-learning campaigns, and their retrospective simulation.

This module is the command group, ``create`` and ``list``; the other commands live in
``campaign_simulate``, ``campaign_propose`` and ``campaign_status``, and are registered below in
the order ``--help`` lists them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from molops.cli._campaign_common import (
    AcquisitionOption,
    DiversityOption,
    FeaturizerOption,
    ModelOption,
    ParamsOption,
    recipe_of,
)
from molops.cli._output import JsonOption, WorkspaceOption, emit_json, open_workspace, out, table
from molops.cli.campaign_propose import ingest_results, propose
from molops.cli.campaign_review import review
from molops.cli.campaign_run import run
from molops.cli.campaign_simulate import simulate
from molops.cli.campaign_status import status
from molops.errors import UsageError

app = typer.Typer(
    help="Active learning: choose the next experiments, take results back, retrain.", no_args_is_help=True
)


def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Campaign name (letters, digits, '.', '_', '-').")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset of the measurements so far.")],
    pool: Annotated[Path, typer.Option(help="Candidate file (CSV/TSV/SMILES/SDF/Parquet, optionally .gz).")],
    target: Annotated[
        str | None, typer.Option(help="Target (a column of the dataset) to optimise; or --objective.")
    ] = None,
    maximize: Annotated[
        bool | None, typer.Option("--maximize/--minimize", help="Whether higher or lower values are better.")
    ] = None,
    objective: Annotated[
        list[str] | None,
        typer.Option(
            "--objective",
            help="TARGET:min|max[:weight=W,below=V,above=V]; repeatable (several objectives).",
        ),
    ] = None,
    multi_acquisition: Annotated[
        str, typer.Option(help="With several --objective: pareto (hypervolume gain) or desirability.")
    ] = "pareto",
    kappa: Annotated[
        float, typer.Option(help="With several --objective: optimism, each objective at mean + kappa × std.")
    ] = 1.0,
    threshold: Annotated[
        float | None, typer.Option(help="A hit: at least this (--maximize) or at most this (--minimize).")
    ] = None,
    model: ModelOption = None,
    params: ParamsOption = None,
    featurizer: FeaturizerOption = None,
    acquisition: AcquisitionOption = None,
    max_similarity: DiversityOption = None,
    recalibrate: Annotated[
        str | None,
        typer.Option(help="Recalibrate the std at each propose: none (default), auto, scale, isotonic."),
    ] = None,
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
    exclude_analogues_above: Annotated[
        float | None,
        typer.Option(help="Also never propose molecules this similar (Tanimoto) to one rejected in review."),
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a campaign: dataset, pool, objective, recipe, batch size, budget and filters."""
    from molops.active.campaign import Campaign
    from molops.active.filters import Filters, parse_range
    from molops.active.objectives import objectives_of
    from molops.active.state import Budget, Objective
    from molops.active.stopping import StoppingRules
    from molops.models.calibration import check_method

    if budget_cost is not None and not 0 < budget_cost < float("inf"):
        raise UsageError(f"--budget-cost must be a number above 0; got {budget_cost:g}")
    if stop_min_improvement and stop_patience is None:
        raise UsageError("--stop-min-improvement qualifies --stop-patience; pass --stop-patience too")
    if exclude_analogues_above is not None and not 0 < exclude_analogues_above <= 1:
        got = f"{exclude_analogues_above:g}"
        raise UsageError(f"--exclude-analogues-above must be a similarity above 0 and at most 1; got {got}")
    if objective and (target is not None or maximize is not None):
        raise UsageError(
            "pass either --objective (repeatable) or --target with --maximize/--minimize, not both"
        )
    if objective:
        first, multi = objectives_of(objective, multi_acquisition, kappa)
        if threshold is not None:  # a hit, on the first objective
            first = first.model_copy(update={"threshold": threshold})
            multi = multi and multi.model_copy(update={"objectives": [first, *multi.objectives[1:]]})
    elif target is not None and maximize is not None:
        first, multi = Objective(target=target, maximize=maximize, threshold=threshold), None
    else:
        raise UsageError(
            "a campaign needs --target with --maximize or --minimize, or --objective TARGET:min|max"
        )
    ws = open_workspace(ctx, workspace)
    recipe = recipe_of(model, params, featurizer, acquisition, max_similarity)
    if recalibrate is not None:
        recipe = recipe.model_copy(update={"recalibrate": check_method(recalibrate)})
    filters = Filters(
        mw=parse_range(mw, "--mw") if mw else None,
        logp=parse_range(logp, "--logp") if logp else None,
        hbd=hbd,
        hba=hba,
        pains=no_pains,
        exclude_smarts=exclude_smarts or [],
        exclude_analogues_above=exclude_analogues_above,
    )
    campaign = Campaign.create(
        ws,
        name,
        dataset=dataset,
        pool=pool,
        objective=first,
        multi=multi,
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
        where = str(campaign.dir) if campaign.remote is None else campaign.remote.storage.root
        emit_json({"campaign": name, "path": where, **config.model_dump()})
        return
    r = config.recipe
    goals = ", ".join(f"{o.target} ({'maximise' if o.maximize else 'minimise'})" for o in config.objectives)
    out.print(
        f"created campaign [bold]{name}[/]: {goals}"
        + (f" by {config.multi.acquisition}" if config.multi else "")
        + f" on dataset {dataset}, pool {config.pool}; "
        f"recipe {r.model} on {r.featurizer}, {r.acquisition}; batch {batch_size}"
    )


def list_(ctx: typer.Context, workspace: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """The workspace's campaigns with their progress."""
    from molops.active.store import campaign_overview

    rows = campaign_overview(open_workspace(ctx, workspace))
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


app.command()(simulate)
app.command()(create)
app.command()(propose)
app.command()(review)
app.command("ingest")(ingest_results)
app.command()(run)
app.command()(status)
app.command("list")(list_)
