"""Acquisition across several objectives: pure functions of each objective's predicted (mean, std).

Means are utilities (higher is better; a minimised target is negated) as every model of a campaign
predicts them. Both acquisitions look at the *optimistic* point of a candidate, utility mean +
kappa × std per objective (an upper confidence bound; kappa 0 is greedy), so an uncertain
candidate is given the benefit of the doubt, as UCB does for one objective.

``desirability``
    Each objective maps to a desirability in (0, 1), then they are combined as the weighted
    geometric mean ``D = prod(d_i ** w_i) ** (1 / sum(w_i))``. An objective with a direction:
    ``d = Phi((u + kappa*s - median) / spread)``, Phi the normal CDF and median/spread those of its
    measured utilities (0.5 at the median measured, 0.84 one spread better). A constraint
    ``below=V``: ``d = Phi((V - y) / s + kappa)``, the probability (optimistic by kappa std) that
    the value y is below V, a smooth step whose width is the model's uncertainty (``above=V`` mirrored).

``pareto``
    The hypervolume improvement of the optimistic point over the front of the measured molecules
    (those with every objective measured that meet every constraint), in utilities normalised by
    the measured range (0 = the worst measured, 1 = the best); the reference point is 0.1 below the
    worst measured in each objective. Constraints are not axes of the front: an improving
    candidate's gain is multiplied by its probability of meeting them (as desirability computes
    it). A candidate that improves nothing scores ``-(shortfall + 1 - P(constraints))``, minus
    how far it is from the front, so those rank by closeness rather than all tie at 0. A batch is
    picked greedily: each pick's predicted mean joins the front (a "believer" fantasy) before the
    rest are scored again, so the batch spreads along the front instead of crowding one spot.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import log_ndtr

from molops.active import pareto
from molops.active.state import MultiObjective, Objective
from molops.models.reference import nearest

#: The reference point, below the worst measured utility, as a fraction of the measured range.
REF_MARGIN = 0.1
#: A floor on std and on spreads, so a certain model or a constant objective does not divide by 0.
_TINY = 1e-12


@dataclass(frozen=True)
class MultiScoring:
    """What scoring a chunk across objectives needs, fixed when the models are fitted (picklable)."""

    kind: str  # "pareto" or "desirability"
    kappa: float
    objectives: tuple[Objective, ...]
    #: per objective: the median, the spread, the lowest and the range of its measured utilities
    centre: np.ndarray
    spread: np.ndarray
    low: np.ndarray
    span: np.ndarray
    #: the measured front, normalised, over the objectives with a direction (pareto)
    front: np.ndarray

    @property
    def axes(self) -> np.ndarray:
        """Indices of the objectives with a direction (the front's axes)."""
        return np.asarray([i for i, o in enumerate(self.objectives) if not o.constraint], dtype=np.int64)

    def normalise(self, utility: np.ndarray) -> np.ndarray:
        """Utilities (n, k) on the front's axes, 0 at the worst measured and 1 at the best."""
        axes = self.axes
        return np.asarray((utility[:, axes] - self.low[axes]) / self.span[axes], dtype=np.float64)

    def log_desirability(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        """Each objective's log desirability (n, k) at the optimistic point."""
        std = np.maximum(std, _TINY)
        out = np.empty_like(mean, dtype=np.float64)
        for i, o in enumerate(self.objectives):
            out[:, i] = _log_d(o, mean[:, i], std[:, i], self.kappa, self.centre[i], self.spread[i])
        return out

    def score(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        """The acquisition score of each candidate (higher: acquire first)."""
        mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
        logd = self.log_desirability(mean, std)
        weights = np.asarray([o.weight for o in self.objectives])
        if self.kind == "desirability":
            return np.asarray(np.exp(logd @ weights / weights.sum()), dtype=np.float64)
        limits = np.asarray([o.constraint for o in self.objectives])
        feasible = np.exp(logd[:, limits].sum(axis=1)) if limits.any() else np.ones(len(mean))
        optimistic = self.normalise(mean + self.kappa * np.maximum(std, 0.0))
        ref = np.full(len(self.axes), -REF_MARGIN)
        gain = pareto.improvement(optimistic, self.front, ref)
        behind = pareto.shortfall(optimistic, self.front) if len(self.front) else np.zeros(len(mean))
        return np.where(gain > 0, gain * feasible, -(behind + 1.0 - feasible))


def _log_d(
    o: Objective, u: np.ndarray, s: np.ndarray, kappa: float, centre: float, spread: float
) -> np.ndarray:
    if not o.constraint:
        return np.asarray(log_ndtr((u + kappa * s - centre) / max(spread, _TINY)), dtype=np.float64)
    y = u if o.maximize else -u  # back to the target's own units
    logd = np.zeros(len(u))
    if o.below is not None:
        logd += log_ndtr((o.below - y) / s + kappa)
    if o.above is not None:
        logd += log_ndtr((y - o.above) / s + kappa)
    return logd


def scoring_for(multi: MultiObjective, measured: dict[str, np.ndarray]) -> MultiScoring:
    """The scoring of *multi* given each objective's measured values (target units, one array per
    target over the same molecules, NaN where a molecule lacks that value)."""
    objectives = tuple(multi.objectives)
    utility = np.column_stack([o.utility(measured[o.target]) for o in objectives])
    centre, spread, low, span = (np.zeros(len(objectives)) for _ in range(4))
    for i in range(len(objectives)):
        col = utility[:, i][~np.isnan(utility[:, i])]
        if not len(col):
            col = np.zeros(1)
        centre[i], spread[i] = float(np.median(col)), max(float(np.std(col)), _TINY)
        low[i], span[i] = float(col.min()), max(float(np.ptp(col)), _TINY)
    scoring = MultiScoring(
        multi.acquisition, multi.kappa, objectives, centre, spread, low, span, np.zeros((0, 0))
    )
    return replace(scoring, front=scoring.normalise(utility[measured_front(objectives, measured)]))


def measured_front(
    objectives: tuple[Objective, ...] | list[Objective], measured: dict[str, np.ndarray]
) -> np.ndarray:
    """Which measured molecules are on the front: every objective measured, every constraint met,
    no other such molecule better on every direction."""
    values = np.column_stack([np.asarray(measured[o.target], dtype=np.float64) for o in objectives])
    ok = ~np.isnan(values).any(axis=1)
    for i, o in enumerate(objectives):
        ok &= o.meets(values[:, i])
    axes = [i for i, o in enumerate(objectives) if not o.constraint]
    utility = np.column_stack([objectives[i].utility(values[:, i]) for i in axes])
    on_front = np.zeros(len(values), dtype=bool)
    idx = np.flatnonzero(ok)
    on_front[idx[pareto.non_dominated(utility[idx])]] = True
    return on_front


def pick_pareto(
    scoring: MultiScoring,
    mean: np.ndarray,
    std: np.ndarray,
    n: int,
    fps: np.ndarray,
    max_similarity: float,
) -> np.ndarray:
    """A batch of *n* candidates (indices into *mean*'s rows): greedily the best score, each pick's
    predicted mean then joining the front before the rest are scored again; candidates at least
    *max_similarity* (Tanimoto) to a pick are skipped while others are left."""
    n = min(n, len(mean))
    chosen: list[int] = []
    taken = np.zeros(len(mean), dtype=bool)
    front = scoring.front
    # rescoring after every pick costs candidates × front² for three objectives: there, in rounds
    rounds = n if len(scoring.axes) <= 2 else min(n, 8)
    per_round = -(-n // rounds) if rounds else 0
    while len(chosen) < n:
        scores = replace(scoring, front=front).score(mean, std)
        order = [int(i) for i in np.argsort(-scores, kind="stable") if not taken[i]]
        added = 0
        for i in order:
            if max_similarity < 1.0 and chosen:
                sim, _ = nearest(fps[i : i + 1], fps[chosen])
                if sim[0] >= max_similarity:
                    continue
            chosen.append(i)
            taken[i] = True
            added += 1
            if added == per_round or len(chosen) == n:
                break
        if not added:  # every candidate left is too similar: take the best of them
            i = order[0]
            chosen.append(i)
            taken[i] = True
        believed = scoring.normalise(mean[chosen[-added or -1 :]])
        front = np.vstack([front, believed]) if len(front) else believed
    return np.asarray(chosen, dtype=np.int64)
