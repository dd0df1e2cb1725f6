"""What a campaign stores and what its commands return: the schemas of ``campaign.json``, of its
proposals files and of the ``--json`` results, with the budget arithmetic on the stored state."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from molops.active.acquisition import to_utility
from molops.active.decisions import Decision, rejections, released
from molops.active.errors import BudgetExhaustedError
from molops.active.filters import Filters
from molops.active.outcomes import BatchRecord
from molops.active.recipe import Recipe
from molops.active.stopping import StoppingRules

#: The columns of a proposals file (``proposals/iteration-NNNN.parquet``), in order.
PROPOSAL_COLUMNS = [
    "rank",
    "smiles",
    "inchikey",
    "predicted_mean",
    "predicted_std",
    "acquisition_score",
    "nearest_smiles",
    "nearest_similarity",
    "nearest_value",
    "reason",
    "cost",  # from the pool's cost column (NaN without one)
    "pool_row",
]


# -- configuration ---------------------------------------------------------------------------------
class Objective(BaseModel):
    """What the campaign optimises: one target, its direction, and optionally what counts as a hit.

    In a campaign with several objectives (:class:`MultiObjective`) each one also has a weight in
    the desirability product and may be a constraint: desirable ``below`` (or ``above``) a value.
    """

    target: str
    maximize: bool
    threshold: float | None = None
    weight: float = Field(1.0, gt=0, allow_inf_nan=False)
    below: float | None = Field(None, allow_inf_nan=False)
    above: float | None = Field(None, allow_inf_nan=False)

    @property
    def constraint(self) -> bool:
        """Whether it is a constraint (a ``below``/``above`` value) rather than a direction."""
        return self.below is not None or self.above is not None

    def meets(self, values: np.ndarray) -> np.ndarray:
        """Whether each value meets the constraint (all True for an objective that is none)."""
        values = np.asarray(values, dtype=np.float64)
        ok = np.ones(len(values), dtype=bool)
        if self.below is not None:
            ok &= values < self.below
        if self.above is not None:
            ok &= values > self.above
        return ok

    def utility(self, values: np.ndarray) -> np.ndarray:
        return to_utility(values, self.maximize)

    def hits(self, values: np.ndarray) -> np.ndarray:
        """Whether each value is a hit (all False without a threshold)."""
        values = np.asarray(values, dtype=np.float64)
        if self.threshold is None:
            return np.zeros(len(values), dtype=bool)
        return values >= self.threshold if self.maximize else values <= self.threshold

    def best(self, values: np.ndarray) -> float | None:
        values = np.asarray(values, dtype=np.float64)
        values = values[~np.isnan(values)]
        if not len(values):
            return None
        return float(values.max() if self.maximize else values.min())


class MultiObjective(BaseModel):
    """A campaign's several objectives (the first is also ``CampaignConfig.objective``) and how
    candidates are weighed across them: ``pareto`` (hypervolume improvement) or ``desirability``
    (a weighted product), each at the optimistic point mean + kappa × std of every objective
    (:mod:`~molops.active.multi_acquisition`)."""

    objectives: list[Objective] = Field(min_length=2)
    acquisition: Literal["pareto", "desirability"] = "pareto"
    kappa: float = Field(1.0, ge=0, allow_inf_nan=False)

    @property
    def targets(self) -> list[str]:
        return [o.target for o in self.objectives]


class Budget(BaseModel):
    """The most molecules the campaign may propose in all, the most iterations, and the most cost
    in the units of the pool's cost column (None: no limit)."""

    molecules: int | None = Field(None, ge=1)
    iterations: int | None = Field(None, ge=1)
    cost: float | None = Field(None, gt=0, allow_inf_nan=False)


class CampaignConfig(BaseModel):
    """What ``campaign create`` fixed."""

    name: str
    dataset: str
    pool: str
    smiles_col: str | None = None
    #: pool column with each molecule's cost (price, synthesis effort), in the budget's cost units
    cost_col: str | None = None
    #: the objective; in a campaign with several, the first one, which decides when a proposal
    #: is answered and what hits, stopping and status' model quality refer to
    objective: Objective
    #: every objective, in a campaign with several (None: one objective, as before)
    multi: MultiObjective | None = None
    recipe: Recipe
    batch_size: int = Field(96, ge=1)
    budget: Budget = Field(default_factory=Budget)
    stopping: StoppingRules = Field(default_factory=StoppingRules)
    filters: Filters = Field(default_factory=Filters)
    created: str
    created_by: str
    molops_version: str

    @property
    def objectives(self) -> list[Objective]:
        """Every objective (one, unless the campaign has several)."""
        return self.multi.objectives if self.multi is not None else [self.objective]


