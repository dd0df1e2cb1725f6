"""deploy/kubeflow/molops_pipeline.py compiles with kfp (in .venv-deploy) to a pipeline whose steps
run the loop in order, each ``molops-step STEP`` (deploy/steps/molops-step.sh, as the image installs
it) in the molops image on the workspace's volume, uncached, non-root; and the compiled steps' own
commands, run here one after the other as Kubeflow would run them in their pods (the workspace a
temporary folder, `molops-step` this checkout's script, `molops` this checkout's), take FreeSolv from
a drop file to a registered model, a proposed batch and a monitor report. The Airflow DAG runs the
same script with its settings in the environment; here they arrive as options, as Kubeflow's
launcher renders them (booleans and integers as JSON).

No Kubeflow cluster is reachable here: what Kubeflow adds (scheduling the pods, mounting the
volume) is not exercised; what the pods run is.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import datamol as dm
import pytest
import yaml

from ._venvs import made

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
STEPS = ["init-workspace", "ingest", "features", "train", "propose", "monitor", "retrain"]
PLACEHOLDER = re.compile(r"\{\{\$\.inputs\.parameters\['(\w+)'\]\}\}")


def _call(*args: object, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pipeline spec and its Kubernetes platform spec, as `make deploy-check` compiles them."""
    python = made(".venv-deploy", "deploy/requirements.txt") / "python"
    out = tmp_path_factory.mktemp("kfp") / "molops_loop.yaml"
    env = {**os.environ, "MOLOPS_IMAGE": "registry.example/molops:1.2.3"}
    done = _call(python, "-W", "error", ROOT / "deploy/kubeflow/molops_pipeline.py", out, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    spec, platform = yaml.safe_load_all(out.read_text())
    return spec, platform["platforms"]["kubernetes"]


def _fill(arg: str, inputs: dict[str, str]) -> str:
    """*arg* with its input placeholders replaced by their values, as Kubeflow's launcher does."""
    return PLACEHOLDER.sub(lambda match: inputs[match[1]], arg)


def _order(spec: dict[str, Any]) -> list[str]:
    tasks = spec["root"]["dag"]["tasks"]
    order = [name for name, task in tasks.items() if not task.get("dependentTasks")]
    while len(order) < len(tasks):
        (after,) = [name for name, task in tasks.items() if task.get("dependentTasks") == [order[-1]]]
        order.append(after)
    return order


def test_the_pipeline_runs_the_loop_in_order_in_the_image(compiled):
    spec, platform = compiled
    assert _order(spec) == STEPS
    executors = spec["deploymentSpec"]["executors"]
    # each step's options: the pipeline parameters the script needs for it
    options = {
        "init-workspace": [],
        "ingest": ["dataset", "target", "units", "campaign", "drop"],
        "features": ["dataset", "featurizer"],
        "train": ["dataset", "target", "model", "model-kind", "featurizer", "train-params"],
        "propose": ["dataset", "target", "campaign", "pool", "maximize", "batch-size"],
        "monitor": ["model"],
        "retrain": ["model"],
    }
    for name, task in spec["root"]["dag"]["tasks"].items():
        # a step's result depends on the workspace, not only on its inputs: never cached
        assert task["cachingOptions"].get("enableCache", False) is False, name
        label = spec["components"][task["componentRef"]["name"]]["executorLabel"]
        container = executors[label]["container"]
        assert container["image"] == "registry.example/molops:1.2.3"
        assert container["command"] == ["molops-step", name.removesuffix("-workspace")]
        args = container["args"]
        assert args[:2] == ["--workspace", "/workspace"]
        assert args[2::2] == [f"--{option}" for option in options[name]], name
        assert all(PLACEHOLDER.fullmatch(value) for value in args[3::2]), args
        pod = platform["deploymentSpec"]["executors"][label]
        assert pod["pvcMount"][0]["mountPath"] == "/workspace"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == "10001"
        secret = pod["secretAsEnv"][0]
        assert secret["keyToEnv"] == [{"envVar": "PGPASSWORD", "secretKey": "postgres-password"}]


def test_the_compiled_steps_run_the_loop(compiled, tmp_path):
    spec, _ = compiled
    workspace = tmp_path / "workspace"
    freesolv = dm.data.freesolv()[["smiles", "expt"]]
    pool = tmp_path / "pool.csv"
    freesolv.iloc[300:500][["smiles"]].to_csv(pool, index=False)
    (workspace / "incoming").mkdir(parents=True)
    freesolv.iloc[:300].to_csv(workspace / "incoming" / "results.csv", index=False)
    defaults = spec["root"]["inputDefinitions"]["parameters"]
    arguments = {
        **{name: param["defaultValue"] for name, param in defaults.items()},
        "dataset": "freesolv",
        "target": "expt",
        "model": "freesolv-expt",
        "model_kind": "rf",
        "train_params": '{"n_estimators": 50}',
        "campaign": "loop",
        "pool": str(pool),
        "maximize": False,
        "batch_size": 8,
    }
    # what Kubeflow's launcher puts in place of each placeholder: strings as they are, the rest as JSON
    text = {name: value if isinstance(value, str) else json.dumps(value) for name, value in arguments.items()}
    # the image's PATH: molops-step (/usr/local/bin there) and molops
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "molops-step").symlink_to(ROOT / "deploy" / "steps" / "molops-step.sh")
    path = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {**os.environ, "PATH": path}
    tasks = spec["root"]["dag"]["tasks"]
    for name in _order(spec):
        task = tasks[name]
        label = spec["components"][task["componentRef"]["name"]]["executorLabel"]
        container = spec["deploymentSpec"]["executors"][label]["container"]
        inputs = {
            key: text[value["componentInputParameter"]]
            for key, value in task.get("inputs", {}).get("parameters", {}).items()
        }
        # the pod's /workspace volume is the temporary workspace here
        args = [_fill(arg, inputs).replace("/workspace", str(workspace)) for arg in container["args"]]
        done = _call(*container["command"], *args, env=env, timeout=600)
        assert done.returncode == 0, f"{name}: {done.stdout[-4000:]}\n{done.stderr[-4000:]}"

    def molops(*args: str) -> Any:
        done = _call(Path(sys.executable).parent / "molops", "-w", workspace, *args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert len(molops("data", "versions", "freesolv")["versions"]) == 1
    assert molops("models", "show", "freesolv-expt")["aliases"] == {"champion": 1}
    assert len(molops("campaign", "status", "loop")["iterations"]) == 1
    assert len(list((workspace / "reports").glob("monitor-*.html"))) == 1
    assert len(list((workspace / "incoming").glob("results.csv.ingested-*"))) == 1
