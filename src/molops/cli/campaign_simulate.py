"""``molops campaign simulate``: replay active learning on a file of known values."""

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
from molops.cli._output import JsonOption, emit_json, out, stage_progress, table
from molops.errors import InputFileError, UsageError

_STAGES = {"read": "reading", "features": "featurizing", "loop": "active-learning iterations"}


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
    recipe = recipe_of(model, params, featurizer, acquisition, max_similarity).check()
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
