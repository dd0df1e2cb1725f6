"""The molops loop as an Airflow DAG: each step is one ``molops`` command in a shell.

    init → ingest → features → train → propose → monitor → retrain

- ``init``: ``molops init`` when the workspace has no molops.toml yet (a fresh server).
- ``ingest``: takes the lab's drop file, when there is one: ``molops campaign ingest`` once the
  campaign exists (results matched to its proposals), ``molops data ingest`` before. The file is
  then renamed ``*.ingested-TIME`` so the next run does not take it twice. No file: skipped.
- ``features``: ``molops features build`` on the dataset's latest version (only new molecules).
- ``train``: ``molops train`` the first time; skipped once the model is registered, because from
  then on a new version reaches production only through ``retrain``'s champion/challenger gate.
- ``propose``: ``molops campaign propose`` (the campaign is created first from the ``pool``
  parameter when it does not exist; with no pool and no campaign: skipped).
- ``monitor``: ``molops monitor`` with an HTML report in WORKSPACE/reports/.
- ``retrain``: ``molops retrain --if-needed``: trains a challenger only when a trigger fired (drift,
  live error, new labels, age) and promotes it only if it beats the champion.

Every setting is a DAG parameter, so a run can override it (``airflow dags trigger -c '{...}'``);
their defaults come from the environment of the process that parses this file: ``MOLOPS_BIN`` (the
molops executable; default ``molops`` on PATH, as in the image), ``MOLOPS_WORKSPACE`` (default
``/workspace``, as in the image), and ``MOLOPS_DATASET``, ``MOLOPS_TARGET``, ``MOLOPS_MODEL``,
``MOLOPS_CAMPAIGN``, ``MOLOPS_POOL``, ``MOLOPS_DROP``. molops need not be installed in Airflow's
environment: the tasks only run its executable. Values reach the shell as environment variables,
never pasted into the script, so a parameter cannot inject a command.

Written for Airflow 3 (``airflow.sdk``, BashOperator from apache-airflow-providers-standard);
deploy/airflow/requirements.txt pins the version it was tested with (docs/deploy.md).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param

#: Shell prelude of every task: fail on any error, run molops on the workspace. Exit code 99 makes
#: BashOperator mark the task skipped (its skip_on_exit_code), which downstream tasks allow.
PRELUDE = 'set -euo pipefail\ncd "$MOLOPS_WORKSPACE"\nmolops() { "$MOLOPS_BIN" "$@"; }\n'
SKIP = 99

# its own prelude: the workspace's folder may not exist yet
INIT = """\
set -euo pipefail
if [ -f "$MOLOPS_WORKSPACE/molops.toml" ]; then echo "workspace $MOLOPS_WORKSPACE exists"; exit 0; fi
"$MOLOPS_BIN" init "$MOLOPS_WORKSPACE" --json
"""

INGEST = """\
if [ -z "$DROP" ] || [ ! -f "$DROP" ]; then echo "no lab results at '$DROP': nothing to ingest"; exit 99; fi
if [ -n "$CAMPAIGN" ] && molops campaign status "$CAMPAIGN" --json >/dev/null 2>&1; then
    molops campaign ingest "$CAMPAIGN" "$DROP" --target-col "$TARGET" --json
else
    molops data ingest "$DROP" -d "$DATASET" --target-col "$TARGET" ${UNITS:+--units "$UNITS"} --json
fi
mv "$DROP" "$DROP.ingested-$(date -u +%Y%m%dT%H%M%SZ)"
"""

FEATURES = """\
molops features build -f "$FEATURIZER" -d "$DATASET" --json
"""

TRAIN = """\
if molops models show "$MODEL" --json >/dev/null 2>&1; then
    echo "$MODEL is registered: new versions come through the retrain step's gate"; exit 99
fi
molops train -d "$DATASET" --target "$TARGET" -m "$MODEL_KIND" -f "$FEATURIZER" --name "$MODEL" \\
    ${TRAIN_PARAMS:+--params "$TRAIN_PARAMS"} --json
"""

PROPOSE = """\
if [ -z "$CAMPAIGN" ]; then echo "no campaign set"; exit 99; fi
if ! molops campaign status "$CAMPAIGN" --json >/dev/null 2>&1; then
    if [ -z "$POOL" ]; then echo "no campaign $CAMPAIGN and no pool to create it from"; exit 99; fi
    if [ "$MAXIMIZE" = "True" ]; then direction=--maximize; else direction=--minimize; fi
    molops campaign create "$CAMPAIGN" -d "$DATASET" --pool "$POOL" --target "$TARGET" "$direction" \\
        --batch-size "$BATCH_SIZE" --json
fi
molops campaign propose "$CAMPAIGN" --json
"""

MONITOR = """\
mkdir -p reports
molops monitor -m "$MODEL" --report "reports/monitor-$(date -u +%Y%m%dT%H%M%SZ).html" --json
"""

RETRAIN = """\
molops retrain -m "$MODEL" --if-needed --json
"""


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


DATASET = _env("MOLOPS_DATASET", "solubility")
TARGET = _env("MOLOPS_TARGET", "SOL")

PARAMS = {
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


def step(task_id: str, script: str, doc: str, prelude: str = PRELUDE) -> BashOperator:
    """One molops step. Runs when nothing upstream failed: a skipped step (no new results, model
    already registered) does not stop the rest of the loop."""
    return BashOperator(
        task_id=task_id,
        bash_command=prelude + script,
        env=ENV,
        append_env=True,  # PATH, HOME, AWS_* and PGPASSWORD reach molops
        skip_on_exit_code=SKIP,
        trigger_rule="none_failed",
        doc_md=doc,
    )


with DAG(
    dag_id="molops_loop",
    description="ingest → features → train → propose → monitor → retrain, each a molops command",
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
        step("init", INIT, "Create the workspace when it has no molops.toml.", prelude="")
        >> step("ingest", INGEST, "Ingest the lab's drop file, if any.")
        >> step("features", FEATURES, "Featurize the dataset's new molecules.")
        >> step("train", TRAIN, "Train and register the first model.")
        >> step("propose", PROPOSE, "Propose the next batch of experiments.")
        >> step("monitor", MONITOR, "Check the champion's recent predictions.")
        >> step("retrain", RETRAIN, "Retrain if a trigger fired; promote only through the gate.")
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
