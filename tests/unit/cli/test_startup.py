"""Start-up cost: --help, a mistyped option and reading a workspace import neither the model zoo
nor MLflow.

Each check runs in a fresh interpreter: this process has long imported everything.
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import get_args

import numpy as np
import pytest

from molops.cli import train
from molops.models.base import MODELS, get_model
from molops.models.splits import SPLIT_KINDS
from molops.models.transforms import Kind

#: Imported only by commands that train, predict or read the registry.
HEAVY = ("mlflow", "lightgbm", "sklearn", "optuna", "torch")

_PROBE = """
import json, sys
from molops.cli.main import main
argv, heavy, report = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
sys.argv = ["molops", *argv]
code = None
try:
    main()
except SystemExit as exc:
    code = exc.code
with open(report, "w") as f:
    json.dump({"code": code, "loaded": [m for m in heavy if m in sys.modules]}, f)
"""


def _probe(argv: list[str], tmp_path, heavy: tuple[str, ...] = HEAVY) -> dict:
    report = tmp_path / "report.json"
    report.unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argv), json.dumps(heavy), str(report)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert report.is_file(), proc.stderr
    return json.loads(report.read_text())


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["models", "--help"],
        ["train", "--help"],
        ["train", "-d", "x", "-m", "xgboost"],
        ["train", "-d", "x", "--split", "scafold"],
        ["train", "-d", "x", "--candidates", "rf,xgb"],
        ["predict", "-m", "m", "in.csv", "out.csv", "--format", "xlsx"],
    ],
    ids=" ".join,
)
def test_help_and_option_errors_import_nothing_heavy(argv, tmp_path):
    result = _probe(argv, tmp_path)
    assert result["code"] in (0, 2, None)
    assert result["loaded"] == []


@pytest.fixture(scope="module")
def initialised(tmp_path_factory) -> Path:
    """One workspace made by ``molops init`` (in a fresh interpreter too), only read by the tests."""
    root = tmp_path_factory.mktemp("startup")
    assert _probe(["init", "ws"], root)["code"] in (0, None)
    return root / "ws"


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "list"],
        ["data", "show", "nope"],
        ["audit"],
        ["campaign", "list"],
        ["campaign", "status", "nope"],
    ],
    ids=" ".join,
)
def test_workspace_reads_import_no_model_library(argv, initialised, tmp_path):
    """The commands the tests (and users) run most read tables: no MLflow, no model library, and no
    pyarrow.dataset (it imports pandas) or scipy.stats; their imports cost seconds under load."""
    ws = str(initialised)
    result = _probe(["-w", ws, *argv], tmp_path, heavy=(*HEAVY, "scipy.stats", "pyarrow.dataset"))
    assert result["code"] in (0, 1, 2, None)
    assert result["loaded"] == []


_PREDICT_AFTER_PRELOAD = """
import importlib, pickle, sys
for module in sys.argv[1:]:
    importlib.import_module(module)
before = {name.split(".")[0] for name in sys.modules}
for model, X in pickle.loads(sys.stdin.buffer.read()):
    model.predict(X)
print(" ".join(sorted({name.split(".")[0] for name in sys.modules} - before)))
"""


def test_scoring_workers_preload_what_predicting_imports():
    """The zoo imports its models' libraries only to fit: a pool-scoring worker that unpickles a
    fitted model and predicts must find them already imported by the fork server's preload."""
    from molops.cli._campaign_common import SCORING_PRELOAD

    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, (60, 32)).astype(np.float32)
    y = 2.0 * X[:, 0] + X[:, 1]
    small = {"rf": {"n_estimators": 5}, "lightgbm": {"n_estimators": 5}}
    fitted = [(get_model(name, **params).fit(X, y), X) for name, params in small.items()]
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _PREDICT_AFTER_PRELOAD, *SCORING_PRELOAD],
        input=pickle.dumps(fitted),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    new = proc.stdout.decode().split()
    assert not {"sklearn", "lightgbm", "scipy", "optuna"} & set(new), new


def test_registry_reads_import_no_pyfunc_flavour(initialised, tmp_path):
    """``models list`` needs MLflow's client and SQL store, not ``mlflow.pyfunc`` (only logging and
    loading a model do). ``mlflow.genai`` cannot be left out: ``import mlflow`` imports it."""
    ws = shutil.copytree(initialised, tmp_path / "ws")  # a copy: the listing adds mlflow.db
    heavy = ("mlflow", "mlflow.store.tracking.sqlalchemy_store", "mlflow.pyfunc", "sklearn", "lightgbm")
    result = _probe(["-w", str(ws), "models", "list", "--json"], tmp_path, heavy=heavy)
    assert result["code"] in (0, None)
    assert result["loaded"] == ["mlflow", "mlflow.store.tracking.sqlalchemy_store"]


def test_the_registry_does_not_import_the_model_zoo():
    code = "import sys, molops.tracking.registry, molops.tracking.store; print('lightgbm' in sys.modules)"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert proc.stdout.strip() == "False"  # `molops models list` pays for MLflow only


def test_spelled_out_choices_equal_the_registries():
    assert tuple(MODELS.names()) == train.MODEL_NAMES
    assert tuple(SPLIT_KINDS) == train.SPLIT_NAMES
    assert get_args(Kind) == train.TRANSFORM_NAMES
