"""The molops loop as a Kubeflow (KFP v2) pipeline: each step a container of the molops image.

    init → ingest → features → train → propose → monitor → retrain

The same steps as deploy/airflow/molops_loop.py (its docstring says what each does). Each step is
a pod running one short shell script around ``molops`` commands; the pipeline's parameters reach
the script as positional arguments, never pasted into it. Every pod mounts the workspace from the
PersistentVolumeClaim ``workspace_pvc`` at /workspace (molops.toml there names the shared storage,
e.g. S3 and Postgres; the lab's drop file lies there too) and reads PGPASSWORD from the Secret
``molops-secrets`` when it exists. Caching is off: a step's result depends on the workspace, not
only on its parameters.

    python deploy/kubeflow/molops_pipeline.py OUT.yaml     # MOLOPS_IMAGE=REGISTRY/molops:TAG

compiles it (what `make deploy-check` does); upload OUT.yaml in the Kubeflow UI or with
``kfp.Client().create_run_from_pipeline_package``.
"""

# no `from __future__ import annotations`: kfp reads the components' annotations as types

import itertools
import os
import sys

from kfp import compiler, dsl, kubernetes

#: The image of deploy/docker, as the cluster pulls it.
IMAGE = os.environ.get("MOLOPS_IMAGE", "localhost/molops:0.1.0")
#: The image's non-root user (deploy/docker/Dockerfile).
UID = 10001

#: Every step: fail on any error, work in the workspace; "$@" holds the step's arguments.
PRELUDE = "set -euo pipefail\ncd /workspace\n"

INIT = """\
if [ -f molops.toml ]; then echo "workspace exists"; exit 0; fi
molops init /workspace --json
"""

# $1 dataset, $2 target, $3 campaign, $4 drop file
INGEST = """\
if [ -z "$4" ] || [ ! -f "$4" ]; then echo "no lab results at '$4': nothing to ingest"; exit 0; fi
if [ -n "$3" ] && molops campaign status "$3" --json >/dev/null 2>&1; then
    molops campaign ingest "$3" "$4" --target-col "$2" --json
else
    molops data ingest "$4" -d "$1" --target-col "$2" --json
fi
mv "$4" "$4.ingested-$(date -u +%Y%m%dT%H%M%SZ)"
"""

# $1 dataset, $2 featurizer
FEATURES = """\
molops features build -f "$2" -d "$1" --json
"""

# $1 dataset, $2 target, $3 model, $4 model kind, $5 featurizer, $6 params (JSON or empty)
TRAIN = """\
if molops models show "$3" --json >/dev/null 2>&1; then
    echo "$3 is registered: new versions come through the retrain step's gate"; exit 0
fi
molops train -d "$1" --target "$2" -m "$4" -f "$5" --name "$3" ${6:+--params "$6"} --json
"""

# $1 dataset, $2 target, $3 campaign, $4 pool, $5 maximize (true/false), $6 batch size
PROPOSE = """\
if ! molops campaign status "$3" --json >/dev/null 2>&1; then
    if [ -z "$4" ]; then echo "no campaign $3 and no pool to create it from"; exit 0; fi
    if [ "$5" = "true" ]; then direction=--maximize; else direction=--minimize; fi
    molops campaign create "$3" -d "$1" --pool "$4" --target "$2" "$direction" --batch-size "$6" --json
fi
molops campaign propose "$3" --json
"""

# $1 model
MONITOR = """\
mkdir -p reports
molops monitor -m "$1" --report "reports/monitor-$(date -u +%Y%m%dT%H%M%SZ).html" --json
"""

# $1 model
RETRAIN = """\
molops retrain -m "$1" --if-needed --json
"""


def _spec(script: str, *args: object) -> dsl.ContainerSpec:
    # bash -c SCRIPT NAME ARGS...: NAME is $0, ARGS are $1..; the image's entrypoint (tini, molops)
    # is replaced, so `molops` is the one on the image's PATH.
    return dsl.ContainerSpec(
        image=IMAGE, command=["bash", "-c", PRELUDE + script, "molops-step"], args=list(args)
    )


