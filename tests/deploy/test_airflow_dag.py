"""deploy/airflow/molops_loop.py on a real Airflow: two runs of the DAG (Airflow's ``dag.test()``,
in .venv-airflow's Python, with a throwaway AIRFLOW_HOME and SQLite metadata database) against a
temporary workspace, on FreeSolv, calling this checkout's molops executable; molops itself then
says what the runs left behind.

The first run starts from the lab's first drop of results: the workspace is created, the data
ingested, featurized, a model trained and registered, a campaign created and its first batch
proposed, the model monitored (a report) and the retrain gate asked. The second run starts from the
lab's measurements of that batch: they go back through ``campaign ingest``, ``train`` is skipped
(the model exists: new versions only come through retrain), and the campaign proposes again.

Airflow lives in .venv-airflow, which make creates from deploy/airflow/requirements.txt on first
use (``make deploy-check`` does too); without the package index the test skips, and fails in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import datamol as dm
import pandas as pd
import pytest

from ._venvs import made

# the DAG's two runs take minutes on a busy 2-core machine
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
MOLOPS = Path(sys.executable).parent / "molops"
STEPS = ["init", "ingest", "features", "train", "propose", "monitor", "retrain"]


def _call(
    *args: object, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def airflow_python() -> Path:
    return made(".venv-airflow", "deploy/airflow/requirements.txt") / "python"


def _molops(workspace: Path, *args: str) -> Any:
    done = _call(MOLOPS, "-w", workspace, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_dag_runs_the_loop(airflow_python, tmp_path):
    home, workspace = tmp_path / "airflow", tmp_path / "workspace"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "deploy" / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "MOLOPS_AIRFLOW_RETRIES": "0",  # a failure fails the run now instead of retrying in 5 min
        "PYTHONDONTWRITEBYTECODE": "1",  # nothing written into deploy/airflow
    }
    migrated = _call(airflow_python.parent / "airflow", "db", "migrate", env=env, timeout=600)
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]

    freesolv = dm.data.freesolv()[["smiles", "expt"]]
    pool = tmp_path / "pool.csv"
    freesolv.iloc[300:500][["smiles"]].to_csv(pool, index=False)
    drop = tmp_path / "incoming" / "results.csv"  # the workspace's folder does not exist yet
    drop.parent.mkdir()
    freesolv.iloc[:300].to_csv(drop, index=False)
    conf = {
        "molops_bin": str(MOLOPS),
        "workspace": str(workspace),
        "dataset": "freesolv",
        "target": "expt",
        "units": "kcal/mol",
        "model": "freesolv-expt",
        "model_kind": "rf",
        "train_params": '{"n_estimators": 50}',
        "campaign": "loop",
        "pool": str(pool),
        "maximize": False,
        "batch_size": 8,
        "drop": str(drop),
    }

    def run() -> dict[str, str]:
        done = _call(
            airflow_python,
            ROOT / "deploy" / "airflow" / "molops_loop.py",
            json.dumps(conf),
            env=env,
            timeout=1200,
        )
        assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-4000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["state"] == "success", result
        return result["tasks"]

    # --- first run: from the lab's first results to a champion, a proposal and a report
    assert run() == dict.fromkeys(STEPS, "success")
    assert [
        version["version"] for version in _molops(workspace, "data", "versions", "freesolv")["versions"]
    ] == [1]
    model = _molops(workspace, "models", "show", "freesolv-expt")
    assert model["aliases"] == {"champion": 1}
    assert model["versions"][0]["model"] == "rf"
    status = _molops(workspace, "campaign", "status", "loop")
    assert len(status["iterations"]) == 1 and len(status["open_proposals"]) == 8
    assert len(list((workspace / "reports").glob("monitor-*.html"))) == 1
    assert not drop.exists() and len(list(drop.parent.glob("results.csv.ingested-*"))) == 1

    # --- second run: the lab measured the proposed batch
    proposals = pd.read_parquet(workspace / "campaigns" / "loop" / "proposals" / "iteration-0001.parquet")
    measured = freesolv.iloc[300:500].iloc[proposals["pool_row"]]
    measured.to_csv(drop, index=False)
    tasks = run()
    assert tasks == {**dict.fromkeys(STEPS, "success"), "train": "skipped"}
    versions = _molops(workspace, "data", "versions", "freesolv")["versions"]
    assert [version["version"] for version in versions] == [1, 2]
    # 300 rows: 3 inorganic, and geraniol and nerol are two molecules (E/Z), so 297, and 8 measured
    assert versions[-1]["molecules"] == 297 + 8
    status = _molops(workspace, "campaign", "status", "loop")
    assert len(status["iterations"]) == 2 and len(status["ingests"]) == 1
    assert _molops(workspace, "models", "show", "freesolv-expt")["aliases"] == {"champion": 1}
    assert len(list((workspace / "reports").glob("monitor-*.html"))) == 2
