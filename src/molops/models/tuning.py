"""Hyperparameter tuning on a downscaled set with Optuna: a pure function over arrays.

:func:`tune` searches a model's :meth:`~molops.models.base.Surrogate.search_space` with Optuna:
TPE sampling (seeded), the objective is the mean k-fold cross-validated RMSE on a stratified
subsample of the data (:func:`~molops.models.crossval.tuning_rows`), and a median pruner stops a
trial whose running mean RMSE after a fold is worse than the median of earlier trials at that fold.
With an RDB *storage* (e.g. ``sqlite:////abs/path/optuna.db``) the study persists, so an
interrupted tuning resumes: a later call runs only the trials still missing. Given an executor
(local processes, a Ray cluster), trials run as its tasks in batches, all in one study
(:mod:`~molops.models.trials`).

It knows nothing of workspaces or tracking: it takes arrays and returns a pydantic value whose
``summary()`` a caller can log. Model exploring (every candidate with default parameters on the
same folds) is :mod:`~molops.models.comparison`.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import socket
import time
from typing import Any, cast

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState
from pydantic import BaseModel, ConfigDict

from molops.compute.local import Executor
from molops.models.base import MODELS, Surrogate, get_model
from molops.models.crossval import (
    MIN_SUBSAMPLE,
    Progress,
    TuningError,
    as_inputs,
    as_targets,
    check_settings,
    tuning_rows,
)
from molops.models.splits import kfold
from molops.models.trials import jsonable, pruner, run_batch
from molops.redact import redact

#: Bumped when the meaning of a stored study changes (objective, attributes), so old studies are
#: not resumed by code that would read them differently.
STUDY_FORMAT = 1

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class TuneResult(BaseModel):
    """What a tuning found, and how: the best parameters and a small record of every trial."""

    model_config = ConfigDict(frozen=True)

    model: str
    #: the parameters to pass to ``get_model(model, **best_params)``: fixed and tuned ones
    best_params: dict[str, Any]
    #: mean k-fold CV RMSE of the best parameters on the subsample
    best_value: float
    n_trials: int
    n_complete: int
    n_pruned: int
    n_failed: int
    n_subsample: int
    folds: int
    seed: int
    #: trials run at once (the executor's workers; 1 without one): the seed and this fix the trials
    parallel: int = 1
    study_name: str
    storage: str | None
    #: wall-clock seconds of this call (a resumed study's earlier trials are not counted)
    seconds: float
    #: one dict per trial in the study: number, state, value, params, error
    trials: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        """A flat dict of scalars for a run log: the settings, counts, best value and best parameters."""
        out: dict[str, Any] = {
            "model": self.model,
            "best_value": self.best_value,
            "n_trials": self.n_trials,
            "n_complete": self.n_complete,
            "n_pruned": self.n_pruned,
            "n_failed": self.n_failed,
            "n_subsample": self.n_subsample,
            "folds": self.folds,
            "seed": self.seed,
            "parallel": self.parallel,
            "study_name": self.study_name,
            "storage": redact(self.storage) if self.storage else self.storage,  # printed and logged
            "seconds": self.seconds,
        }
        for key, value in sorted(self.best_params.items()):
            scalar = value is None or isinstance(value, bool | int | float | str)
            out[f"best_params.{key}"] = value if scalar else json.dumps(jsonable(value))
        return out


def _space_digest(cls: type[Surrogate]) -> str:
    """A hash of the model's search-space code: a changed space starts a new study."""
    try:
        source = inspect.getsource(cls.search_space)
    except (OSError, TypeError):
        source = f"{cls.__module__}.{cls.__qualname__}"
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def _data_digest(X: np.ndarray, y: np.ndarray) -> str:
    """A hash of the subsample's features and targets (so different data never share a study)."""
    h = hashlib.sha256()
    h.update(repr(X.shape).encode())
    if X.dtype == object:
        h.update("\n".join(map(str, X)).encode())
    else:
        h.update(str(X.dtype).encode())
        h.update(np.ascontiguousarray(X).tobytes())
    h.update(np.ascontiguousarray(y, dtype="<f8").tobytes())
    return h.hexdigest()[:16]


