"""A tracked training: the result, the MLflow run it logs, errors, dataset versions and splits."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from molops._version import __version__
from molops.errors import DatasetNotFoundError, MolopsError
from molops.features import get_featurizer
from molops.models.splits import SplitError
from molops.tracking._mlflow import Quiet, client
from molops.tracking.model_choice import DEFAULT_FEATURIZER
from molops.tracking.registry import ModelRegistry
from molops.tracking.training import TrainRequest, train

from .conftest import QUICK

pytestmark = pytest.mark.slow

METRICS = {"rmse", "mae", "r2", "spearman", "spearman_abs_error_std", "nll", "miscalibration_area"}


def _run(tracked, run_id):
    with Quiet():
        return client(tracked.uri).get_run(run_id)


def _artifacts(run) -> Path:
    """The run's artifact folder (a local file store in these tests)."""
    uri = urlparse(run.info.artifact_uri)
    assert uri.scheme == "file"
    return Path(unquote(uri.path))


def test_result_fields(tracked):
    r = tracked.runs["v1"]
    assert len(r.run_id) == 32
    assert (r.model_name, r.model_version, r.alias) == ("tiny-expt", 1, "champion")
    assert (r.dataset, r.dataset_version, r.target, r.model) == ("tiny", 2, "expt", "rf")
    assert r.featurizer == get_featurizer(DEFAULT_FEATURIZER).spec
    assert set(r.metrics) >= METRICS
    assert set(r.valid_metrics) >= METRICS
    assert r.metrics["rmse"] > 0
    assert r.params["n_estimators"] == QUICK["n_estimators"]
    assert r.params["seed"] == 0
    assert (r.split["name"], r.split["seed"]) == ("random", 0)
    assert r.n_train == r.split["sizes"]["train"] + r.split["sizes"]["valid"]
    assert r.n_test == r.split["sizes"]["test"] > 0
    assert r.n_train + r.n_test == r.split["n"]
    assert r.dropped == {"invalid_features": 0}
    assert r.tuning is None and r.comparison is None
    assert r.model_uri == "models:/tiny-expt/1"
    assert r.tracking_uri == tracked.uri == f"sqlite:///{(tracked.ws.root / 'mlflow.db').resolve()}"
    assert r.seconds > 0
    json.dumps(r.model_dump())  # what `molops train --json` prints


def test_the_run_has_params_tags_metrics_and_artifacts(tracked):
    r = tracked.runs["v1"]
    run = _run(tracked, r.run_id)
    params, tags, metrics = run.data.params, run.data.tags, run.data.metrics
    assert {k: params[k] for k in ("dataset", "dataset_version", "target", "model", "split", "seed")} == {
        "dataset": "tiny",
        "dataset_version": "2",
        "target": "expt",
        "model": "rf",
        "split": "random",
        "seed": "0",
    }
    assert params["featurizer"] == r.featurizer
    assert params["model.n_estimators"] == str(QUICK["n_estimators"])
    assert params["tune"] == "False"
    assert tags["molops.dataset"] == "tiny"
    assert tags["molops.dataset_version"] == "2"
    assert tags["molops.featurizer_hash"] == get_featurizer(r.featurizer).hash
    assert tags["molops.version"] == __version__
    assert tags["molops.tuned"] == "false"
    assert json.loads(tags["molops.environment"])["molops"] == __version__
    for name, value in r.metrics.items():
        assert metrics[name] == pytest.approx(value)
    assert metrics["valid_rmse"] == pytest.approx(r.valid_metrics["rmse"])

    folder = _artifacts(run)
    for plot in ("plots/parity.png", "plots/calibration.png"):
        assert (folder / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot
    assert json.loads((folder / "run" / "split.json").read_text()) == r.split
    env = json.loads((folder / "run" / "environment.json").read_text())
    assert env["code"]["molops_version"] == __version__
    assert env["packages"]["molops"] == __version__
    assert not (folder / "run" / "tuning.json").exists()


def test_the_experiment_is_named_after_the_model(tracked):
    with Quiet():
        experiment = client(tracked.uri).get_experiment_by_name("tiny-expt")
    assert experiment is not None
    assert experiment.tags["molops.target"] == "expt"
    assert _run(tracked, tracked.runs["v2"].run_id).info.experiment_id == experiment.experiment_id


def test_bad_requests_fail_clearly_and_register_nothing(tracked):
    names = ModelRegistry(tracked.uri).names()
    ws = tracked.ws
    with pytest.raises(MolopsError, match=r"no target 'nope'.*targets are: expt"):
        train(ws, TrainRequest(dataset="tiny", target="nope", model="rf", params=QUICK))
    with pytest.raises(DatasetNotFoundError, match=r"no dataset 'nope'.*datasets: tiny"):
        train(ws, TrainRequest(dataset="nope", model="rf"))
    with pytest.raises(MolopsError, match=r"unknown model 'bogus'; expected 'auto' or one of: .*rf"):
        train(ws, TrainRequest(dataset="tiny", model="bogus"))
    with pytest.raises(MolopsError, match=r"featurizer 'graph' is only for models that take SMILES"):
        train(ws, TrainRequest(dataset="tiny", model="rf", featurizer="graph"))
    with pytest.raises(MolopsError, match=r"model 'dmpnn' builds its own features .* 'morgan'"):
        train(ws, TrainRequest(dataset="tiny", model="dmpnn", featurizer="morgan"))
    with pytest.raises(SplitError, match=r"leaves valid empty.*use a random split"):
        train(ws, TrainRequest(dataset="tiny", model="rf", split="scaffold"))
    with pytest.raises(MolopsError, match="version 9"):
        train(ws, TrainRequest(dataset="tiny", version=9, model="rf"))
    assert ModelRegistry(tracked.uri).names() == names


def test_an_older_dataset_version(tracked):
    old, new = tracked.runs["old"], tracked.runs["v1"]
    assert (old.model_name, old.model_version, old.alias) == ("tiny-old", 1, "champion")
    assert old.dataset_version == 1
    assert old.split["n"] < new.split["n"]
    run = _run(tracked, old.run_id)
    assert run.data.params["dataset_version"] == "1"
    assert run.data.tags["molops.dataset_version"] == "1"


@pytest.mark.parametrize("kind", ["time", "scaffold"])
def test_time_and_scaffold_splits(tracked, kind):
    r = tracked.runs[kind]
    assert r.split["name"] == kind
    assert r.split["n"] == tracked.runs["v1"].split["n"]
    assert all(size > 0 for size in r.split["sizes"].values())
    assert r.split["hash"] != tracked.runs["v1"].split["hash"]
    assert _run(tracked, r.run_id).data.tags["molops.split"] == kind
    assert set(r.metrics) >= METRICS


def test_the_same_seed_makes_the_same_split(tracked):
    first, again, other = (tracked.runs[k] for k in ("v1", "v2", "v3"))
    assert again.split == first.split
    assert again.metrics == pytest.approx(first.metrics)  # and the same seeded model
    assert other.split["seed"] == 1
    assert other.split["hash"] != first.split["hash"]
