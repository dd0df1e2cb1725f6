"""A campaign's progress in numbers: iterations, model quality on each measured batch, budget,
best value, hits, open proposals and review decisions (what ``campaign status`` prints)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd
from pydantic import BaseModel

from molops.active.decisions import PENDING, STATUS, in_force
from molops.active.multi_results import front_summary
from molops.active.outcomes import current_failures
from molops.active.state import CampaignState, Iteration, budget_summary, spent
from molops.active.stopping import Stop, judge


class CampaignStatus(BaseModel):
    """What ``campaign status --json`` prints."""

    campaign: str
    config: dict[str, Any]
    dataset_version: int | None
    iterations: list[dict[str, Any]]
    budget: dict[str, Any]
    best: dict[str, Any] | None
    hits: dict[str, Any]
    #: why the campaign stopped (a stopping rule met, or its budget spent); None: it has not
    stopped: str | None = None
    #: which: "hits", "patience" or "budget"
    stopped_by: str | None = None
    proposals: dict[str, int]
    open_proposals: list[dict[str, Any]]
    ingests: list[dict[str, Any]]
    #: every review decision, oldest first: iteration, id (rank), action, molecule, reason, who, when
    decisions: list[dict[str, Any]] = []
    #: molecules a live oracle failed and nothing has measured since, with the reason
    failures: list[dict[str, Any]] = []
    #: several objectives: the measured Pareto front and its hypervolume (molops.active.multi_results)
    pareto: dict[str, Any] | None = None


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Rank correlation, or None when it is undefined (fewer than 3 pairs or a constant side)."""
    from scipy.stats import rankdata

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])


def summarize(
    name: str,
    state: CampaignState,
    version: int | None,
    measured: pd.DataFrame,
    proposals: pd.DataFrame,
) -> CampaignStatus:
    """The status of campaign *name* from its state, the dataset's latest *version*, the molecules
    measured in it and every proposal so far (with its iteration number)."""
    cfg = state.config
    obj = cfg.objective
    value_of = dict(zip(measured["inchikey"], measured[obj.target], strict=True))
    proposals["measured"] = proposals["inchikey"].map(value_of).astype(np.float64)
    answered = proposals["measured"].notna()
    iterations = []
    for it in state.iterations:
        rows = proposals[proposals["iteration"] == it.number]
        done = rows[rows["measured"].notna()]
        pred, true = done["predicted_mean"].to_numpy(float), done["measured"].to_numpy(float)
        batch_hits = obj.hits(true)
        iterations.append(
            {
                "iteration": it.number,
                "time": it.time,
                "user": it.user,
                "dataset_version": it.dataset_version,
                "n_train": it.n_train,
                "best_measured_before": it.best_measured,
                "proposed": it.proposed,
                "answered": len(done),
                "open": len(rows) - len(done),
                "rmse": float(np.sqrt(np.mean((pred - true) ** 2))) if len(done) else None,
                "spearman": _spearman(pred, true),
                "hits": int(batch_hits.sum()) if obj.threshold is not None else None,
                "hit_rate": float(batch_hits.mean()) if obj.threshold is not None and len(done) else None,
                "best_in_batch": obj.best(true),
                "model": it.recipe.get("model"),
                "acquisition": it.recipe.get("acquisition"),
                "review": review_counts(it),
            }
        )
    values = measured[obj.target].to_numpy(dtype=np.float64)
    best = None
    if len(values):
        i = int(np.argmax(obj.utility(values)))
        best = {
            "value": float(values[i]),
            "smiles": str(measured["smiles"].iloc[i]),
            "inchikey": str(measured["inchikey"].iloc[i]),
            "from_campaign": bool(measured["inchikey"].iloc[i] in set(proposals["inchikey"])),
        }
    campaign_values = proposals.loc[answered, "measured"].to_numpy(float)
    hits: dict[str, Any] = {
        "threshold": obj.threshold,
        "dataset": int(obj.hits(values).sum()) if obj.threshold is not None else None,
        "campaign": int(obj.hits(campaign_values).sum()) if obj.threshold is not None else None,
        "campaign_hit_rate": (
            float(obj.hits(campaign_values).mean())
            if obj.threshold is not None and len(campaign_values)
            else None
        ),
    }
    stop = _budget_spent(state) or judge(cfg.stopping, obj.maximize, iterations, hits["campaign"])
    open_rows = proposals.loc[~answered, ["iteration", "rank", "smiles", "inchikey", "predicted_mean"]]
    return CampaignStatus(
        campaign=name,
        config=cfg.model_dump(),
        dataset_version=version,
        iterations=iterations,
        budget=budget_summary(state),
        best=best,
        hits=hits,
        stopped=stop.reason if stop else None,
        stopped_by=stop.rule if stop else None,
        proposals={
            "total": len(proposals),
            "answered": int(answered.sum()),
            "open": int((~answered).sum()),
        },
        # pandas types record keys as any Hashable; these are the column names selected above
        open_proposals=cast(list[dict[str, Any]], open_rows.to_dict(orient="records")),
        ingests=[r.model_dump() for r in state.ingests],
        decisions=[
            {"iteration": it.number, "id": d.rank} | d.model_dump(exclude={"rank"})
            for it in state.iterations
            for d in it.decisions
        ],
        failures=[f.model_dump() for f in current_failures(state.batches, set(measured["inchikey"]))],
        pareto=front_summary(state, measured, proposals),
    )


def _budget_spent(state: CampaignState) -> Stop | None:
    reason = spent(state)
    return None if reason is None else Stop("budget", f"it {reason}")


def review_counts(it: Iteration) -> dict[str, int]:
    """How many of the iteration's proposals are pending review, accepted, rejected or swapped."""
    current = in_force(it.decisions)
    counts = {PENDING: it.proposed - len(current)} | {s: 0 for s in STATUS.values()}
    for d in current.values():
        counts[STATUS[d.action]] += 1
    return counts
