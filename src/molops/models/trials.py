"""Running tuning trials in batches, here or as tasks of an executor (local processes, Ray).

A batch of *n* trials is asked here (so the seeded sampler draws their parameters in a fixed
order), cross-validated at once (each task reports its folds to the study itself and asks the
pruner), and told here only when the whole batch is back. The trials of a batch are therefore
RUNNING while their siblings run, which the sampler and the median pruner ignore: what a trial
sees of the study does not depend on which sibling finished first, and a tuning with the same seed
and batch size gives the same trials on any executor. A batch of one is plain sequential tuning.

Tasks reach the study through its RDB storage URL: every worker (every node of a Ray cluster)
must be able to connect to it with credentials of its own (``PGPASSWORD`` or ``PGPASSFILE`` in
the node's environment; none travel with the task).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import sqlalchemy as sa
from optuna.trial import TrialState

from molops.compute.local import Executor
from molops.compute.ray import current_node
from molops.models.base import MODELS
from molops.models.crossval import cross_validate
from molops.models.splits import Split


@dataclass(frozen=True)
class Outcome:
    """How a trial ended: ``complete`` (with its mean CV RMSE), ``pruned`` or ``fail`` (an error)."""

    state: str
    value: float | None = None
    error: str | None = None


class WithFixed:
    """An Optuna trial whose suggestions for fixed parameters return the fixed value unsampled."""

    def __init__(self, trial: optuna.Trial, fixed: dict[str, Any]) -> None:
        self._trial, self._fixed = trial, fixed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)

    def _suggest(self, method: str, name: str, *args: Any, **kwargs: Any) -> Any:
        if name in self._fixed:
            return self._fixed[name]
        return getattr(self._trial, method)(name, *args, **kwargs)

    def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._suggest("suggest_float", name, *args, **kwargs)

    def suggest_int(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._suggest("suggest_int", name, *args, **kwargs)

    def suggest_categorical(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._suggest("suggest_categorical", name, *args, **kwargs)


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def pruner() -> optuna.pruners.BasePruner:
    """The pruner of every study: the same here and in the tasks that ask it."""
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)


def evaluate(
    trial: optuna.Trial, name: str, params: dict[str, Any], X: np.ndarray, y: np.ndarray, splits: list[Split]
) -> Outcome:
    """Cross-validate one asked trial, reporting each fold to the study; does not tell it."""
    node = current_node()
    if node is not None:
        trial.set_user_attr("node", node)

    def report(fold: int, rmses: list[float]) -> None:
        trial.report(float(np.mean(rmses)), step=fold)
        # after the last fold the trial is done: finish it as COMPLETE rather than prune it
        if fold < len(splits) - 1 and trial.should_prune():
            raise optuna.TrialPruned

    try:
        scores = cross_validate(name, params, X, y, splits, report)
    except optuna.TrialPruned:
        return Outcome("pruned")
    except Exception as exc:  # a parameter combination the model cannot fit: record it, go on
        reason = f"{type(exc).__name__}: {exc}"
        trial.set_user_attr("error", reason)
        return Outcome("fail", error=reason)
    rmses = [s["rmse"] for s in scores]
    trial.set_user_attr("fold_rmse", rmses)
    return Outcome("complete", value=float(np.mean(rmses)))


#: Storages the tasks of this process have opened, by URL (a worker runs many trials).
_STORAGES: dict[str, optuna.storages.BaseStorage] = {}


def evaluate_stored(
    storage: str,
    study_name: str,
    number: int,
    name: str,
    params: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    splits: list[Split],
) -> Outcome:
    """:func:`evaluate` as a task of another process: the trial found through its study's storage."""
    if storage not in _STORAGES:  # no pooled connection outlives a task
        _STORAGES[storage] = optuna.storages.RDBStorage(
            storage, engine_kwargs={"poolclass": sa.pool.NullPool}
        )
    rdb = _STORAGES[storage]
    study = optuna.load_study(
        study_name=study_name,
        storage=rdb,
        sampler=optuna.samplers.RandomSampler(),  # never samples: the driver drew the parameters
        pruner=pruner(),
    )
    trial_id = rdb.get_trial_id_from_study_id_trial_number(rdb.get_study_id_from_name(study_name), number)
    return evaluate(optuna.Trial(study, trial_id), name, params, X, y, splits)


def _ask(study: optuna.Study, name: str, fixed: dict[str, Any]) -> tuple[optuna.Trial, dict[str, Any] | None]:
    """A new trial with its parameters drawn; None for parameters the search space could not make."""
    trial = study.ask()
    trial.set_user_attr("owner", owner())
    try:
        params = MODELS.get(name).search_space(WithFixed(trial, fixed)) | fixed
    except Exception as exc:
        trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
        return trial, None
    trial.set_user_attr("params", jsonable(params))
    return trial, params


def _tell(study: optuna.Study, trial: optuna.Trial, outcome: Outcome) -> None:
    if outcome.state == "complete":
        study.tell(trial, outcome.value)
    else:
        study.tell(trial, state=TrialState.PRUNED if outcome.state == "pruned" else TrialState.FAIL)


def run_batch(
    study: optuna.Study,
    storage: str | None,
    name: str,
    fixed: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    splits: list[Split],
    size: int,
    executor: Executor | None,
) -> list[Outcome]:
    """Ask *size* trials, evaluate them here (*executor* None) or as tasks, and tell them all."""
    asked = [_ask(study, name, fixed) for _ in range(size)]
    outcomes: dict[int, Outcome] = {
        i: Outcome("fail", error=str(t.user_attrs.get("error")))
        for i, (t, p) in enumerate(asked)
        if p is None
    }
    todo = [(i, trial, params) for i, (trial, params) in enumerate(asked) if params is not None]
    try:
        if executor is None:
            for i, trial, params in todo:
                outcomes[i] = evaluate(trial, name, params, X, y, splits)
        else:
            assert storage is not None  # tune() refuses an executor without a storage

            def units() -> Iterator[tuple[Any, ...]]:
                for _, trial, params in todo:
                    yield (storage, study.study_name, trial.number, name, params, X, y, splits)

            for (i, _, _), outcome in zip(todo, executor.map(evaluate_stored, units()), strict=True):
                outcomes[i] = outcome
    except BaseException as exc:  # interrupted, or the executor failed: leave no RUNNING trial behind
        reason = "interrupted" if not isinstance(exc, Exception) else f"{type(exc).__name__}: {exc}"
        for i, (trial, _) in enumerate(asked):
            if i not in outcomes:
                trial.set_user_attr("error", reason)
                study.tell(trial, state=TrialState.FAIL)
        raise
    ordered = [outcomes[i] for i in range(len(asked))]
    for (trial, _), outcome in zip(asked, ordered, strict=True):
        _tell(study, trial, outcome)
    return ordered