@dsl.container_component
def init_workspace() -> dsl.ContainerSpec:
    """Create the workspace when it has no molops.toml."""
    return _spec(INIT)


@dsl.container_component
def ingest(dataset: str, target: str, campaign: str, drop: str) -> dsl.ContainerSpec:
    """Ingest the lab's drop file, if any."""
    return _spec(INGEST, dataset, target, campaign, drop)


@dsl.container_component
def features(dataset: str, featurizer: str) -> dsl.ContainerSpec:
    """Featurize the dataset's new molecules."""
    return _spec(FEATURES, dataset, featurizer)


@dsl.container_component
def train(
    dataset: str, target: str, model: str, model_kind: str, featurizer: str, train_params: str
) -> dsl.ContainerSpec:
    """Train and register the first model (afterwards: nothing, retrain decides)."""
    return _spec(TRAIN, dataset, target, model, model_kind, featurizer, train_params)


@dsl.container_component
def propose(
    dataset: str, target: str, campaign: str, pool: str, maximize: bool, batch_size: int
) -> dsl.ContainerSpec:
    """Propose the next batch of experiments (creating the campaign from the pool first)."""
    return _spec(PROPOSE, dataset, target, campaign, pool, maximize, batch_size)


@dsl.container_component
def monitor(model: str) -> dsl.ContainerSpec:
    """Check the champion's recent predictions; an HTML report in reports/."""
    return _spec(MONITOR, model)


@dsl.container_component
def retrain(model: str) -> dsl.ContainerSpec:
    """Retrain if a trigger fired; promote only through the champion/challenger gate."""
    return _spec(RETRAIN, model)


def _in_workspace(task: dsl.PipelineTask, workspace_pvc: str) -> dsl.PipelineTask:
    """What every step's pod needs: the workspace, the database password, the non-root user, no cache."""
    kubernetes.mount_pvc(task, pvc_name=workspace_pvc, mount_path="/workspace")
    kubernetes.use_secret_as_env(
        task,
        secret_name="molops-secrets",
        secret_key_to_env={"postgres-password": "PGPASSWORD"},
        optional=True,
    )
    kubernetes.set_security_context(task, run_as_user=UID, run_as_group=UID, run_as_non_root=True)
    task.set_caching_options(enable_caching=False)
    task.set_cpu_limit("2").set_memory_limit("4G")
    return task


@dsl.pipeline(name="molops-loop", description="ingest, features, train, propose, monitor, retrain")
def molops_loop(
    workspace_pvc: str = "molops-workspace",
    dataset: str = "solubility",
    target: str = "SOL",
    model: str = "solubility-SOL",
    model_kind: str = "auto",
    featurizer: str = "morgan:counts=true",
    train_params: str = "",
    campaign: str = "solubility-loop",
    pool: str = "",
    maximize: bool = True,
    batch_size: int = 96,
    drop: str = "incoming/results.csv",
) -> None:
    """One turn of the loop; parameters as in deploy/airflow/molops_loop.py."""
    steps = [
        init_workspace().set_display_name("init"),
        ingest(dataset=dataset, target=target, campaign=campaign, drop=drop).set_display_name("ingest"),
        features(dataset=dataset, featurizer=featurizer).set_display_name("features"),
        train(
            dataset=dataset,
            target=target,
            model=model,
            model_kind=model_kind,
            featurizer=featurizer,
            train_params=train_params,
        ).set_display_name("train"),
        propose(
            dataset=dataset,
            target=target,
            campaign=campaign,
            pool=pool,
            maximize=maximize,
            batch_size=batch_size,
        ).set_display_name("propose"),
        monitor(model=model).set_display_name("monitor"),
        retrain(model=model).set_display_name("retrain"),
    ]
    for before, after in itertools.pairwise(steps):
        after.after(before)
    for task in steps:
        _in_workspace(task, workspace_pvc)


if __name__ == "__main__":
    compiler.Compiler().compile(
        molops_loop, package_path=sys.argv[1] if len(sys.argv) > 1 else "molops_loop.yaml"
    )
