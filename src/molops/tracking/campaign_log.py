"""One campaign iteration recorded in MLflow, beside the trainings: what the model was trained on,
with which recipe, how the pool was scored and what was proposed.

Each campaign has an experiment ``campaign/NAME``; each ``propose`` is one run in it, tagged with
the campaign and iteration, with the proposals file as an artifact. ``Campaign.propose`` (in
:mod:`molops.active`, above this layer) calls :func:`log_iteration` with plain dicts, so tracking
never imports the campaign code. The run is written through the
client API only (no process-global active run), so a service holding several workspaces is safe.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from molops._version import __version__
from molops.tracking._mlflow import Quiet
from molops.tracking.store import Tracking


def experiment_name(campaign: str) -> str:
    return f"campaign/{campaign}"


def log_iteration(
    tracking: Tracking, campaign: str, config: dict[str, Any], iteration: dict[str, Any], proposals: Path
) -> str:
    """Log one ``Campaign.propose`` (its config, iteration record and proposals file); returns the run id."""
    from mlflow.entities import Metric, Param, RunTag

    recipe = iteration["recipe"]
    params = {
        "dataset": config["dataset"],
        "dataset_version": iteration["dataset_version"],
        "target": config["objective"]["target"],
        "maximize": config["objective"]["maximize"],
        "model": recipe["model"],
        "featurizer": recipe["featurizer"],
        "acquisition": recipe["acquisition"],
        "max_similarity": recipe.get("max_similarity"),
        "batch_size": iteration["requested"],
        "pool": config["pool"],
        "pool_sha256": iteration["pool_sha256"],
        **{f"model.{k}": json.dumps(v) for k, v in (recipe.get("model_params") or {}).items()},
    }
    values = {
        "n_train": iteration["n_train"],
        "proposed": iteration["proposed"],
        "scored": iteration["scored"],
        "pool_rows": iteration["pool_rows"],
        "molecules_per_s": iteration["molecules_per_s"],
        "seconds": iteration["seconds"],
        "seconds_scoring": iteration["seconds_scoring"],
        "best_measured": iteration["best_measured"],
        "cost": iteration.get("cost"),
    }
    now = int(time.time() * 1000)
    metrics = [
        Metric(k, float(v), now, iteration["number"])
        for k, v in values.items()
        if v is not None and math.isfinite(float(v))
    ]
    tags = {
        "molops.campaign": campaign,
        "molops.iteration": str(iteration["number"]),
        "molops.user": iteration["user"],
        "molops.version": __version__,
    }
    with Quiet():
        experiment = tracking.experiment(experiment_name(campaign), target=config["objective"]["target"])
        run = tracking.client.create_run(
            experiment, run_name=f"iteration-{iteration['number']:04d}", tags=tags
        )
        run_id: str = run.info.run_id
        tracking.client.log_batch(
            run_id,
            metrics=metrics,
            params=[Param(k, str(v)) for k, v in params.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        tracking.client.log_artifact(run_id, str(proposals), "proposals")
        tracking.client.set_terminated(run_id)
    return run_id
