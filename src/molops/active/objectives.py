"""Objective specs: ``--objective TARGET:min|max[:OPTION=VALUE,...]`` as campaigns read them.

Options: ``weight=W`` (the objective's weight in the desirability product, default 1),
``below=V`` or ``above=V`` (a constraint: desirable below, or above, V), ``threshold=V`` (a hit,
on the first objective only, as ``--threshold``). Options may be separated by ``:`` or ``,``::

    score:min   solubility:max:weight=0.5   herg:max:below=5
"""

from __future__ import annotations

import math

from molops.active.errors import CampaignError
from molops.active.state import CampaignConfig, MultiObjective, Objective
from molops.workspace import Workspace

_DIRECTIONS = {"min": False, "minimize": False, "max": True, "maximize": True}
_OPTIONS = ("weight", "below", "above", "threshold")
#: Most objectives the ``pareto`` acquisition weighs as directions (its improvement is vectorised
#: for up to three); constraints do not count.
PARETO_MAX = 3


class ObjectiveSpecError(CampaignError):
    """An ``--objective`` spec cannot be read."""


def parse_objective(spec: str) -> Objective:
    """The objective an ``--objective`` SPEC names, e.g. ``solubility:max:weight=0.5``."""
    parts = [p.strip() for p in spec.replace(",", ":").split(":")]
    if len(parts) < 2 or not parts[0]:
        raise ObjectiveSpecError(
            f"--objective {spec!r}: expected TARGET:min or TARGET:max, then options such as weight=0.5"
        )
    target, direction = parts[0], parts[1].lower()
    if direction not in _DIRECTIONS:
        raise ObjectiveSpecError(f"--objective {spec!r}: the direction must be min or max, not {parts[1]!r}")
    values: dict[str, float] = {}
    for part in parts[2:]:
        key, sep, raw = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in _OPTIONS:
            raise ObjectiveSpecError(
                f"--objective {spec!r}: {part!r} is not an option; expected one of "
                + ", ".join(f"{o}=VALUE" for o in _OPTIONS)
            )
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ObjectiveSpecError(f"--objective {spec!r}: {key} must be a number; got {raw.strip()!r}")
        if key == "weight" and value <= 0:
            raise ObjectiveSpecError(f"--objective {spec!r}: weight must be above 0; got {value:g}")
        values[key] = value
    if "below" in values and "above" in values and values["below"] <= values["above"]:
        raise ObjectiveSpecError(
            f"--objective {spec!r}: below= must be above above=, or nothing is desirable"
        )
    return Objective(target=target, maximize=_DIRECTIONS[direction], **values)


def objectives_of(
    specs: list[str], acquisition: str = "pareto", kappa: float = 1.0
) -> tuple[Objective, MultiObjective | None]:
    """The first objective and, for several specs, all of them with their acquisition."""
    if not specs:
        raise ObjectiveSpecError("a campaign needs an objective: pass --objective TARGET:min|max")
    objectives = [parse_objective(s) for s in specs]
    targets = [o.target for o in objectives]
    repeated = sorted({t for t in targets if targets.count(t) > 1})
    if repeated:
        raise ObjectiveSpecError(
            f"--objective names {', '.join(map(repr, repeated))} twice; name each target once"
        )
    if any(o.threshold is not None for o in objectives[1:]):
        raise ObjectiveSpecError(
            "--objective threshold= (what counts as a hit) is for the first objective only"
        )
    if len(objectives) == 1:
        only = objectives[0]
        if only.constraint or only.weight != 1.0:
            raise ObjectiveSpecError(
                f"--objective {specs[0]!r}: weight, below and above weigh several objectives; "
                "a campaign with one objective takes its direction (and threshold) only"
            )
        return only, None
    if acquisition not in ("pareto", "desirability"):
        raise ObjectiveSpecError(
            f"--multi-acquisition {acquisition!r} is not known; expected pareto or desirability"
        )
    if not math.isfinite(kappa) or kappa < 0:
        raise ObjectiveSpecError(f"--kappa must be a number of at least 0; got {kappa:g}")
    multi = MultiObjective.model_validate(
        {"objectives": objectives, "acquisition": acquisition, "kappa": kappa}
    )
    check_multi(multi)
    return objectives[0], multi


def check_multi(multi: MultiObjective) -> None:
    """What the acquisition can weigh: a direction at least (the front's axes), and for pareto one
    to three of them (constraints aside)."""
    directions = [o.target for o in multi.objectives if not o.constraint]
    if not directions:
        raise ObjectiveSpecError(
            "several objectives need at least one with a direction to optimise, not only below=/above= "
            f"constraints; got {', '.join(multi.targets)}"
        )
    if multi.acquisition == "pareto" and not 1 <= len(directions) <= PARETO_MAX:
        got = ", ".join(directions)
        raise ObjectiveSpecError(
            f"the pareto acquisition weighs 1 to {PARETO_MAX} objectives with a direction (not "
            f"below=/above= constraints); got {got}; use --multi-acquisition desirability for more"
        )


def with_objectives(ws: Workspace, config: CampaignConfig, multi: MultiObjective) -> CampaignConfig:
    """*config* with several objectives, once the dataset has every target and the recipe's model
    predicts the std the acquisition weighs (the first objective is ``config.objective``)."""
    check_multi(multi)
    if multi.objectives[0] != config.objective:
        raise CampaignError("the first of several objectives must be the campaign's objective")
    targets = ws.existing_dataset(config.dataset).targets()
    missing = [t for t in multi.targets if t not in targets]
    if missing:
        raise CampaignError(
            f"dataset {config.dataset!r} has no target {missing[0]!r}; its targets: {', '.join(targets)}; "
            f"ingest values for {missing[0]!r} first (molops data ingest --target-col {missing[0]})"
        )
    uses_std = multi.kappa > 0 or any(o.constraint for o in multi.objectives)
    if uses_std and "std" not in config.recipe.surrogate().provides:
        raise CampaignError(
            f"the {multi.acquisition} acquisition weighs each objective's std, which model "
            f"{config.recipe.model!r} does not provide; pick a model that does, or pass --kappa 0 "
            "and no below=/above= constraints"
        )
    return config.model_copy(update={"multi": multi})
