"""``molops retrain``: triggers, a challenger trained with the champion's recipe, and the promotion gate.

The gate compares champion and challenger on the same molecules: every labelled molecule of the
latest dataset version that neither model was trained on *with its current label*. A molecule the
champion learnt with a value that has since been re-measured counts (the new value is news to
it), so concept drift shows. The challenger is promoted only if its RMSE there is lower by the
configured margin, its uncertainty no worse calibrated, and it is not worse on the recent molecules
(labelled after the champion's data version). Every decision is recorded in the model's history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

import pandas as pd
from pydantic import BaseModel

from molops.errors import MolopsError
from molops.models.metrics import evaluate
from molops.monitoring.monitor import monitor, unseen_labels
from molops.tracking.bundle import ModelBundle
from molops.tracking.registry import CHAMPION, ModelRegistry
from molops.tracking.store import Tracking
from molops.tracking.training import TrainRequest, train
from molops.workspace import Workspace

INPUT_DRIFT = ("descriptor_drift", "similarity_drift", "out_of_domain", "new_scaffolds")


class RetrainResult(BaseModel):
    """What ``molops retrain --json`` prints."""

    model: str
    triggered: bool
    triggers: list[str]
    promoted: bool
    reason: str
    champion: dict[str, Any]
    challenger: dict[str, Any] | None = None
    compared_on: dict[str, int] | None = None
    #: Whether *reason* already states both models' RMSEs on the compared molecules, so a summary
    #: line need not repeat them.
    reason_gives_rmses: bool = False


class GateDecision(NamedTuple):
    """The champion/challenger gate's verdict, its one-sentence reason, and whether that sentence
    already gives both RMSEs on the shared molecules."""

    promote: bool
    reason: str
    gives_rmses: bool = False


def _scores(bundle: ModelBundle, frame: pd.DataFrame, target: str) -> dict[str, float]:
    if frame.empty:
        return {}
    predicted = bundle.predict(frame["smiles"].tolist(), applicability=False)
    ok = predicted["error"].isna().to_numpy()
    y = frame[target].to_numpy(float)[ok]
    return evaluate(y, predicted["mean"].to_numpy(float)[ok], predicted["std"].to_numpy(float)[ok])


def triggers(
    ws: Workspace, name: str, registry: ModelRegistry, bundle: ModelBundle, version: int
) -> list[str]:
    """Which configured triggers fire for the champion *version* of *name* now."""
    cfg = ws.config.retrain
    fired: list[str] = []
    report, _ = monitor(ws, name, since=cfg.since, reference=f"{name}:{version}")
    checks = {c["name"]: c for c in report.checks}
    if cfg.on_drift:
        fired += [f"drift: {c}" for c in INPUT_DRIFT if checks[c]["verdict"] == "alert"]
    live = checks["live_performance"]
    if cfg.live_error_ratio and live["statistic"] is not None and live["statistic"] >= cfg.live_error_ratio:
        fired.append(f"live error: RMSE {live['statistic']:.2f} × the test RMSE")
    info = bundle.info
    if cfg.new_labels and info.dataset and ws.dataset(info.dataset).exists():
        data = ws.dataset(info.dataset).read()
        fresh = int((data["updated_version"] > (info.dataset_version or 0)).sum())
        if fresh >= cfg.new_labels:
            fired.append(f"new labels: {fresh} since dataset version {info.dataset_version}")
    if cfg.max_age_days:
        run = registry.client.get_run(registry.resolve(f"{name}:{version}").run_id)
        age = (datetime.now(UTC).timestamp() - run.info.start_time / 1000) / 86400
        if age >= cfg.max_age_days:
            fired.append(f"age: {age:.0f} days")
    return fired


def retrain(
    ws: Workspace,
    name: str,
    *,
    if_needed: bool = False,
    params: dict[str, Any] | None = None,
    log: Any = None,
) -> RetrainResult:
    """Train a challenger for *name* (only when a trigger fires, with *if_needed*) and promote it
    if it passes the gate. *params* override the champion's hyperparameters (for experiments)."""
    cfg = ws.config.retrain
    say = log or (lambda _msg: None)
    registry = ModelRegistry(Tracking.of(ws).uri, ws.config.tracking.user, audit=ws.audit)
    champion, mv = registry.load(f"{name}@{CHAMPION}")
    version = int(mv.version)
    lineage = registry.lineage(name, version)
    base = {"version": version, "test_metrics": lineage["metrics"]}
    fired = triggers(ws, name, registry, champion, version) if if_needed else ["asked (no --if-needed)"]
    if not fired:
        reason = "no trigger fired: no drift alert, live error, new labels or age past the thresholds"
        return RetrainResult(
            model=name, triggered=False, triggers=[], promoted=False, reason=reason, champion=base
        )
    info = champion.info
    if not info.dataset:
        raise MolopsError(f"model {name!r} version {version} records no dataset; it cannot be retrained")
    say(f"triggers: {'; '.join(fired)}; training a challenger on the latest {info.dataset}")
    request = TrainRequest(
        dataset=info.dataset,
        target=info.target,
        model=info.model,
        featurizer=None if info.inputs == "smiles" else info.featurizer,
        params={**({} if cfg.retune else info.params), **(params or {})},
        tune=cfg.retune,
        split=lineage.get("split") or "random",
        seed=lineage.get("seed") or 0,
        transform=info.transform.kind,
        name=name,
    )
    trained = train(ws, request, log=say)
    challenger, _ = registry.load(f"{name}:{trained.model_version}")
    data = ws.dataset(info.dataset).read()
    shared = unseen_labels(data, info.target, champion, challenger)
    recent = shared[shared["updated_version"] > (info.dataset_version or 0)]
    scores = {
        "champion": _scores(champion, shared, info.target),
        "challenger": _scores(challenger, shared, info.target),
        "champion_recent": _scores(champion, recent, info.target) if len(recent) >= cfg.min_compare else {},
        "challenger_recent": _scores(challenger, recent, info.target)
        if len(recent) >= cfg.min_compare
        else {},
    }
    promoted, reason, gives_rmses = gate(scores, len(shared), cfg)
    entry = {
        "operation": "retrain",
        "alias": None,
        "version": trained.model_version,
        "previous": version,
        "decision": "promoted" if promoted else "rejected",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "by": registry.user,
        "reason": f"{reason} (triggers: {'; '.join(fired)})",
        "compared_on": len(shared),
        "champion_rmse": scores["champion"].get("rmse"),
        "challenger_rmse": scores["challenger"].get("rmse"),
    }
    registry.record(name, entry)
    ws.audit.record(
        "retrain.decision",
        name,
        trained.model_version,
        **{k: entry[k] for k in ("decision", "previous", "reason", "compared_on")},
        triggers=fired,
    )
    if promoted:  # the alias move is recorded too (model.promote, operation retrain)
        registry.promote(name, trained.model_version, CHAMPION, reason=reason, operation="retrain")
    say(f"{'promoted' if promoted else 'rejected'} version {trained.model_version}: {reason}")
    return RetrainResult(
        model=name,
        triggered=True,
        triggers=fired,
        promoted=promoted,
        reason=reason,
        champion=base | {"compared": scores["champion"], "recent": scores["champion_recent"]},
        challenger={
            "version": trained.model_version,
            "run_id": trained.run_id,
            "dataset_version": trained.dataset_version,
            "test_metrics": trained.metrics,
            "compared": scores["challenger"],
            "recent": scores["challenger_recent"],
        },
        compared_on={"molecules": len(shared), "recent": len(recent)},
        reason_gives_rmses=gives_rmses,
    )


