"""One training recorded in MLflow: tags, parameters, metrics, plots, the split, the environment,
the tuning and comparison tables and the model bundle, in one run, registered as a new version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from molops._version import __version__
from molops.models.plots import calibration_plot, parity_plot
from molops.models.splits import Split
from molops.tracking import pyfunc_model
from molops.tracking._mlflow import Quiet, TrackingError, mlflow
from molops.tracking.bundle import ModelBundle
from molops.tracking.environment import code_version, package_versions
from molops.tracking.store import Tracking

if TYPE_CHECKING:
    from molops.tracking.model_choice import Choice
    from molops.tracking.training import TrainRequest


def _flat_params(params: dict[str, Any]) -> dict[str, str]:
    return {f"model.{k}": json.dumps(v) for k, v in params.items()}


def log_run(
    tracking: Tracking,
    name: str,
    request: TrainRequest,
    choice: Choice,
    split: Split,
    bundle: ModelBundle,
    metrics: dict[str, float],
    valid_metrics: dict[str, float],
    y_test: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    tmp: Path,
) -> tuple[str, int]:
    """Log one training to a new MLflow run and register its model; returns (run id, version).

    *tmp* is an empty folder for the files the run logs.
    """
    info = bundle.info
    mod = mlflow()
    experiment_id = tracking.experiment(name, target=info.target)
    environment = package_versions()
    code = code_version()
    tags = {
        "molops.dataset": request.dataset,
        "molops.dataset_version": str(info.dataset_version),
        "molops.target": info.target,
        "molops.model": choice.model,
        "molops.featurizer": choice.featurizer,
        "molops.featurizer_hash": info.featurizer_hash,
        "molops.split": request.split,
        "molops.tuned": str(choice.tuning is not None).lower(),
        "molops.version": __version__,
        "molops.environment": json.dumps(environment),
    }
    if "git_sha" in code:
        tags["molops.git_sha"] = code["git_sha"]
    parity_plot(y_test, mean, std, tmp / "plots" / "parity.png", title=f"{name}: held-out test")
    calibration_plot(
        y_test, mean, std, tmp / "plots" / "calibration.png", title=f"{name}: calibration (test)"
    )
    (tmp / "run").mkdir()
    (tmp / "run" / "split.json").write_text(json.dumps(split.to_record(), indent=1))
    (tmp / "run" / "environment.json").write_text(
        json.dumps({"code": code, "packages": environment}, indent=1)
    )
    if choice.tuning is not None:
        (tmp / "run" / "tuning.json").write_text(json.dumps(choice.tuning, indent=1, default=str))
    if choice.comparison is not None:
        pd.DataFrame(choice.comparison).to_csv(tmp / "run" / "model_comparison.csv", index=False)
    bundle_dir = bundle.save(tmp / "bundle")
    with Quiet():
        with mod.start_run(
            experiment_id=experiment_id, run_name=f"{choice.model}-{choice.featurizer}"
        ) as run:
            mod.set_tags(tags)
            mod.log_params(
                {
                    "dataset": request.dataset,
                    "dataset_version": info.dataset_version,
                    "target": info.target,
                    "model": choice.model,
                    "featurizer": choice.featurizer,
                    "split": request.split,
                    "fractions": json.dumps(list(request.fractions)),
                    "seed": request.seed,
                    "transform": request.transform,
                    "tune": request.tune,
                    "tune_trials": request.trials if request.tune else 0,
                    "tune_fraction": request.tune_fraction,
                    **_flat_params(info.params),
                }
            )
            mod.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
            mod.log_metrics({f"valid_{k}": v for k, v in valid_metrics.items() if np.isfinite(v)})
            if choice.tuning is not None:
                mod.log_metric("tune_best_cv_rmse", float(choice.tuning["best_value"]))
            mod.log_artifacts(str(tmp / "plots"), "plots")
            mod.log_artifacts(str(tmp / "run"), "run")
            logged = mod.pyfunc.log_model(
                name="model",
                python_model=pyfunc_model.__file__,
                artifacts={pyfunc_model.BUNDLE_ARTIFACT: str(bundle_dir)},
                registered_model_name=name,
                pip_requirements=[f"molops=={__version__}"],
                signature=tracking.signature(),
                tags=tags,
            )
            run_id = run.info.run_id
        version = logged.registered_model_version
    if version is None:
        raise TrackingError(f"MLflow did not register a version of {name!r}")
    with Quiet():
        tracking.client.set_registered_model_tag(name, "molops.target", info.target)
        for key, value in tags.items():
            tracking.client.set_model_version_tag(name, str(version), key, value)
    return run_id, int(version)
