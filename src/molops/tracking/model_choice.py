"""What ``molops train`` fits: the dataset version's labelled molecules and their features, and the
model, featurizer and parameters chosen for them (as asked, tuned, or explored by ``--model auto``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from molops.compute import get_executor
from molops.errors import MolopsError, NotEnoughDataError, UsageError
from molops.features.base import GRAPH, get_featurizer
from molops.models import get_model, tuning
from molops.models.base import MODELS, Surrogate, featurizer_mismatch
from molops.models.comparison import compare, default_candidates
from molops.models.metrics import evaluate
from molops.models.splits import Split
from molops.models.transforms import Kind, TargetTransform
from molops.tracking.store import study_storage
from molops.workspace import Workspace

if TYPE_CHECKING:
    from molops.tracking.training import TrainRequest

#: The featurizer of models that take feature matrices, when none is given.
DEFAULT_FEATURIZER = "morgan:counts=true"
#: Front-runners of the comparison that ``--model auto`` tunes.
AUTO_FINALISTS = 2

Log = Callable[[str], None]


class TrainingData:
    """A dataset version's labelled molecules and their features per featurizer (loaded once each)."""

    def __init__(self, ws: Workspace, request: TrainRequest, log: Log) -> None:
        self.ws, self.log = ws, log
        self.dataset = ws.existing_dataset(request.dataset)
        self.version = self.dataset.store.resolve(request.version).version
        frame = self.dataset.read(self.version)
        self.target = target_column(frame, request.target, request.dataset, self.version)
        self.frame = (
            frame[frame[self.target].notna()].sort_values("order", kind="stable").reset_index(drop=True)
        )
        if len(self.frame) < 10:
            raise NotEnoughDataError(
                f"dataset {request.dataset!r} version {self.version} has {len(self.frame)} "
                f"molecules with a {self.target!r} value; training needs at least 10"
            )
        self.y = self.frame[self.target].to_numpy(dtype=np.float64)
        self._features: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def features(self, spec: str) -> tuple[np.ndarray, np.ndarray]:
        """(X, valid) for every labelled molecule; SMILES for the graph pseudo-featurizer."""
        if spec == GRAPH:
            return self.frame["smiles"].to_numpy(dtype=object), np.ones(len(self.frame), dtype=bool)
        if spec not in self._features:
            report = self.ws.features.build_dataset(self.dataset, spec, version=self.version)
            self.log(f"features {report.featurizer}: {report.computed} computed, {report.cached} from cache")
            X, valid = self.ws.features.get(spec, self.frame["inchikey"].tolist())
            self._features[spec] = (X, valid)
        return self._features[spec]


def target_column(frame: pd.DataFrame, target: str | None, dataset: str, version: int) -> str:
    from molops.data.store import targets_of

    targets = targets_of(list(frame.columns))
    if target is None:
        if len(targets) != 1:
            raise UsageError(
                f"dataset {dataset!r} version {version} has targets {', '.join(targets)}; "
                "choose one with --target"
            )
        return targets[0]
    if target not in targets:
        raise UsageError(
            f"dataset {dataset!r} version {version} has no target {target!r}; "
            f"its targets are: {', '.join(targets) or 'none'}"
        )
    return target


def featurizer_for(model: str, featurizer: str | None) -> str:
    mismatch = featurizer_mismatch(model, featurizer)
    if mismatch is not None:
        raise UsageError(mismatch)
    if MODELS.get(model).inputs == "smiles":
        return GRAPH
    return get_featurizer(featurizer or DEFAULT_FEATURIZER).spec


def fit_model(
    model: str, params: dict[str, Any], X: Any, y: np.ndarray, kind: Kind
) -> tuple[Surrogate, TargetTransform]:
    transform = TargetTransform(kind=kind).fit(y)
    surrogate = get_model(model, **params)
    surrogate.fit(X, transform.transform(y))
    return surrogate, transform


def predict_model(surrogate: Surrogate, transform: TargetTransform, X: Any) -> tuple[np.ndarray, np.ndarray]:
    return transform.inverse(*surrogate.predict(X))


