"""``molops monitor``: gather a model's window of predictions, labels and reference; run every check.

The window is read from the prediction log (every path: served, batch and campaign predictions);
the reference is the training reference carried by the monitored version (its champion by
default); labels are the latest values of the dataset it was trained on, for molecules it was not
trained on; the baseline of prediction drift is the window of the same length just before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from molops.data.prediction_log import PredictionLog, parse_time
from molops.monitoring.checks import (
    Check,
    Window,
    descriptor_drift,
    live_performance,
    new_scaffolds,
    out_of_domain,
    prediction_drift,
    processing,
    similarity_drift,
    worst,
)
from molops.tracking.bundle import ModelBundle
from molops.tracking.registry import ModelRef, ModelRegistry
from molops.tracking.store import Tracking
from molops.workspace import Workspace


class MonitorReport(BaseModel):
    """What ``molops monitor --json`` prints."""

    model: str
    version: int
    alias: str | None
    window: dict[str, Any]
    verdict: str
    checks: list[dict[str, Any]]


@dataclass
class Evidence:
    """The data behind a report, for its HTML page."""

    rows: pd.DataFrame
    window: Window
    baseline: Window | None
    bundle: ModelBundle
    joined: pd.DataFrame
    checks: list[Check]


def unseen_labels(data: pd.DataFrame, target: str, *bundles: ModelBundle) -> pd.DataFrame:
    """Labelled molecules of *data* that none of *bundles* was trained on *with the label they have
    now*: a molecule re-measured since a model was trained counts (the new value is news to it)."""
    labelled = data[["inchikey", "smiles", target, "updated_version"]].dropna(subset=[target])
    keep = np.ones(len(labelled), dtype=bool)
    for bundle in bundles:
        ref = bundle.reference
        learnt = pd.Series(ref.y, index=ref.inchikeys).groupby(level=0).first()
        before = learnt.reindex(labelled["inchikey"]).to_numpy(float)
        keep &= ~np.isclose(before, labelled[target].to_numpy(float))  # NaN (never learnt) is kept
    return labelled[keep].reset_index(drop=True)


def labels_for(ws: Workspace, bundle: ModelBundle, rows: pd.DataFrame) -> pd.DataFrame:
    """Window predictions (the last of each molecule) joined by InChIKey to the latest labels of the
    model's own dataset that the model has not learnt (:func:`unseen_labels`)."""
    empty = pd.DataFrame(columns=["inchikey", "time", "mean", "std", "label"])
    info = bundle.info
    if not info.dataset or not ws.dataset(info.dataset).exists():
        return empty
    data = ws.dataset(info.dataset).read()
    if info.target not in data:
        return empty
    truth = unseen_labels(data, info.target, bundle)[["inchikey", info.target]]
    predicted = rows[rows["error"].isna()].drop_duplicates("inchikey", keep="last")
    joined = predicted[["inchikey", "time", "mean", "std"]].merge(truth, on="inchikey")
    return joined.rename(columns={info.target: "label"}).reset_index(drop=True)


def monitor(
    ws: Workspace,
    model: str,
    *,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    reference: str | None = None,
) -> tuple[MonitorReport, Evidence]:
    """Run every check on *model*'s predictions between *since* and *until* (default: now).

    *reference* is ``NAME@ALIAS`` or ``NAME:VERSION`` of the version whose training set and test
    error are the yardstick (default: the champion).
    """
    cfg = ws.config.monitor
    start = parse_time(since or cfg.since)
    end = parse_time(until) or datetime.now(UTC)
    assert start is not None
    registry = ModelRegistry(Tracking.of(ws).uri, ws.config.tracking.user)
    ref = ModelRef.parse(reference or model)
    bundle, mv = registry.load(ref)
    version = int(mv.version)
    log = PredictionLog.of(ws)
    rows = log.read(model=model, since=start, until=end)
    window = Window.of(rows, cfg.max_molecules)
    before = log.read(model=model, since=start - (end - start), until=start)
    baseline = Window.of(before, cfg.max_molecules) if len(before) else None
    joined = labels_for(ws, bundle, rows)
    test_rmse = registry.lineage(model, version)["metrics"].get("rmse")
    reference_set = bundle.reference
    checks = [
        descriptor_drift(window, reference_set, cfg),
        similarity_drift(window, reference_set, cfg),
        out_of_domain(window, reference_set, cfg),
        new_scaffolds(window, reference_set, cfg),
        prediction_drift(window, baseline, cfg),
        *live_performance(joined, test_rmse, cfg),
        *processing(rows, cfg),
    ]
    report = MonitorReport(
        model=model,
        version=version,
        alias=ref.alias,
        window={
            "from": start.isoformat(timespec="seconds"),
            "to": end.isoformat(timespec="seconds"),
            "n": len(rows),
            "molecules": len(window),
            "labels": len(joined),
            "sources": rows["source"].value_counts().to_dict(),
        },
        verdict=worst([c.verdict for c in checks]),
        checks=[c.as_dict() for c in checks],
    )
    return report, Evidence(rows, window, baseline, bundle, joined, checks)
