"""Where a proposed batch is recorded besides the campaign itself: the prediction log (so that
monitoring can join its measurements to what the model predicted) and an MLflow run, whose id
goes back on the iteration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from molops.active.remote import CampaignChangedError
from molops.active.store import CampaignStore
from molops.data.prediction_log import PredictionLog, rows_from_columns
from molops.workspace import Workspace


def log_batch(ws: Workspace, name: str, frame: pd.DataFrame, number: int) -> None:
    """The proposed batch into the prediction log (source ``campaign``): when its measurements
    come back, ``predictions export`` and monitoring can join them to what the model predicted."""
    n = len(frame)
    columns = {
        "smiles": frame["smiles"].tolist(),
        "canonical_smiles": frame["smiles"].tolist(),
        "inchikey": frame["inchikey"].tolist(),
        "mean": frame["predicted_mean"].tolist(),
        "std": frame["predicted_std"].tolist(),
        "similarity": frame["nearest_similarity"].tolist(),
        "in_domain": [None] * n,
        "error": [None] * n,
    }
    rows = rows_from_columns(
        columns,
        source="campaign",
        request_id=f"{name}/iteration-{number:04d}",
        model_name=f"campaign/{name}",
        model_version=number,
    )
    PredictionLog.of(ws).append(rows)


def track_iteration(
    ws: Workspace, name: str, config: dict[str, Any], iteration: dict[str, Any], proposals: Path
) -> str:
    """Log one iteration as an MLflow run; returns its id (MLflow is imported only here)."""
    from molops.tracking.campaign_log import log_iteration
    from molops.tracking.store import Tracking

    return log_iteration(Tracking.of(ws), name, config, iteration, proposals)


def note_run_id(store: CampaignStore, number: int, run_id: str) -> None:
    """Note iteration *number*'s MLflow run on the state; on an object store, on whatever state
    is latest (another command may have changed it meanwhile: the run id does not depend on it)."""
    for attempt in range(5):
        with store._locked():
            saved = store.load(for_update=True)
            saved.iterations[number - 1].run_id = run_id
            try:
                store._save(saved, "noting its MLflow run", "propose")
                return
            except CampaignChangedError:
                if attempt == 4:
                    raise
