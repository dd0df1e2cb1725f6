"""Tuning on a downscaled set and model exploring, on FreeSolv and a cheap stand-in model."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any, Self

import numpy as np
import optuna
import pytest
from pydantic import Field

from molops.models import (
    MODELS,
    InvalidModelError,
    Surrogate,
    TuneResult,
    TuningError,
    compare,
    get_model,
    tune,
)
from molops.models.base import ModelParams
from molops.models.comparison import DEFAULT_GRID, default_candidates
from molops.models.crossval import MIN_SUBSAMPLE, tuning_rows
from molops.models.splits import kfold

from .conftest import features, freesolv

MORGAN = "morgan:counts=true"
#: a small forest, so a trial of three folds takes a fraction of a second
SMALL_RF = {"n_estimators": 20, "n_jobs": 1}


def data(spec: str = MORGAN) -> tuple[np.ndarray, np.ndarray]:
    return features(spec), freesolv()["expt"].to_numpy()


class OffsetParams(ModelParams):
    bias: float = 0.0
    fail_above: float | None = Field(None, description="fit raises when bias is above this")


class Offset(Surrogate):
    """Predicts the training mean plus *bias*: RMSE grows with |bias|, and fitting costs nothing."""

    name = "offset"
    Params = OffsetParams

    def fit(self, X: np.ndarray, y: np.ndarray) -> Self:
        p: OffsetParams = self.params  # type: ignore[assignment]
        if p.fail_above is not None and p.bias > p.fail_above:
            raise ValueError(f"bias {p.bias:.2f} is too large")
        self.mean_ = float(np.mean(y))
        self.fitted = True
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(X)
        return np.full(n, self.mean_ + self.params.bias), np.ones(n)  # type: ignore[attr-defined]

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {"bias": trial.suggest_float("bias", -3.0, 3.0)}


@pytest.fixture
def offset(monkeypatch) -> str:
    """Registers the stand-in model for one test."""
    monkeypatch.setitem(MODELS._items, Offset.name, Offset)
    return Offset.name


def sqlite(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'optuna.db'}"


# -- the downscaled set ----------------------------------------------------------------------------
def test_tuning_rows_take_the_fraction_with_a_floor():
    y = freesolv()["expt"].to_numpy()
    assert len(tuning_rows(y, 0.2)) == round(0.2 * len(y)) == 128
    assert len(tuning_rows(y, 0.05)) == MIN_SUBSAMPLE  # 32 molecules would be too few
    assert len(tuning_rows(y[:60], 0.2)) == 60  # fewer than the floor: all of them
    assert len(tuning_rows(y, 0.05, minimum=10)) == 32
    rows = tuning_rows(y, 0.2, seed=1)
    assert np.array_equal(rows, np.unique(rows)) and np.array_equal(rows, tuning_rows(y, 0.2, seed=1))
    # stratified: the subsample spans the target's range
    assert y[rows].min() < np.quantile(y, 0.1) and y[rows].max() > np.quantile(y, 0.9)
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(TuningError, match="fraction"):
            tuning_rows(y, bad)


# -- tuning ----------------------------------------------------------------------------------------
def test_tune_finds_params_at_least_as_good_as_the_first_trial():
    X, y = data()
    seen: list[tuple[int, int]] = []
    result = tune(
        "rf", X, y, trials=6, fixed_params=SMALL_RF, progress=lambda done, total: seen.append((done, total))
    )
    assert isinstance(result, TuneResult)
    first = result.trials[0]
    assert first["state"] == "complete"
    assert result.best_value <= first["value"]
    assert result.n_trials == len(result.trials) == 6
    assert result.n_complete + result.n_pruned == 6 and result.n_failed == 0
    assert (result.n_subsample, result.folds, result.seed, result.storage) == (128, 3, 0, None)
    assert seen == [(i, 6) for i in range(1, 7)]
    # the full parameters: fixed ones win, tuned ones come from the search space
    assert result.best_params["n_estimators"] == 20 and result.best_params["n_jobs"] == 1
    assert {"max_depth", "min_samples_leaf", "max_features"} <= set(result.best_params)
    assert all(t["params"]["n_estimators"] == 20 for t in result.trials)
    get_model("rf", **result.best_params)
    summary = result.summary()
    assert summary["best_value"] == result.best_value and summary["best_params.n_estimators"] == 20
    assert all(v is None or isinstance(v, bool | int | float | str) for v in summary.values())


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 20 epochs, on purpose
def test_best_params_of_the_mlp_are_the_built_model_params():
    X, y = data()
    result = tune("mlp", X, y, trials=2, fixed_params={"n_members": 2, "max_iter": 20})
    params = result.best_params
    assert isinstance(params["hidden_layer_sizes"], tuple)  # width/depth mapped as the trial built it
    assert "width" not in params and "depth" not in params
    assert get_model("mlp", **params).params.hidden_layer_sizes == params["hidden_layer_sizes"]


def test_a_stored_study_resumes_with_only_the_missing_trials(tmp_path):
    X, y = data()
    storage = sqlite(tmp_path)
    first = tune("rf", X, y, trials=3, storage=storage, fixed_params=SMALL_RF)
    assert first.n_trials == 3
    seen: list[tuple[int, int]] = []
    second = tune(
        "rf",
        X,
        y,
        trials=5,
        storage=storage,
        fixed_params=SMALL_RF,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert second.study_name == first.study_name
    assert second.n_trials == 5 and [t["number"] for t in second.trials] == list(range(5))
    assert second.trials[:3] == first.trials
    assert seen == [(4, 5), (5, 5)]
    assert second.best_value <= first.best_value
    # asking for no more than there are runs nothing
    again = tune("rf", X, y, trials=4, storage=storage, fixed_params=SMALL_RF)
    assert again.n_trials == 5 and again.best_value == second.best_value
    stored = optuna.load_study(study_name=first.study_name, storage=storage)
    assert stored.user_attrs["molops"]["model"] == "rf"


def test_a_study_of_another_model_or_other_data_is_refused(tmp_path):
    X, y = data()
    storage = sqlite(tmp_path)
    tune("rf", X, y, trials=1, storage=storage, study_name="solvation", fixed_params=SMALL_RF)
    with pytest.raises(TuningError, match="tunes model 'rf', not 'gp'"):
        tune("gp", X, y, trials=1, storage=storage, study_name="solvation")
    with pytest.raises(TuningError, match="different data"):
        tune(
            "rf",
            features("morgan"),
            y,
            trials=1,
            storage=storage,
            study_name="solvation",
            fixed_params=SMALL_RF,
        )
    with pytest.raises(TuningError, match="different folds"):
        tune("rf", X, y, trials=1, storage=storage, study_name="solvation", fixed_params=SMALL_RF, folds=4)
    # default names differ for different data, so they never collide
    bits = tune("rf", features("morgan"), y, trials=1, storage=storage, fixed_params=SMALL_RF)
    counts = tune("rf", X, y, trials=1, storage=storage, fixed_params=SMALL_RF)
    assert bits.study_name != counts.study_name and bits.study_name.startswith("rf-")


def test_a_trial_left_running_by_a_killed_process_is_failed_and_not_counted(tmp_path, offset):
    X, y = data()
    storage = sqlite(tmp_path)
    first = tune(offset, X, y, trials=3, storage=storage)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    study = optuna.load_study(study_name=first.study_name, storage=storage)
    orphan = study.ask()
    orphan.set_user_attr("owner", f"{socket.gethostname()}:{dead.pid}")
    alive = study.ask()  # e.g. a second tuning process still at work: left alone
    alive.set_user_attr("owner", f"{socket.gethostname()}:{os.getpid()}")
    result = tune(offset, X, y, trials=5, storage=storage)
    states = {t["number"]: t["state"] for t in result.trials}
    assert states[orphan.number] == "fail" and states[alive.number] == "running"
    assert "ended before the trial finished" in result.trials[orphan.number]["error"]
    assert result.n_complete + result.n_pruned == 5 and result.n_failed == 1 and result.n_trials == 7


def test_failed_trials_are_recorded_and_tuning_goes_on(offset):
    X, y = data()
    result = tune(offset, X, y, trials=8, fixed_params={"fail_above": 1.0})
    failed = [t for t in result.trials if t["state"] == "fail"]
    assert failed and result.n_failed == len(failed) < 8
    assert all("ValueError: bias" in t["error"] and t["params"]["bias"] > 1 for t in failed)
    assert all(t["value"] is None for t in failed)
    assert result.n_complete + result.n_pruned == 8  # failures do not count towards the trials
    assert result.n_trials == 8 + len(failed)
    assert result.best_params["bias"] <= 1 and result.best_params["fail_above"] == 1.0


def test_tuning_where_every_trial_fails_names_the_reason(offset):
    X, y = data()
    with pytest.raises(TuningError, match=r"no trial of tuning 'offset' completed.*ValueError: bias"):
        tune(offset, X, y, trials=3, fixed_params={"fail_above": -10.0})


def test_trials_report_running_means_and_bad_ones_are_pruned(tmp_path, offset):
    X, y = data()
    storage = sqlite(tmp_path)
    result = tune(offset, X, y, trials=20, storage=storage)
    assert result.n_pruned > 0
    study = optuna.load_study(study_name=result.study_name, storage=storage)
    for trial in study.get_trials():
        if trial.state == optuna.trial.TrialState.COMPLETE:
            steps = trial.intermediate_values
            assert sorted(steps) == [0, 1, 2]
            assert steps[2] == pytest.approx(trial.value)  # the running mean after the last fold
            assert steps[2] == pytest.approx(np.mean(trial.user_attrs["fold_rmse"]))
        elif trial.state == optuna.trial.TrialState.PRUNED:
            assert sorted(trial.intermediate_values) == [0, 1]  # stopped after the second fold
    pruned = [t for t in result.trials if t["state"] == "pruned"]
    best_bias = abs(result.best_params["bias"])
    assert all(abs(t["params"]["bias"]) > best_bias for t in pruned)


def test_timeout_stops_after_the_running_trial(offset):
    X, y = data()
    result = tune(offset, X, y, trials=50, timeout=1e-6)
    assert result.n_trials == 1


def test_tune_checks_its_inputs(offset):
    X, y = data()
    with pytest.raises(InvalidModelError, match="unknown model 'nope'"):
        tune("nope", X, y)
    with pytest.raises(InvalidModelError, match="no parameter 'trees'"):
        tune("rf", X, y, fixed_params={"trees": 3})
    with pytest.raises(TuningError, match="1 trial"):
        tune(offset, X, y, trials=0)
    with pytest.raises(TuningError, match="2 folds"):
        tune(offset, X, y, folds=1)
    with pytest.raises(TuningError, match="rows but y has"):
        tune(offset, X[:10], y)
    with pytest.raises(TuningError, match="numeric feature matrix"):
        tune(offset, freesolv()["smiles"].to_numpy(), y)
    with pytest.raises(TuningError, match="timeout"):
        tune(offset, X, y, timeout=0)


# -- model exploring -------------------------------------------------------------------------------
def test_compare_ranks_candidates_on_the_same_folds_and_keeps_errors(offset):
    y = freesolv()["expt"].to_numpy()
    calls: list[str] = []

    def featurize(spec: str) -> np.ndarray:
        calls.append(spec)
        if spec == "broken":
            raise RuntimeError("no such cache")
        return freesolv()["smiles"].to_numpy() if spec == "graph" else features(spec)

    candidates = [
        (offset, MORGAN),
        ("gp", MORGAN),
        ("gp", "morgan"),
        ("rf", "graph"),
        ("nope", MORGAN),
        (offset, "broken"),
        ("gp", "broken"),
        (offset, "morgan"),
    ]
    seen: list[tuple[int, int]] = []
    rows = compare(candidates, featurize, y, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, len(candidates)) for i in range(1, len(candidates) + 1)]
    assert sorted(calls) == sorted({MORGAN, "morgan", "graph", "broken"})  # once per featurizer
    assert len(rows) == len(candidates)
    ok = [r for r in rows if r.error is None]
    assert [r.error is None for r in rows] == [True] * len(ok) + [False] * (len(rows) - len(ok))
    assert [r.cv_rmse for r in ok] == sorted(r.cv_rmse for r in ok)
    assert {(r.model, r.featurizer) for r in ok} == {
        (offset, MORGAN),
        ("gp", MORGAN),
        ("gp", "morgan"),
        (offset, "morgan"),
    }
    assert ok[0].model == "gp" and ok[-1].model == offset  # a real model beats the training mean
    errors = {(r.model, r.featurizer): r.error for r in rows if r.error is not None}
    assert "numeric feature matrix" in errors[("rf", "graph")]
    assert "unknown model 'nope'" in errors[("nope", MORGAN)]
    assert "RuntimeError: no such cache" in errors[("gp", "broken")]
    assert all(np.isnan(r.cv_rmse) for r in rows if r.error is not None)
    # the same folds of the same subsample for everyone: the mean-predictor's folds, by hand
    sub = tuning_rows(y, 0.2, 0)
    expected = [
        float(np.sqrt(np.mean((y[sub][s.test] - y[sub][s.train].mean()) ** 2))) for s in kfold(len(sub), 3, 0)
    ]
    for row in (r for r in ok if r.model == offset):
        assert row.fold_rmse == pytest.approx(expected)
        assert row.cv_rmse == pytest.approx(np.mean(expected))
        assert row.cv_rmse_std == pytest.approx(np.std(expected))
    gp = next(r for r in ok if r.model == "gp")
    assert 0 < gp.cv_spearman <= 1 and gp.seconds >= 0 and len(gp.fold_rmse) == 3


def test_default_candidates_follow_what_is_available(monkeypatch):
    grid = default_candidates()
    assert set(DEFAULT_GRID) <= set(grid)
    assert {m for m, _ in grid} <= set(MODELS)
    assert default_candidates(["morgan"]) == [c for c in grid if not c[1].startswith("rdkit2d")]
    assert all(spec == "graph" for _, spec in default_candidates(["maccs"]))
    monkeypatch.delitem(MODELS._items, "dmpnn", raising=False)
    assert ("dmpnn", "graph") not in default_candidates()
