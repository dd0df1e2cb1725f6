"""A campaign's progress in numbers: iterations, model quality on each measured batch, budget,
best value, hits, open proposals and review decisions (what ``campaign status`` prints), with the
diagnostics of :mod:`~molops.active.diagnostics` and the compute of :mod:`~molops.active.usage`."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd
from pydantic import BaseModel

from molops.active import diagnostics as diag
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
    #: the hit rule and random expectation, the cumulative hit rate and calibration, and a warning
    #: when acquisition is not beating random (:mod:`~molops.active.diagnostics`)
    diagnostics: dict[str, Any] = {}
    #: CPU-seconds and GPU-seconds per phase summed over the iterations that measured them
    compute: dict[str, Any] = {}


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
    *,
    seed: pd.DataFrame | None = None,
    hit_top: float | None = None,
) -> CampaignStatus:
    """The status of campaign *name* from its state, the dataset's latest *version*, the molecules
    measured in it and every proposal so far (with its iteration number); *seed* is the data the
    first iteration trained on, and *hit_top* the hit fraction without a threshold (diagnostics)."""
    cfg = state.config
    obj = cfg.objective
    value_of = dict(zip(measured["inchikey"], measured[obj.target], strict=True))
    proposals["measured"] = proposals["inchikey"].map(value_of).astype(np.float64)
    answered = proposals["measured"].notna()
    seed_values = seed[obj.target].to_numpy(np.float64) if seed is not None else np.zeros(0)
    rule = diag.hit_rule(obj.threshold, obj.maximize, seed_values, hit_top)
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
                "diagnostics": _diagnostics(rows, it, rule),
                "cpu_seconds": it.cpu_seconds,
                "gpu_seconds": it.gpu_seconds,
                "calibration": it.calibration,
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
        diagnostics=_overall(proposals, state, rule, iterations),
        compute=compute_used(state.iterations),
        pareto=front_summary(state, measured, proposals),
    )


def _diagnostics(rows: pd.DataFrame, it: Iteration, rule: diag.HitRule) -> dict[str, Any]:
    """One iteration's hit rate, error and calibration before labels, and diversity."""
    own = rows[rows["predicted_mean"].notna()]  # a molecule swapped in review is not the model's pick
    true = own["measured"].to_numpy(np.float64)
    done = ~np.isnan(true)
    factor = (it.calibration or {}).get("factor")
    out: dict[str, Any] = {}
    if rule.threshold is not None:
        k = int(diag.hits(rule, true[done]).sum())
        out |= diag.hit_stats(k, int(done.sum()), rule.expectation)
    out |= diag.batch(
        true, own["predicted_mean"].to_numpy(float), own["predicted_std"].to_numpy(float), factor
    )
    out["diversity"] = diag.diversity(own["smiles"].astype(str).tolist())
    near = own["nearest_similarity"].to_numpy(np.float64)
    out["nearest_similarity"] = float(np.nanmean(near)) if np.isfinite(near).any() else None
    return out


def _overall(
    proposals: pd.DataFrame, state: CampaignState, rule: diag.HitRule, iterations: list[dict[str, Any]]
) -> dict[str, Any]:
    """The hit rule, the cumulative hit rate and calibration over every answered model pick, and
    the warning when acquisition is not beating random."""
    own = proposals[proposals["predicted_mean"].notna() & proposals["measured"].notna()]
    factors = {it.number: (it.calibration or {}).get("factor", 1.0) for it in state.iterations}
    true = own["measured"].to_numpy(np.float64)
    cumulative: dict[str, Any] = {}
    if rule.threshold is not None:
        cumulative |= diag.hit_stats(int(diag.hits(rule, true).sum()), len(true), rule.expectation)
    factor = own["iteration"].map(factors).to_numpy(np.float64)
    cumulative |= diag.batch(
        true, own["predicted_mean"].to_numpy(float), own["predicted_std"].to_numpy(float), factor
    )
    answered = sum(1 for it in iterations if (it["diagnostics"].get("n") or 0) > 0)
    return {
        "hit_rule": rule.model_dump(),
        "confidence": diag.CONFIDENCE,
        "nominal_coverage": diag.NOMINAL,
        "cumulative": cumulative,
        "iterations_answered": answered,
        "warning": diag.warning(rule, cumulative, answered) if rule.threshold is not None else None,
    }


def compute_used(iterations: list[Iteration]) -> dict[str, Any]:
    """CPU- and GPU-seconds per phase and in total, summed over the iterations that measured them
    (those proposed before molops measured them have none)."""
    measured = [it for it in iterations if it.cpu_seconds is not None]
    out: dict[str, Any] = {"iterations_measured": len(measured), "iterations": len(iterations)}
    for kind in ("cpu_seconds", "gpu_seconds"):
        phases: dict[str, float] = {}
        for it in measured:
            for phase, seconds in (getattr(it, kind) or {}).items():
                phases[phase] = round(phases.get(phase, 0.0) + seconds, 3)
        out[kind] = phases | {"total": round(sum(phases.values()), 3)}
    return out


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