def gate(scores: dict[str, dict[str, float]], n: int, cfg: Any) -> GateDecision:
    """Promote or not, and why, from both models' scores on the shared molecules."""
    if n < cfg.min_compare:
        return GateDecision(
            False, f"only {n} molecules neither model was trained on; the gate needs {cfg.min_compare}"
        )
    old, new = scores["champion"], scores["challenger"]
    needed = old["rmse"] * (1 - cfg.margin)
    if new["rmse"] > needed:
        why = (
            f"challenger RMSE {new['rmse']:.3f} is not {cfg.margin:.0%} below the champion's "
            f"{old['rmse']:.3f} on {n} molecules"
        )
        return GateDecision(False, why, gives_rmses=True)
    if new["miscalibration_area"] > old["miscalibration_area"] + cfg.calibration_tolerance:
        return GateDecision(
            False,
            "challenger uncertainty is worse calibrated (miscalibration area "
            f"{new['miscalibration_area']:.3f} vs {old['miscalibration_area']:.3f})",
        )
    old_recent, new_recent = scores["champion_recent"], scores["challenger_recent"]
    if old_recent and new_recent["rmse"] > old_recent["rmse"]:
        return GateDecision(
            False,
            f"challenger is worse on the recent molecules (RMSE {new_recent['rmse']:.3f} vs "
            f"{old_recent['rmse']:.3f})",
        )
    why = f"challenger RMSE {new['rmse']:.3f} vs champion {old['rmse']:.3f} on {n} molecules"
    return GateDecision(True, why, gives_rmses=True)
