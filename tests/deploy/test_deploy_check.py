"""``make deploy-check`` passes on the tree, its validators reject what they must, and the rendered
overlays and workflows keep the properties deploy/README.md promises (non-root, read-only root,
probes, no secret in prod, promotion only through the retrain gate).

The tools live in .venv-deploy, and Airflow in .venv-airflow, which make creates from
deploy/requirements.txt and deploy/airflow/requirements.txt on first use (it needs the package
index: without it the tests skip, and fail under CI).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ._venvs import made

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ROOT / "deploy" / "kubernetes" / "overlays"
WORKLOADS = {"Deployment", "CronJob"}


def _call(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def tools() -> Path:
    # both venvs, each under its lock: `make deploy-check` would otherwise make .venv-airflow
    # itself, racing another worker's test_airflow_dag.py doing the same
    made(".venv-airflow", "deploy/airflow/requirements.txt")
    return made(".venv-deploy", "deploy/requirements.txt")


def _render(tools: Path, overlay: str) -> list[dict[str, Any]]:
    done = _call(tools / "kubectl", "kustomize", OVERLAYS / overlay)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def test_make_deploy_check_passes(tools):
    done = _call("make", "-s", "deploy-check", timeout=900)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    for check in ("hadolint", "kubectl kustomize", "kubernetes-validate", "checkov", "actionlint", "kfp"):
        assert f"== {check}" in done.stdout, f"{check} did not run:\n{done.stdout}"
    assert "== check-jsonschema" in done.stdout
    assert "== airflow DAG import" in done.stdout
    assert "molops_loop: 7 tasks: init -> ingest -> features -> train -> propose" in done.stdout
    assert "deploy-check: all checks passed" in done.stdout


def test_kubernetes_validate_is_strict(tools, tmp_path):
    """A misspelt field (``replica``) is an error, not a silently ignored key."""
    manifest = tmp_path / "typo.yaml"
    manifest.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"
        "spec:\n  replica: 2\n  selector: {matchLabels: {a: b}}\n"
        "  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: c, image: i}]}\n"
    )
    done = _call(tools / "kubernetes-validate", "--strict", "--kubernetes-version", "1.33.0", manifest)
    assert done.returncode != 0 and "replica" in done.stdout + done.stderr, done.stdout + done.stderr


def test_hadolint_rejects_an_unpinned_apt_install(tools, tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM debian:bookworm\nRUN apt-get update && apt-get install -y python3\n")
    done = _call(tools / "hadolint", dockerfile)
    assert done.returncode != 0 and "DL3008" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_workload_runs_non_root_on_a_read_only_root(tools, overlay):
    workloads = [obj for obj in _render(tools, overlay) if obj["kind"] in WORKLOADS]
    assert {obj["metadata"]["name"] for obj in workloads} == {
        "molops-serve", "molops-ui", "molops-monitor", "molops-retrain", "molops-campaign-run",
    }  # fmt: skip
    for obj in workloads:
        pod = _pod_spec(obj)
        assert pod["securityContext"]["runAsNonRoot"] is True, obj["metadata"]["name"]
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
            # everything a command writes is on a volume: the workspace, /tmp and HOME
            mounted = {mount["mountPath"] for mount in container["volumeMounts"]}
            assert {"/workspace", "/workspace/molops.toml", "/tmp", "/home/molops"} <= mounted


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_the_service_probes_and_scaling(tools, overlay):
    objects = {(obj["kind"], obj["metadata"]["name"]): obj for obj in _render(tools, overlay)}
    serve = _pod_spec(objects["Deployment", "molops-serve"])["containers"][0]
    assert serve["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert serve["livenessProbe"]["httpGet"]["path"] == "/healthz"
    metrics = objects["HorizontalPodAutoscaler", "molops-serve"]["spec"]["metrics"]
    assert {metric["type"] for metric in metrics} == {"Resource", "Pods"}
    assert ("PodDisruptionBudget", "molops-serve") in objects
    assert ("ServiceMonitor", "molops-serve") in objects


def test_jobs_run_the_real_commands(tools):
    objects = {obj["metadata"]["name"]: obj for obj in _render(tools, "prod") if obj["kind"] == "CronJob"}
    args = {name: _pod_spec(obj)["containers"][0]["args"] for name, obj in objects.items()}
    assert args["molops-monitor"][:3] == ["monitor", "-m", "$(MOLOPS_MODEL)"]
    assert args["molops-retrain"] == ["retrain", "-m", "$(MOLOPS_MODEL)", "--if-needed", "--json"]
    assert args["molops-campaign-run"][:2] == ["campaign", "run"]
    assert "--oracle" in args["molops-campaign-run"]
    assert objects["molops-campaign-run"]["spec"]["suspend"] is True  # a template, never scheduled


def test_prod_holds_no_secret_and_assumes_an_iam_role(tools):
    objects = _render(tools, "prod")
    assert not [obj for obj in objects if obj["kind"] == "Secret"]
    account = next(obj for obj in objects if obj["kind"] == "ServiceAccount")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    for obj in objects:
        if obj["kind"] in WORKLOADS:
            names = {env["name"] for c in _pod_spec(obj)["containers"] for env in c.get("env", [])}
            assert not names & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_production_promotion_only_through_the_retrain_gate():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "promote.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"workflow_dispatch"}, "no push, schedule or other event may promote"
    (job,) = workflow["jobs"].values()
    assert job["environment"] == "production"  # its protection rules gate the run
    commands = "\n".join(step.get("run", "") for step in job["steps"])
    molops_calls = [line.strip() for line in commands.splitlines() if line.strip().startswith("molops ")]
    assert [call.split()[:2] for call in molops_calls] == [["molops", "init"], ["molops", "retrain"]]
    assert "--if-needed" in molops_calls[1]