def fit_predict(
    model: str, params: dict[str, Any], kind: Kind, X: Any, y: np.ndarray, X_test: Any
) -> tuple[np.ndarray, np.ndarray]:
    return predict_model(*fit_model(model, params, X, y, kind), X_test)


class Choice(BaseModel):
    """The model, featurizer and parameters to fit, and how they were chosen."""

    model: str
    featurizer: str
    params: dict[str, Any]
    tuning: dict[str, Any] | None = None
    comparison: list[dict[str, Any]] | None = None


def tune_choice(
    request: TrainRequest, data: TrainingData, split: Split, model: str, featurizer: str, log: Log
) -> tuning.TuneResult:
    X, _ = data.features(featurizer)
    rows = split.train
    log(f"tuning {model} on {featurizer}: {request.trials} trials on a {request.tune_fraction:.0%} subsample")
    executor = None
    if request.executor is not None:
        # the zoo imports its models' libraries only to fit: the fork server imports them once
        preload = ("molops.models.trials", "sklearn.ensemble", "sklearn.neural_network", "lightgbm")
        executor = get_executor(request.executor, request.workers, request.ray_address, preload=preload)
    return tuning.tune(
        model,
        X[rows],
        data.y[rows],
        trials=request.trials,
        fraction=request.tune_fraction,
        seed=request.seed,
        storage=study_storage(data.ws),
        study_name=None,
        timeout=request.tune_timeout,
        fixed_params=request.params,
        executor=executor,
    )


def choose(request: TrainRequest, data: TrainingData, split: Split, log: Log) -> Choice:
    """The model, featurizer and params to fit: as asked, tuned, or explored (``auto``)."""
    if request.model != "auto":
        featurizer = featurizer_for(request.model, request.featurizer)
        if not request.tune:
            return Choice(model=request.model, featurizer=featurizer, params=request.params)
        result = tune_choice(request, data, split, request.model, featurizer, log)
        return Choice(
            model=request.model, featurizer=featurizer, params=result.best_params, tuning=result.summary()
        )
    featurizers = [request.featurizer] if request.featurizer else None
    candidates = [
        (model, spec)
        for model, spec in default_candidates(featurizers)
        if request.candidates is None or model in request.candidates
    ]
    if not candidates:
        raise UsageError(
            f"--candidates {','.join(request.candidates or [])!r} leaves nothing of the default grid "
            f"({', '.join(sorted({m for m, _ in default_candidates(featurizers)}))}) to explore"
        )
    log(
        f"model exploring: {len(candidates)} candidates by cross-validation on a "
        f"{request.tune_fraction:.0%} subsample"
    )
    rows = split.train
    comparison = compare(
        candidates,
        lambda spec: data.features(spec)[0][rows],
        data.y[rows],
        fraction=request.tune_fraction,
        seed=request.seed,
    )
    table = [r.model_dump() for r in comparison]
    finalists = [r for r in comparison if r.error is None][:AUTO_FINALISTS]
    if not finalists:
        raise MolopsError("model exploring: every candidate failed; first error: " + str(comparison[0].error))
    best: tuple[float, Choice] | None = None
    for row in finalists:
        params: dict[str, Any] = {}
        tuned = None
        if request.tune:
            result = tune_choice(request, data, split, row.model, row.featurizer, log)
            params, tuned = result.best_params, result.summary()
        X, _ = data.features(row.featurizer)
        surrogate, transform = fit_model(
            row.model, params, X[split.train], data.y[split.train], request.transform
        )
        mean, _ = predict_model(surrogate, transform, X[split.valid])
        rmse = evaluate(data.y[split.valid], mean)["rmse"]
        log(f"finalist {row.model} on {row.featurizer}: valid RMSE {rmse:.3f}")
        choice = Choice(
            model=row.model, featurizer=row.featurizer, params=params, tuning=tuned, comparison=table
        )
        if best is None or rmse < best[0]:
            best = (rmse, choice)
    assert best is not None
    return best[1]
