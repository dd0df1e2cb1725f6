"""The molops loop as an Airflow DAG: each task runs one step of deploy/steps/molops-step.sh.

    init → ingest → features → train → propose → monitor → retrain

The steps themselves live in that script (its header says what each does and when it has nothing
to do), which the Kubeflow pipeline (deploy/kubeflow/molops_pipeline.py) and the image run too, so
the orchestrators cannot drift apart. A step with nothing to do (no new results, model already
registered, no campaign) exits 99, which marks its task skipped; the loop goes on.

Every setting is a DAG parameter, so a run can override it (``airflow dags trigger -c '{...}'``);
their defaults come from the environment of the process that parses this file: ``MOLOPS_STEP`` (the
step script; default this checkout's deploy/steps/molops-step.sh next to this folder, else
``molops-step`` on PATH, as in the image), ``MOLOPS_BIN`` (the molops executable; default
``molops`` on PATH), ``MOLOPS_WORKSPACE`` (default ``/workspace``, as in the image), and
``MOLOPS_DATASET``, ``MOLOPS_TARGET``, ``MOLOPS_MODEL``, ``MOLOPS_CAMPAIGN``, ``MOLOPS_POOL``,
``MOLOPS_DROP``. molops need not be installed in Airflow's environment: the tasks only run its
executable. Values reach the script as environment variables, never pasted into a command, so a
parameter cannot inject one.

Written for Airflow 3 (``airflow.sdk``, BashOperator from apache-airflow-providers-standard);
deploy/airflow/requirements.txt pins the version it was tested with (docs/deploy.md).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param

#: The exit status of a step with nothing to do: BashOperator marks the task skipped (its
#: skip_on_exit_code), which downstream tasks allow.
SKIP = 99
#: The step script in this checkout; a DAG copied alone into a dags folder uses the one on PATH.
CHECKOUT_STEP = Path(__file__).resolve().parents[1] / "steps" / "molops-step.sh"


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


DATASET = _env("MOLOPS_DATASET", "solubility")
TARGET = _env("MOLOPS_TARGET", "SOL")

PARAMS = {
    "molops_step": Param(
        _env("MOLOPS_STEP", str(CHECKOUT_STEP) if CHECKOUT_STEP.is_file() else "molops-step"),
        type="string",
        description="The step script (deploy/steps/molops-step.sh).",
    ),
    "molops_bin": Param(_env("MOLOPS_BIN", "molops"), type="string", description="The molops executable."),
    "workspace": Param(_env("MOLOPS_WORKSPACE", "/workspace"), type="string", description="Workspace."),
    "dataset": Param(DATASET, type="string", description="Dataset the lab's results go to."),
    "target": Param(TARGET, type="string", description="Measured column, trained on and optimised."),
    "units": Param("", type="string", description="Units of the target (recorded on first ingest)."),
    "model": Param(_env("MOLOPS_MODEL", f"{DATASET}-{TARGET}"), type="string", description="Model name."),
    "model_kind": Param("auto", type="string", description="First training: auto, rf, lightgbm, ..."),
    "featurizer": Param("morgan:counts=true", type="string", description="Featurizer SPEC."),
    "train_params": Param("", type="string", description="First training: model parameters (JSON)."),
    "campaign": Param(_env("MOLOPS_CAMPAIGN", f"{DATASET}-loop"), type="string", description="Campaign."),
    "pool": Param(_env("MOLOPS_POOL", ""), type="string", description="Candidates, to create the campaign."),
    "maximize": Param(True, type="boolean", description="Whether a higher target is better."),
    "batch_size": Param(96, type="integer", minimum=1, description="Molecules per proposal."),
    "drop": Param(
        _env("MOLOPS_DROP", "incoming/results.csv"),
        type="string",
        description="Where the lab drops new results (relative to the workspace).",
    ),
}

#: Each task's environment: the parameters, rendered by Airflow's templates.
ENV = {
    "MOLOPS_STEP": "{{ params.molops_step }}",
    "MOLOPS_STEP_SKIP_CODE": str(SKIP),
    "MOLOPS_BIN": "{{ params.molops_bin }}",
    "MOLOPS_WORKSPACE": "{{ params.workspace }}",
    "DATASET": "{{ params.dataset }}",
    "TARGET": "{{ params.target }}",
    "UNITS": "{{ params.units }}",
    "MODEL": "{{ params.model }}",
    "MODEL_KIND": "{{ params.model_kind }}",
    "FEATURIZER": "{{ params.featurizer }}",
    "TRAIN_PARAMS": "{{ params.train_params }}",
    "CAMPAIGN": "{{ params.campaign }}",
    "POOL": "{{ params.pool }}",
    "MAXIMIZE": "{{ params.maximize }}",
    "BATCH_SIZE": "{{ params.batch_size }}",
    "DROP": "{{ params.drop }}",
}


def step(task_id: str, doc: str) -> BashOperator:
    """Step *task_id* of the script. Runs when nothing upstream failed: a skipped step (no new
    results, model already registered) does not stop the rest of the loop."""
    return BashOperator(
        task_id=task_id,
        bash_command=f'exec "$MOLOPS_STEP" {task_id}',
        env=ENV,
        append_env=True,  # PATH, HOME, AWS_* and PGPASSWORD reach molops
        skip_on_exit_code=SKIP,
        trigger_rule="none_failed",
        doc_md=doc,
    )


with DAG(
    dag_id="molops_loop",
    description="ingest → features → train → propose → monitor → retrain, each a molops-step",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # the steps of two runs would race on the same workspace
    params=PARAMS,
    # a transient failure (object store, database) gets another try; MOLOPS_AIRFLOW_RETRIES=0 in tests
    default_args={"retries": int(_env("MOLOPS_AIRFLOW_RETRIES", "1")), "retry_delay": timedelta(minutes=5)},
    tags=["molops"],
    doc_md=__doc__,
) as dag:
    (
        step("init", "Create the workspace when it has no molops.toml.")
        >> step("ingest", "Ingest the lab's drop file, if any.")
        >> step("features", "Featurize the dataset's new molecules.")
        >> step("train", "Train and register the first model.")
        >> step("propose", "Propose the next batch of experiments.")
        >> step("monitor", "Check the champion's recent predictions.")
        >> step("retrain", "Retrain if a trigger fired; promote only through the gate.")
    )

if __name__ == "__main__":
    # `python molops_loop.py [CONF_JSON]`: one run in this process (Airflow's dag.test), what
    # tests/deploy/test_airflow_dag.py does; the file must be in Airflow's dags folder.
    import json
    import sys

    run = dag.test(run_conf=json.loads(sys.argv[1]) if len(sys.argv) > 1 else None)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    print(json.dumps({"state": str(run.state), "tasks": states}))
    sys.exit(0 if str(run.state) == "success" else 1)
