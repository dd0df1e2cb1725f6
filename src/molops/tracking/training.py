"""One tracked training: dataset version → features → split → (explore, tune) → fit → evaluate → register.

The recipe:
1. read the dataset version, keep molecules with a value for the target, and split them (seeded);
2. features come from the workspace cache (only molecules not cached yet are computed);
3. ``--model auto`` compares the zoo (and featurizers) by cross-validation on a stratified
   subsample of the training part, tunes the front-runners and keeps the one that does best on the
   validation part; ``--tune`` tunes one model the same way;
4. the chosen configuration is fitted on train + valid and evaluated on the held-out test part;
5. everything is logged to one MLflow run, the bundle is registered as a new version of the
   model, and the version gets the ``champion`` alias (first version) or ``challenger``.
"""

from __future__ import annotations

import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from molops.data.ingest import standardizer_settings
from molops.errors import UsageError
from molops.features.base import get_featurizer
from molops.models.base import MODELS
from molops.models.calibration import DEFAULT_METHOD, Method
from molops.models.metrics import evaluate
from molops.models.reference import TrainingReference
from molops.models.splits import DEFAULT_FRACTIONS, Split, make_split
from molops.models.transforms import Kind
from molops.redact import redact
from molops.tracking import recalibration
from molops.tracking.bundle import BundleInfo, ModelBundle, settings_to_dict
from molops.tracking.model_choice import Log, TrainingData, choose, fit_model, fit_predict, predict_model
from molops.tracking.registry import ModelRegistry
from molops.tracking.run_log import log_run
from molops.tracking.store import Tracking
from molops.workspace import Workspace


class TrainRequest(BaseModel):
    """What ``molops train`` was asked to do."""

    dataset: str
    version: int | None = None
    target: str | None = None
    model: str = "auto"
    #: Models ``auto`` may explore (default: the whole default grid).
    candidates: list[str] | None = None
    featurizer: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    tune: bool = False
    trials: int = Field(30, ge=1)
    tune_fraction: float = Field(0.2, gt=0, le=1)
    tune_timeout: float | None = Field(None, gt=0)
    #: where tuning trials run: None (here, one at a time), "local" (processes) or "ray"
    executor: str | None = None
    workers: int = Field(0, ge=0)
    ray_address: str | None = None
    split: str = "random"
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    seed: int = 0
    transform: Kind = "standardize"
    #: how the std is recalibrated on held-out predictions (molops.models.calibration)
    recalibrate: Method = DEFAULT_METHOD
    name: str | None = None


class TrainResult(BaseModel):
    """What ``molops train --json`` prints."""

    run_id: str
    model_name: str
    model_version: int
    alias: str
    model: str
    featurizer: str
    dataset: str
    dataset_version: int
    target: str
    params: dict[str, Any]
    metrics: dict[str, float]
    valid_metrics: dict[str, float]
    #: the std recalibration: method, factor, miscalibration area and NLL before/after
    calibration: dict[str, Any]
    split: dict[str, Any]
    n_train: int
    n_test: int
    dropped: dict[str, int]
    tuning: dict[str, Any] | None
    comparison: list[dict[str, Any]] | None
    model_uri: str
    tracking_uri: str
    seconds: float


def _check_model(request: TrainRequest) -> None:
    if request.model != "auto" and request.model not in MODELS:
        raise UsageError(f"unknown model {request.model!r}; expected 'auto' or one of: {', '.join(MODELS)}")
    if request.candidates is not None:
        if request.model != "auto":
            raise UsageError("--candidates only applies to --model auto; leave it out or use --model auto")
        unknown = [c for c in request.candidates if c not in MODELS]
        if unknown or not request.candidates:
            raise UsageError(
                f"--candidates {','.join(request.candidates)!r} names no model or unknown ones "
                f"({', '.join(unknown) or 'empty'}); expected some of: {', '.join(MODELS)}"
            )


def _drop_invalid(split: Split, valid: np.ndarray) -> tuple[Split, int]:
    if valid.all():
        return split, 0
    keep = {
        p: np.asarray([i for i in getattr(split, p) if valid[i]], dtype=np.int64)
        for p in ("train", "valid", "test")
    }
    return split.model_copy(update=keep), int((~valid).sum())


