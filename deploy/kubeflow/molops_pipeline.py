"""The molops loop as a Kubeflow (KFP v2) pipeline: each step a container of the molops image.

    init → ingest → features → train → propose → monitor → retrain

The same steps as deploy/airflow/molops_loop.py: each pod runs ``molops-step STEP`` (the image's
copy of deploy/steps/molops-step.sh, whose header says what each step does), so the two
orchestrators run one script. The pipeline's parameters reach the script as options
(``--dataset VALUE``), never pasted into a shell. Every pod mounts the workspace from the
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
#: Where every pod mounts the workspace's volume.
WORKSPACE = "/workspace"


def _spec(step: str, **options: object) -> dsl.ContainerSpec:
    """``molops-step STEP --workspace /workspace --NAME VALUE ...`` (option names: the script's,
    underscores as dashes). The image's entrypoint (tini, molops) is replaced by the script."""
    args: list[object] = ["--workspace", WORKSPACE]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", value]
    return dsl.ContainerSpec(image=IMAGE, command=["molops-step", step], args=args)


@dsl.container_component
def init_workspace() -> dsl.ContainerSpec:
    """Create the workspace when it has no molops.toml."""
    return _spec("init")


@dsl.container_component
def ingest(dataset: str, target: str, units: str, campaign: str, drop: str) -> dsl.ContainerSpec:
    """Ingest the lab's drop file, if any."""
    return _spec("ingest", dataset=dataset, target=target, units=units, campaign=campaign, drop=drop)


@dsl.container_component
def features(dataset: str, featurizer: str) -> dsl.ContainerSpec:
    """Featurize the dataset's new molecules."""
    return _spec("features", dataset=dataset, featurizer=featurizer)


@dsl.container_component
def train(
    dataset: str, target: str, model: str, model_kind: str, featurizer: str, train_params: str
) -> dsl.ContainerSpec:
    """Train and register the first model (afterwards: nothing, retrain decides)."""
    return _spec(
        "train",
        dataset=dataset,
        target=target,
        model=model,
        model_kind=model_kind,
        featurizer=featurizer,
        train_params=train_params,
    )


@dsl.container_component
def propose(
    dataset: str, target: str, campaign: str, pool: str, maximize: bool, batch_size: int
) -> dsl.ContainerSpec:
    """Propose the next batch of experiments (creating the campaign from the pool first)."""
    return _spec(
        "propose",
        dataset=dataset,
        target=target,
        campaign=campaign,
        pool=pool,
        maximize=maximize,
        batch_size=batch_size,
    )


@dsl.container_component
def monitor(model: str) -> dsl.ContainerSpec:
    """Check the champion's recent predictions; an HTML report in reports/."""
    return _spec("monitor", model=model)


@dsl.container_component
def retrain(model: str) -> dsl.ContainerSpec:
    """Retrain if a trigger fired; promote only through the champion/challenger gate."""
    return _spec("retrain", model=model)


def _in_workspace(task: dsl.PipelineTask, workspace_pvc: str) -> dsl.PipelineTask:
    """What every step's pod needs: the workspace, the database password, the non-root user, no cache."""
    kubernetes.mount_pvc(task, pvc_name=workspace_pvc, mount_path=WORKSPACE)
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
    units: str = "",
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
        ingest(dataset=dataset, target=target, units=units, campaign=campaign, drop=drop).set_display_name(
            "ingest"
        ),
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
