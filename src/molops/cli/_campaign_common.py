"""What the ``molops campaign`` command modules share: the recipe options and their Recipe, the
campaign a command names, the scoring workers' preload, the Ray shutdown and the budget's one-line text."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from molops.cli._output import json_params, open_workspace

if TYPE_CHECKING:
    from molops.active.campaign import Campaign

#: What pool-scoring workers import once (the model zoo, its models' libraries, which the zoo itself
#: imports only to fit, and the feature caches).
SCORING_PRELOAD = (
    "molops.active.scan",
    "molops.models.zoo",
    "sklearn.ensemble",
    "sklearn.neural_network",
    "lightgbm",
)


def open_campaign(ctx: typer.Context, workspace: Path | None, name: str) -> Campaign:
    """Campaign *name* of the command's workspace (an unknown name fails in one sentence)."""
    from molops.active.campaign import Campaign

    return Campaign.open(open_workspace(ctx, workspace), name)


@contextmanager
def ray_closed_after(executor: str | None) -> Iterator[None]:
    """Close this command's Ray connection when it used one, however the command ends."""
    try:
        yield
    finally:
        if executor == "ray":
            from molops.compute.ray import shutdown

            shutdown()


#: The recipe options of ``simulate`` and ``create`` (unset: molops' default recipe).
ModelOption = Annotated[str | None, typer.Option(help="Model (default: molops' recipe).")]
ParamsOption = Annotated[str | None, typer.Option(help="Model parameters as a JSON object.")]
FeaturizerOption = Annotated[str | None, typer.Option(help="Featurizer SPEC; join several with '+'.")]
AcquisitionOption = Annotated[str | None, typer.Option(help="Acquisition SPEC, e.g. greedy, ucb:beta=2.")]
DiversityOption = Annotated[
    float | None, typer.Option(help="Batch diversity: no two picks this similar (1 = top-N).")
]


def recipe_of(
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


def budget_text(budget: dict[str, Any]) -> str:
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
