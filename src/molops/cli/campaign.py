"""``molops campaign …``: active-learning campaigns, and their retrospective simulation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from molops.cli._output import JsonOption, emit_json, err, json_params, out, table
from molops.errors import MolopsError

app = typer.Typer(
    help="Active learning: choose the next experiments, take results back, retrain.", no_args_is_help=True
)

_STAGES = {"read": "reading", "features": "featurizing", "loop": "active-learning iterations"}


@contextmanager
def _stage_progress() -> Iterator[Any]:
    """One progress bar per stage (read, features, loop), with count, elapsed time and ETA."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    tasks: dict[str, Any] = {}
    with progress:

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(_STAGES.get(stage, stage), total=total or None)
            progress.update(tasks[stage], completed=done, total=total or None)

        yield update


def _plot(result: Any, path: Path, title: str) -> None:
    """The averaged top-k curve with its spread, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [p.evaluated for p in result.curve]
    mean = [p.top_k_found_mean for p in result.curve]
    sd = [p.top_k_found_sd for p in result.curve]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(x, mean, marker="o", label=result.recipe["model"] + " + " + result.recipe["acquisition"])
    ax.fill_between(
        x,
        [m - s for m, s in zip(mean, sd, strict=True)],
        [m + s for m, s in zip(mean, sd, strict=True)],
        alpha=0.2,
    )
    ax.set_xlabel("molecules evaluated")
    ax.set_ylabel(f"fraction of the top {result.protocol['top_k']} found")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
    model: Annotated[str | None, typer.Option(help="Model (default: molops' recipe).")] = None,
    params: Annotated[str | None, typer.Option(help="Model parameters as a JSON object.")] = None,
    featurizer: Annotated[str | None, typer.Option(help="Featurizer SPEC; join several with '+'.")] = None,
    acquisition: Annotated[
        str | None, typer.Option(help="Acquisition SPEC, e.g. greedy, ucb:beta=2.")
    ] = None,
    max_similarity: Annotated[
        float | None, typer.Option(help="Batch diversity: no two picks this similar (1 = top-N).")
    ] = None,
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
    from molops.active.recipe import Recipe
    from molops.active.simulate import load_library
    from molops.active.simulate import simulate as run_simulation
    from molops.compute.local import LocalExecutor

    if repeats < 1:
        raise MolopsError(f"--repeats must be at least 1; got {repeats}")
    if not data.is_file():
        raise MolopsError(
            f"--data {data}: no such file; expected a CSV, TSV, SDF or Parquet file of measurements"
        )
    given = {
        "model": model,
        "featurizer": featurizer,
        "acquisition": acquisition,
        "max_similarity": max_similarity,
    }
    recipe = Recipe(
        **{k: v for k, v in given.items() if v is not None},
        **({"model_params": json_params(params)} if params else {}),
    ).check()
    executor = LocalExecutor(workers, preload=("molops.data.validation", "molops.features.build"))
    with _stage_progress() as progress:
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
        _plot(result, plot, f"{data.name}: top-{result.protocol['top_k']} recovery")
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
            f"Fraction of the top {result.protocol['top_k']} found (mean ± sd of {repeats} repeats)",
            ["iteration", "evaluated", "found", "± sd"],
            [
                [i, p.evaluated, f"{p.top_k_found_mean:.3f}", f"{p.top_k_found_sd:.3f}"]
                for i, p in enumerate(result.curve)
            ],
        )
    )
    if plot is not None:
        out.print(f"curve → {plot}")