def train(ws: Workspace, request: TrainRequest, log: Log | None = None) -> TrainResult:
    """Run the whole recipe and register the result; see the module docstring."""
    log = log or (lambda _msg: None)
    started = time.perf_counter()
    _check_model(request)
    data = TrainingData(ws, request, log)
    split = make_split(request.split, data.frame, data.target, request.fractions, request.seed)
    if len(split.valid) == 0 and request.model == "auto":
        raise UsageError("--model auto needs a validation part; give a split with a positive valid fraction")
    choice = choose(request, data, split, log)
    X, valid = data.features(choice.featurizer)
    split, n_dropped = _drop_invalid(split, valid)
    fit_rows = np.concatenate([split.train, split.valid])
    log(f"fitting {choice.model} on {len(fit_rows)} molecules ({choice.featurizer})")
    surrogate, transform = fit_model(
        choice.model, choice.params, X[fit_rows], data.y[fit_rows], request.transform
    )
    mean, raw_std = predict_model(surrogate, transform, X[split.test])
    valid_metrics: dict[str, float] = {}
    held_out: recalibration.Triple | None = None
    if len(split.valid):
        # of the model fitted on train only (the final model has seen the valid part)
        check, check_transform = fit_model(
            choice.model, choice.params, X[split.train], data.y[split.train], request.transform
        )
        valid_mean, valid_std = predict_model(check, check_transform, X[split.valid])
        valid_metrics = evaluate(data.y[split.valid], valid_mean, valid_std)
        held_out = (data.y[split.valid], valid_mean, valid_std)
    test = (data.y[split.test], mean, raw_std) if len(split.test) else None
    refit = partial(fit_predict, choice.model, choice.params, request.transform)
    fit_data = (X[fit_rows], data.y[fit_rows])
    recal, held_out = recalibration.for_training(
        request.recalibrate, choice.model, refit, fit_data, held_out, test, request.seed, log
    )
    std = raw_std if recal.calibrator is None else recal.calibrator.apply(raw_std)
    metrics = evaluate(data.y[split.test], mean, std)
    fit_frame = data.frame.iloc[fit_rows]
    reference = TrainingReference.build(
        fit_frame["inchikey"].tolist(),
        fit_frame["smiles"].tolist(),
        data.y[fit_rows],
        ws.config.models.domain_quantile,
    )
    featurizer_hash = get_featurizer(choice.featurizer).hash  # graph: chemprop's and RDKit's versions
    info = BundleInfo(
        model=choice.model,
        params=surrogate.params.model_dump(mode="json"),
        inputs=surrogate.inputs,
        featurizer=choice.featurizer,
        featurizer_hash=featurizer_hash,
        target=data.target,
        transform=transform,
        standardizer=settings_to_dict(standardizer_settings(ws.config.ingest)),
        dataset=request.dataset,
        dataset_version=data.version,
        n_train=len(fit_rows),
        calibration=recal.calibrator,
    )
    bundle = ModelBundle(surrogate, info, reference)
    name = request.name or f"{request.dataset}-{data.target}"
    tracking = Tracking.of(ws)
    with tempfile.TemporaryDirectory(prefix="molops-train-") as tmp:
        recal_png = (
            None if held_out is None else recalibration.plot(recal, held_out, Path(tmp) / "recal", name)
        )
        run_id, version = log_run(
            tracking,
            name,
            request,
            choice,
            split,
            bundle,
            metrics,
            valid_metrics,
            data.y[split.test],
            mean,
            std,
            Path(tmp),
        )
        recalibration.log_to_run(tracking, run_id, recal, recal_png)
    registry = ModelRegistry(tracking.uri, ws.config.tracking.user)
    alias = registry.set_initial_alias(name, version)
    log(f"registered {name} version {version} as {alias}")
    ws.audit.record(
        "model.train",
        name,
        version,
        alias=alias,
        dataset=request.dataset,
        dataset_version=data.version,
        model=choice.model,
        featurizer=choice.featurizer,
        run_id=run_id,
        test_rmse=metrics.get("rmse"),
    )
    return TrainResult(
        run_id=run_id,
        model_name=name,
        model_version=version,
        alias=alias,
        model=choice.model,
        featurizer=choice.featurizer,
        dataset=request.dataset,
        dataset_version=data.version,
        target=data.target,
        params=info.params,
        metrics=metrics,
        valid_metrics=valid_metrics,
        calibration=recal.report,
        split=split.to_record(),
        n_train=len(fit_rows),
        n_test=len(split.test),
        dropped={"invalid_features": n_dropped},
        tuning=choice.tuning,
        comparison=choice.comparison,
        model_uri=f"models:/{name}/{version}",
        tracking_uri=redact(tracking.uri),
        seconds=round(time.perf_counter() - started, 2),
    )
