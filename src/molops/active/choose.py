"""Choosing a campaign's batch from the scanned pool: filters, costs, diversity, the budget.

The scan keeps a bounded window of the best-scored candidates; this module walks it in score order
through the campaign's filters, attaches costs when there is a cost column, takes the diverse
picks and, under a cost budget, the best molecules that still fit. When nothing can be picked it
refuses with a sentence naming only the rules the campaign has.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from molops.active.costs import fit_budget, with_costs
from molops.active.errors import CampaignError
from molops.active.filters import FilterSet
from molops.active.scan import Scan
from molops.active.selection import diverse
from molops.active.state import CampaignConfig, CampaignState, within_budget
from molops.models.reference import fingerprints

#: (candidates, their fingerprints, batch size, max similarity) → the picks, best first.
Picker = Callable[[dict[str, np.ndarray], np.ndarray, int, float], np.ndarray]


def choose_batch(
    state: CampaignState, scan: Scan, n: int, picker: Picker | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, Counter[str], list[str]]:
    """The batch from the best-scored window: filters in score order, costs, then the diverse
    picks (and, under a cost budget, the next best while they fit). Returns the candidates,
    their fingerprints, the picks, the filter counts and warnings; refuses when nothing fits
    (a cost budget that buys none of them sets *state*'s ``cost_floor``, then raises).

    *picker* picks instead of the diverse top-N (a pareto campaign's, which rescores as it picks)."""
    cfg = state.config
    filtered: Counter[str] = Counter()
    # diversity and a picker look 50 deep; under costs every candidate of the window is weighed
    # (cheap ones may rank low)
    deep = cfg.recipe.max_similarity < 1.0 or picker is not None
    need = scan.window if cfg.cost_col is not None else n * 50 if deep else n
    rules = FilterSet(cfg.filters, list(state.rejected().values())) if cfg.filters.active() else None
    cand = scan.ranked(need, rules, filtered)
    if cfg.cost_col is not None:
        cand = with_costs(Path(cfg.pool), cfg.smiles_col, cfg.cost_col, cand, filtered)
    if not len(cand["score"]):
        raise CampaignError(
            f"campaign {cfg.name!r}: every pool molecule is {_excluded(cfg)}; nothing was proposed"
        )
    fps = fingerprints(list(cand["smiles"]))[0]
    pick = (picker or _diverse)(cand, fps, n, cfg.recipe.max_similarity)
    left = state.cost_left()
    if left is not None:  # the diverse picks first, then the next best, while they fit
        rest = np.setdiff1d(np.arange(len(cand["score"])), pick, assume_unique=True)
        order = np.concatenate([pick, rest[np.argsort(-cand["score"][rest], kind="stable")]])
        pick = fit_budget(order, cand["cost"], left, n)
        if not len(pick):  # the budget left buys none of them: it is spent (status says so too)
            state.cost_floor = float(cand["cost"].min())  # the caller saves it
            within_budget(state, n)  # raises, with the reason
    warnings = []
    if len(pick) < n:
        warnings.append(
            f"only {len(pick)} of {n} molecules could be proposed: every other pool molecule is "
            + _excluded(cfg)
            + (", or does not fit the cost budget left" if left is not None else "")
        )
    return cand, fps, pick, filtered, warnings


def _diverse(cand: dict[str, np.ndarray], fps: np.ndarray, n: int, max_similarity: float) -> np.ndarray:
    return diverse(cand["score"], n, fps, max_similarity)


def _excluded(cfg: CampaignConfig) -> str:
    """Why a pool molecule is not a candidate, naming only the rules this campaign has."""
    parts = ["measured", "already proposed"]
    if cfg.filters.active():
        parts.append("filtered out")
    if cfg.cost_col is not None:
        parts.append(f"without a cost in {cfg.cost_col!r}")
    return ", ".join(parts[:-1]) + " or " + parts[-1]