class Iteration(BaseModel):
    """One ``propose``: what the model was trained on and what it proposed."""

    number: int
    time: str
    user: str
    dataset_version: int
    n_train: int
    best_measured: float | None
    recipe: dict[str, Any]
    requested: int
    proposed: int
    proposals: str  # path relative to the campaign folder
    pool_sha256: str
    pool_rows: int
    scored: int
    #: pool rows not scored, by reason (no identity, measured, open proposal, no features)
    excluded: dict[str, int]
    #: scored candidates dropped from the best-scored window, by reason (duplicate, a filter)
    filtered: dict[str, int]
    #: the batch's total cost (None: the campaign has no cost column)
    cost: float | None = None
    seconds: float
    seconds_scoring: float
    molecules_per_s: float
    #: CPU-seconds and GPU-seconds of each phase (train, score, select; :mod:`~molops.active.usage`);
    #: None in iterations proposed before they were measured
    cpu_seconds: dict[str, float] | None = None
    gpu_seconds: dict[str, float] | None = None
    #: the surrogate's std recalibration (:mod:`~molops.active.recalibrate`): method, chosen, factor
    calibration: dict[str, Any] | None = None
    warnings: list[str] = Field(default_factory=list)
    #: the MLflow run that records this iteration (set after propose, by whoever logged it)
    run_id: str | None = None
    #: review decisions on its proposals, in the order they were made (:mod:`~molops.active.review`)
    decisions: list[Decision] = Field(default_factory=list)


class IngestRecord(BaseModel):
    """One ``campaign ingest``: the dataset version it made and how its results matched proposals."""

    number: int
    time: str
    user: str
    source: str
    dataset_version: int
    unchanged: bool
    rows_in: int
    accepted: int
    quarantined: int
    answered: int
    remeasured: int
    unproposed: int
    results: str | None
    #: the iterations whose proposals it answered (their review is closed from then on)
    iterations: list[int] = Field(default_factory=list)


class CampaignState(BaseModel):
    config: CampaignConfig
    iterations: list[Iteration] = Field(default_factory=list)
    #: the cheapest cost among the candidates of a propose that found none within the cost budget
    #: left: while the budget left stays below it, the budget is spent
    cost_floor: float | None = None
    ingests: list[IngestRecord] = Field(default_factory=list)
    #: batches a live oracle finished (``campaign run``, ``ask``/``tell``), with their failures
    batches: list[BatchRecord] = Field(default_factory=list)

    def proposed(self) -> int:
        return sum(it.proposed for it in self.iterations)

    def molecules_used(self) -> int:
        """What the molecule budget counts: every proposal not rejected in review (a pending one
        counts as spent until it is rejected; a swapped one counts once)."""
        return self.proposed() - sum(released(it.decisions)[0] for it in self.iterations)

    def rejected(self) -> dict[str, str]:
        """The molecules rejected in review (rejected, or swapped out), InChIKey → SMILES: a
        campaign never proposes them again."""
        return {d.inchikey: d.smiles for it in self.iterations for d in rejections(it.decisions)}

    def cost_used(self) -> float:
        """The cost of the proposals not rejected in review."""
        used = sum((it.cost or 0.0) - released(it.decisions)[1] for it in self.iterations)
        return round(float(used), 9)  # no float noise

    def cost_left(self) -> float | None:
        budget = self.config.budget.cost
        return None if budget is None else round(max(0.0, budget - self.cost_used()), 9)


# -- results -----------------------------------------------------------------------------------------
class ProposeResult(BaseModel):
    """What ``campaign propose --json`` prints."""

    campaign: str
    iteration: Iteration
    proposals: list[dict[str, Any]]
    proposals_file: str
    out: str | None
    budget: dict[str, Any]


class IngestResult(BaseModel):
    """What ``campaign ingest --json`` prints."""

    campaign: str
    ingest: IngestRecord
    report: dict[str, Any]
    unproposed: list[dict[str, Any]]
    open_proposals: int


# -- budget ------------------------------------------------------------------------------------------
def spent(state: CampaignState) -> str | None:
    """Why the budget allows nothing more, as a clause ("has used its budget of 3 iterations"), or None."""
    budget, used, left = state.config.budget, state.molecules_used(), state.cost_left()
    if budget.iterations is not None and len(state.iterations) >= budget.iterations:
        return f"has used its budget of {budget.iterations} iteration{'s' if budget.iterations != 1 else ''}"
    if budget.cost is not None and left == 0:
        return f"has spent {state.cost_used():g} of its cost budget of {budget.cost:g}"
    floor = state.cost_floor
    if budget.cost is not None and left is not None and floor is not None and left < floor:
        return (
            f"has {left:g} of its cost budget of {budget.cost:g} left, less than the cheapest candidate it "
            f"weighed costs ({floor:g})"
        )
    if budget.molecules is not None and used >= budget.molecules:
        return f"has {used} proposals not rejected in review, its whole budget of {budget.molecules}"
    return None


def within_budget(state: CampaignState, requested: int) -> int:
    """The batch size the budget still allows; raises when nothing is left."""
    reason = spent(state)
    if reason is not None:
        raise BudgetExhaustedError(f"campaign {state.config.name!r} {reason}; nothing more will be proposed")
    molecules = state.config.budget.molecules
    return requested if molecules is None else min(requested, molecules - state.molecules_used())


def budget_summary(state: CampaignState) -> dict[str, Any]:
    """The budget, what of it is used and what is left (None: no limit)."""
    budget = state.config.budget
    used = state.molecules_used()
    return {
        "molecules": budget.molecules,
        "molecules_used": used,
        "molecules_left": None if budget.molecules is None else max(0, budget.molecules - used),
        "molecules_rejected": state.proposed() - used,
        "iterations": budget.iterations,
        "iterations_used": len(state.iterations),
        "iterations_left": None
        if budget.iterations is None
        else max(0, budget.iterations - len(state.iterations)),
        "cost": budget.cost,
        "cost_used": state.cost_used() if state.config.cost_col else None,
        "cost_left": state.cost_left(),
    }
