"""Tuning trials as executor tasks: batches that give the same trials on every run and executor.

The trials of a batch are asked here and told only when the batch is back, and the tasks reach the
study through its storage; a batch of one is the plain sequential tuning. (On a real Ray cluster,
with the study on Postgres: tests/backends/test_ray_cluster.py.)
"""

from __future__ import annotations

import optuna
import pytest

from molops.compute.local import LocalExecutor
from molops.models import TuningError, tune

from .test_tuning import SMALL_RF, data

SETTINGS = {"trials": 6, "fraction": 0.3, "seed": 5, "fixed_params": SMALL_RF}


def _storage(tmp_path, name: str) -> str:
    return f"sqlite:///{tmp_path / name}.db"


def _trials(result) -> list[tuple]:
    return [(t["number"], t["state"], t["value"], t["params"]) for t in result.trials]


def test_a_batch_of_one_as_tasks_equals_tuning_in_process(tmp_path):
    X, y = data()
    here = tune("rf", X, y, storage=_storage(tmp_path, "here"), **SETTINGS)
    # workers=1 runs each task in this process, but through the study's storage, as a worker does
    tasks = tune("rf", X, y, storage=_storage(tmp_path, "tasks"), executor=LocalExecutor(1), **SETTINGS)
    assert (here.parallel, tasks.parallel) == (1, 1)
    assert _trials(tasks) == _trials(here)
    assert (tasks.best_params, tasks.best_value) == (here.best_params, here.best_value)


@pytest.mark.slow
def test_parallel_trials_are_the_same_on_every_run(tmp_path):
    X, y = data()
    runs = [
        tune("rf", X, y, storage=_storage(tmp_path, f"run{i}"), executor=LocalExecutor(2), **SETTINGS)
        for i in range(2)
    ]
    assert [r.parallel for r in runs] == [2, 2]
    assert _trials(runs[0]) == _trials(runs[1])
    assert runs[0].best_params == runs[1].best_params
    assert runs[0].n_complete + runs[0].n_pruned == 6 == len(runs[0].trials)
    # every trial reported its folds to the study from its worker process, and none is left running
    study = optuna.load_study(study_name=runs[0].study_name, storage=_storage(tmp_path, "run0"))
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert complete and all(len(t.intermediate_values) == 3 for t in complete)
    assert all(t.state.is_finished() for t in study.trials)


def test_an_executor_needs_a_storage_its_workers_reach():
    X, y = data()
    with pytest.raises(TuningError, match="tuning on the local executor needs a study storage"):
        tune("rf", X, y, executor=LocalExecutor(2), **SETTINGS)
