"""A campaign's surrogate std is recalibrated (issue 17): acquisition and proposals see the model's
std times the fitted factor, in this process and on worker processes alike, and the iteration
records the calibration and the compute it used (issue 18)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from molops.active import Campaign, Recipe
from molops.active.recalibrate import OOF_FOLDS, fit_surrogate
from molops.active.scan import Scan, pool_identity, scan_pool
from molops.compute.local import LocalExecutor
from molops.models import get_model

from .test_campaign import OBJECTIVE, RECIPE, measured_workspace, split_freesolv


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return split_freesolv(tmp_path_factory.mktemp("freesolv"))


def _propose(root, files, recalibrate: str, executor=None) -> tuple[pd.DataFrame, dict]:
    ws = measured_workspace(root, files)
    recipe = RECIPE.model_copy(update={"recalibrate": recalibrate})  # greedy: ranks by the mean only
    campaign = Campaign.create(
        ws, "c", dataset="fs", pool=files["pool"], objective=OBJECTIVE, recipe=recipe, batch_size=12
    )
    it = campaign.propose(executor=executor, chunk_rows=97, track=False).iteration
    stored = campaign.load().iterations[0]
    assert stored.calibration == it.calibration and stored.cpu_seconds == it.cpu_seconds
    return pd.read_parquet(campaign.dir / it.proposals), it.model_dump()


def test_proposals_publish_the_std_times_the_fitted_factor(tmp_path, files):
    raw, plain = _propose(tmp_path / "none", files, "none")
    scaled, it = _propose(tmp_path / "scale", files, "scale")
    cal = it["calibration"]
    assert plain["calibration"]["chosen"] == "none" and plain["calibration"]["factor"] == 1.0
    assert (cal["method"], cal["chosen"], cal["n"]) == ("scale", "scale", it["n_train"])
    assert cal["fitted_on"] == f"{OOF_FOLDS}-fold out-of-fold"
    assert abs(cal["factor"] - 1) > 0.05  # a factor of 1 would not show that it is applied
    # greedy ranks by the mean, which recalibration leaves alone: the same batch, std × factor
    assert scaled["inchikey"].tolist() == raw["inchikey"].tolist()
    np.testing.assert_allclose(scaled["predicted_mean"], raw["predicted_mean"], rtol=1e-12)
    np.testing.assert_allclose(scaled["predicted_std"], raw["predicted_std"] * cal["factor"], rtol=1e-9)
    # the maximum-likelihood factor lowers the held-out NLL it was fitted on
    assert cal["after"]["nll"] <= cal["before"]["nll"]
    # compute per phase: CPU-seconds spent, no GPU for a forest
    assert set(it["cpu_seconds"]) == {"train", "score", "select"} and it["cpu_seconds"]["train"] > 0
    assert it["gpu_seconds"] == {"train": 0.0, "score": 0.0, "select": 0.0}


def test_worker_processes_score_with_the_recalibrated_std(tmp_path, files):
    """The workers load the model from the campaign folder: the saved model is the calibrated one."""
    here, _ = _propose(tmp_path / "here", files, "scale")
    workers = LocalExecutor(2, preload=("molops.active.scan",))
    there, it = _propose(tmp_path / "there", files, "scale", workers)
    pd.testing.assert_frame_equal(here, there)
    assert it["cpu_seconds"]["score"] > 0


def _burn(keys: np.ndarray, smiles: np.ndarray, chunk: int) -> tuple[np.ndarray, None]:
    """A scorer that spends 50 ms of CPU per chunk and scores nothing."""
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    return np.zeros(len(keys), dtype=bool), None


def test_the_cpu_of_chunks_scored_in_worker_processes_is_gathered(tmp_path, files):
    """Worker processes are not this process's reaped children (they fork from a fork server), so
    each task measures its own CPU; chunks scored here are not counted twice."""
    ws = measured_workspace(tmp_path / "ws", files)
    campaign = Campaign.create(ws, "c", dataset="fs", pool=files["pool"], objective=OBJECTIVE, recipe=RECIPE)
    campaign.propose(track=False)  # builds the pool's identity table
    identity = pool_identity(ws, files["pool"], None)
    chunks = -(-identity.rows() // 100)
    for executor, expected in ((LocalExecutor(2), 0.05 * chunks), (None, 0.0)):
        scan = Scan(window=10, sample=10, rng=np.random.default_rng(0))
        scan_pool(scan, identity, {}, _burn, chunk_rows=100, executor=executor)
        assert expected <= scan.task_cpu < expected + 0.05 * chunks + 1.0


def test_the_holdout_replaces_cross_fitting_on_a_large_training_set(monkeypatch):
    from molops.active import recalibrate

    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4))
    y = X[:, 0] + 2.0 * rng.standard_normal(300)
    monkeypatch.setattr(recalibrate, "OOF_MAX_ROWS", 100)
    model, report = fit_surrogate(get_model("rf", n_estimators=10, n_jobs=1), X, y, "scale", seed=1)
    assert report["fitted_on"] == f"1 of {OOF_FOLDS} folds held out" and report["n"] == 300 // OOF_FOLDS
    plain = get_model("rf", n_estimators=10, n_jobs=1).fit(X, y)
    np.testing.assert_allclose(model.predict(X[:5])[1], plain.predict(X[:5])[1] * report["factor"])
    few, note = fit_surrogate(get_model("rf", n_estimators=10, n_jobs=1), X[:6], y[:6], "auto")
    assert note["chosen"] == "none" and "only 6 training molecules" in note["note"]
    assert not hasattr(few, "calibrator")


def test_a_recipe_refuses_an_unknown_recalibration():
    with pytest.raises(ValueError, match="recalibrate"):
        Recipe(recalibrate="platt")
    assert Recipe().recalibrate == "none"  # the benchmark did not support auto (recipe.py)
