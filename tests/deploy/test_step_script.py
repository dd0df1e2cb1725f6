"""deploy/steps/molops-step.sh on its own: how it reads its settings, refuses bad ones in one
sentence, and says "nothing to do" with the exit status its orchestrator asked for.

The loop itself (every step against real molops, through both orchestrators) is run by
test_airflow_dag.py (settings in the environment) and test_kubeflow_pipeline.py (settings as
options); here only what those runs cannot show: the errors, and that a value is never run as a
command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "steps" / "molops-step.sh"
MOLOPS = Path(sys.executable).parent / "molops"
#: what a step may not call: molops would fail with 127 if the script ran it
NO_MOLOPS = "/nonexistent/molops"


def step(*args: object, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    unset = ("DATASET", "TARGET", "MODEL", "CAMPAIGN", "DROP")
    base = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        env={**base, **env},
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_the_script_is_executable_and_parses():
    assert os.access(SCRIPT, os.X_OK), "the DAG runs the checkout's copy itself: keep it executable"
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "molops-step: expected a step (one of: init ingest features train propose monitor retrain)"),
        (("deploy",), "molops-step: unknown step 'deploy'; expected one of: init ingest"),
        (("features", "--datset", "x"), "molops-step: unknown option '--datset' for step features"),
        (("features", "--dataset"), "molops-step: option '--dataset' needs a value"),
    ],
)
def test_a_bad_command_line_is_refused_in_one_sentence(args, message):
    done = step(*args, MOLOPS_BIN=NO_MOLOPS)
    assert done.returncode == 2
    assert done.stderr.startswith(message), done.stderr


def test_a_missing_setting_is_named_with_its_option_and_variable(tmp_path):
    done = step("features", "--workspace", tmp_path, MOLOPS_BIN=NO_MOLOPS)
    assert done.returncode == 2
    assert done.stderr == "molops-step: features needs --dataset (or the variable DATASET), got none\n"


def test_nothing_to_do_exits_with_the_orchestrators_skip_code(tmp_path):
    # no drop file: ingest has nothing to do, and says so without calling molops
    done = step("ingest", "--workspace", tmp_path, "--drop", "lab/today.csv", MOLOPS_BIN=NO_MOLOPS)
    assert done.returncode == 0
    assert done.stdout == "no lab results at 'lab/today.csv': nothing to ingest\n"
    # without --drop (cron, by hand) the drop file is where both orchestrators put it by default
    done = step("ingest", "--workspace", tmp_path, MOLOPS_BIN=NO_MOLOPS)
    assert done.stdout == "no lab results at 'incoming/results.csv': nothing to ingest\n"
    # Airflow's DAG sets 99 in the environment: its task is then marked skipped
    done = step("propose", "--workspace", tmp_path, MOLOPS_BIN=NO_MOLOPS, MOLOPS_STEP_SKIP_CODE="99")
    assert (done.returncode, done.stdout) == (99, "no campaign set\n")


def test_a_value_is_an_argument_never_a_command(tmp_path):
    (tmp_path / "ws").mkdir()
    done = step("ingest", "--workspace", tmp_path / "ws", "--drop", "$(touch pwned); `touch pwned2`",
                MOLOPS_BIN=NO_MOLOPS)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["ws"]


def test_an_option_wins_over_its_variable(tmp_path):
    """Kubeflow passes options, Airflow variables; both at once: the option counts."""
    workspace = tmp_path / "ws"
    done = step("init", "--workspace", workspace, "--molops", MOLOPS,
                MOLOPS_WORKSPACE=str(tmp_path / "elsewhere"), MOLOPS_BIN=NO_MOLOPS)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (workspace / "molops.toml").is_file() and not (tmp_path / "elsewhere").exists()
    # a second init finds it, and a bad direction is refused before anything is created
    assert step("init", MOLOPS_WORKSPACE=str(workspace), MOLOPS_BIN=NO_MOLOPS).stdout == (
        f"workspace {workspace} exists\n"
    )
    options = ["--campaign", "c", "--pool", "pool.csv", "--dataset", "d"]
    options += ["--target", "y", "--batch-size", "4"]
    env = {"MOLOPS_WORKSPACE": str(workspace), "MOLOPS_BIN": str(MOLOPS)}
    done = step("propose", "--maximize", "yes", *options, **env)
    assert done.returncode == 2
    assert done.stderr == "molops-step: --maximize (or MAXIMIZE) must be true or false, got 'yes'\n"


def test_without_a_molops_setting_it_runs_the_molops_on_path(tmp_path):
    """As in the image (and Kubeflow's pods): no --molops, no MOLOPS_BIN."""
    path = os.pathsep.join([str(MOLOPS.parent), os.environ["PATH"]])
    done = step("init", "--workspace", tmp_path / "ws", PATH=path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ws" / "molops.toml").is_file()