def _alive(owner: str) -> bool:
    """False only when *owner* is a process of this host that has ended."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. no permission to signal it: it exists
        return True
    return True


def _fail_abandoned(study: optuna.Study) -> None:
    """Mark FAIL the RUNNING trials left by a killed tuning process of this host.

    Trials of live processes (another tuning of the same study) and of other hosts are left alone;
    they do not count towards the trials asked for either way.
    """
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get("owner")
        if isinstance(owner, str) and not _alive(owner):
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


def _check_study(study: optuna.Study, attrs: dict[str, Any]) -> None:
    stored = study.user_attrs.get("molops")
    if stored is None:
        if study.get_trials(deepcopy=False):
            raise TuningError(
                f"study {study.study_name!r} already holds trials that molops did not make; "
                "choose another study name"
            )
        study.set_user_attr("molops", attrs)
        return
    if stored.get("model") != attrs["model"]:
        raise TuningError(
            f"study {study.study_name!r} tunes model {stored.get('model')!r}, not "
            f"{attrs['model']!r}; choose another study name to tune {attrs['model']!r}"
        )
    differ = sorted(k for k in attrs if stored.get(k) != attrs[k])
    if differ:
        raise TuningError(
            f"study {study.study_name!r} was made with different {', '.join(differ)} "
            "(other data or settings); its trials cannot be resumed with these, so choose "
            "another study name"
        )


def _trial_record(trial: FrozenTrial) -> dict[str, Any]:
    error = trial.user_attrs.get("error")
    if trial.state == TrialState.FAIL and error is None:
        error = "the tuning process ended before the trial finished"
    return {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "value": trial.value,
        "params": trial.user_attrs.get("params", trial.params),
        "error": error,
    }


def _best_params(name: str, stored: dict[str, Any]) -> dict[str, Any]:
    """The stored (JSON) parameters validated by the model again, so tuples are tuples once more."""
    validated = get_model(name, **stored).params
    return {key: getattr(validated, key) for key in stored}


def tune(
    model: str,
    X: Any,
    y: Any,
    *,
    trials: int = 30,
    fraction: float = 0.2,
    folds: int = 3,
    seed: int = 0,
    storage: str | None = None,
    study_name: str | None = None,
    timeout: float | None = None,
    fixed_params: dict[str, Any] | None = None,
    progress: Progress | None = None,
    min_subsample: int = MIN_SUBSAMPLE,
    executor: Executor | None = None,
) -> TuneResult:
    """Tune *model*'s hyperparameters by k-fold CV RMSE on a downscaled set of (X, y).

    The study minimises the mean held-out RMSE over *folds* folds of ``tuning_rows(y, fraction,
    seed, min_subsample)``; every trial sees the same folds. Parameters come from the model's
    search space; *fixed_params* are passed to every trial and win over the search space (a
    search-space parameter of the same name is not sampled), e.g. ``{"n_jobs": 1}``.

    *storage*: an Optuna RDB URL (``sqlite:////abs/path/optuna.db``) keeps the study, so a later
    call with the same name resumes it and runs only the trials still missing to reach *trials*
    complete or pruned trials. The default *study_name* is the model plus a hash of the subsample,
    the folds, the seed, the fixed parameters and the search space, so other data never mix in; a
    stored study made for another model or other data is refused with :class:`TuningError`.

    A trial whose model raises is recorded as failed (its error in ``trials``) and the tuning goes
    on; failed trials do not count towards *trials*, but each call stops after *trials* failures.
    If no trial of the study has completed, :class:`TuningError` names the last error. *timeout*
    (seconds) stops starting new trials once it has passed (a trial already running finishes, and
    at least one batch runs); ``progress(done, trials)`` is called after every batch of trials
    with the number of complete or pruned trials in the study.

    *executor* (local processes or a Ray cluster) runs trials as its tasks, as many at once as it
    has workers, all in the one study at *storage* (required then; see :mod:`~molops.models.trials`
    for how the batches keep a seeded tuning reproducible). The same seed and number of workers
    give the same trials on any executor; without one, trials run here one at a time.
    """
    started = time.perf_counter()
    parallel = 1 if executor is None else max(1, executor.workers)
    if executor is not None and storage is None:
        raise TuningError(
            f"tuning on the {executor.kind} executor needs a study storage its workers can reach "
            "(an RDB URL such as postgresql://USER@HOST/DB); none was given"
        )
    if model not in MODELS:
        get_model(model)  # raises InvalidModelError naming the choices
    cls = MODELS.get(model)
    fixed = dict(fixed_params or {})
    get_model(model, **fixed)  # bad fixed parameters are an error now, not a failure in every trial
    if trials < 1:
        raise TuningError(f"tuning needs at least 1 trial; got {trials}")
    if timeout is not None and not timeout > 0:
        raise TuningError(f"the tuning timeout must be a positive number of seconds; got {timeout:g}")
    ya = as_targets(y)
    Xa = as_inputs(cls, X, len(ya))
    rows = tuning_rows(ya, fraction, seed, min_subsample)
    check_settings(folds, len(rows))
    Xs, ys = Xa[rows], ya[rows]
    splits = list(kfold(len(rows), folds, seed))

    attrs = {
        "model": model,
        "fraction": fraction,
        "folds": folds,
        "seed": seed,
        "n_subsample": len(rows),
        "data": _data_digest(Xs, ys),
        "fixed_params": jsonable(fixed),
        "space": _space_digest(cls),
        "format": STUDY_FORMAT,
    }
    if study_name is None:
        key = json.dumps({k: v for k, v in attrs.items() if k != "model"}, sort_keys=True)
        study_name = f"{model}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=study_name,
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=seed),
            pruner=pruner(),
            load_if_exists=True,
        )
        _check_study(study, attrs)
        _fail_abandoned(study)

        def finished() -> int:
            return len(study.get_trials(deepcopy=False, states=_FINISHED))

        failures, last_error = 0, None
        while finished() < trials and failures < trials:
            size = min(parallel, trials - finished(), trials - failures)
            for outcome in run_batch(study, storage, model, fixed, Xs, ys, splits, size, executor):
                if outcome.state == "fail":
                    failures, last_error = failures + 1, outcome.error
            if progress is not None:
                progress(finished(), trials)
            if timeout is not None and time.perf_counter() - started >= timeout:
                break
        every = study.get_trials(deepcopy=False)
    finally:
        optuna.logging.set_verbosity(verbosity)

    complete = [t for t in every if t.state == TrialState.COMPLETE]
    if not complete:
        if last_error is None:
            last_error = next(
                (t.user_attrs["error"] for t in reversed(every) if "error" in t.user_attrs), "none recorded"
            )
        raise TuningError(f"no trial of tuning {model!r} completed; the last error: {last_error}")
    best = min(complete, key=lambda t: (t.value, t.number))
    counts = {s: sum(t.state == s for t in every) for s in (TrialState.PRUNED, TrialState.FAIL)}
    return TuneResult(
        model=model,
        best_params=_best_params(model, best.user_attrs["params"]),
        best_value=float(cast(float, best.value)),  # a COMPLETE trial of a one-objective study has one
        n_trials=len(every),
        n_complete=len(complete),
        n_pruned=counts[TrialState.PRUNED],
        n_failed=counts[TrialState.FAIL],
        n_subsample=len(rows),
        folds=folds,
        seed=seed,
        parallel=parallel,
        study_name=study_name,
        storage=storage,
        seconds=time.perf_counter() - started,
        trials=[_trial_record(t) for t in every],
    )
