"""Hyperparameter tuning on a downscaled set with Optuna: a pure function over arrays.

:func:`tune` searches a model's :meth:`~molops.models.base.Surrogate.search_space` with Optuna:
TPE sampling (seeded), the objective is the mean k-fold cross-validated RMSE on a stratified
subsample of the data (:func:`~molops.models.crossval.tuning_rows`), and a median pruner stops a
trial whose running mean RMSE after a fold is worse than the median of earlier trials at that fold.
With an RDB *storage* (e.g. ``sqlite:////abs/path/optuna.db``) the study persists, so an
interrupted tuning resumes: a later call runs only the trials still missing.

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

from molops.models.base import MODELS, Surrogate, get_model
from molops.models.crossval import (
    MIN_SUBSAMPLE,
    Progress,
    TuningError,
    as_inputs,
    as_targets,
    check_settings,
    cross_validate,
    tuning_rows,
)
from molops.models.splits import Split, kfold
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
            "study_name": self.study_name,
            "storage": redact(self.storage) if self.storage else self.storage,  # printed and logged
            "seconds": self.seconds,
        }
        for key, value in sorted(self.best_params.items()):
            scalar = value is None or isinstance(value, bool | int | float | str)
            out[f"best_params.{key}"] = value if scalar else json.dumps(_jsonable(value))
        return out


class _WithFixed:
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


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


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


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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


def _run_trial(
    study: optuna.Study, name: str, fixed: dict[str, Any], X: np.ndarray, y: np.ndarray, splits: list[Split]
) -> str | None:
    """Ask, cross-validate and tell one trial; returns the error of a failed trial, else None."""
    trial = study.ask()
    trial.set_user_attr("owner", _owner())

    def report(fold: int, rmses: list[float]) -> None:
        trial.report(float(np.mean(rmses)), step=fold)
        # after the last fold the trial is done: finish it as COMPLETE rather than prune it
        if fold < len(splits) - 1 and trial.should_prune():
            raise optuna.TrialPruned

    try:
        params = MODELS.get(name).search_space(_WithFixed(trial, fixed)) | fixed
        trial.set_user_attr("params", _jsonable(params))
        scores = cross_validate(name, params, X, y, splits, report)
    except optuna.TrialPruned:
        study.tell(trial, state=TrialState.PRUNED)
        return None
    except Exception as exc:  # a parameter combination the model cannot fit: record it, go on
        reason = f"{type(exc).__name__}: {exc}"
        trial.set_user_attr("error", reason)
        study.tell(trial, state=TrialState.FAIL)
        return reason
    except BaseException:  # KeyboardInterrupt and the like: leave no RUNNING trial behind
        trial.set_user_attr("error", "interrupted")
        study.tell(trial, state=TrialState.FAIL)
        raise
    rmses = [s["rmse"] for s in scores]
    trial.set_user_attr("fold_rmse", rmses)
    study.tell(trial, float(np.mean(rmses)))
    return None


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
    at least one trial runs); ``progress(done, trials)`` is called after every trial with the
    number of complete or pruned trials in the study.
    """
    started = time.perf_counter()
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
        "fixed_params": _jsonable(fixed),
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
            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
            load_if_exists=True,
        )
        _check_study(study, attrs)
        _fail_abandoned(study)

        def finished() -> int:
            return len(study.get_trials(deepcopy=False, states=_FINISHED))

        failures, last_error = 0, None
        while finished() < trials and failures < trials:
            error = _run_trial(study, model, fixed, Xs, ys, splits)
            if error is not None:
                failures, last_error = failures + 1, error
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
        study_name=study_name,
        storage=storage,
        seconds=time.perf_counter() - started,
        trials=[_trial_record(t) for t in every],
    )
