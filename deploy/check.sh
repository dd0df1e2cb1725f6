#!/usr/bin/env bash
# `make deploy-check`: lint and validate every deploy artifact with real tools, pinned in
# deploy/requirements.txt and installed in .venv-deploy (make does that first).
#   Dockerfile     hadolint; checkov (dockerfile)
#   Kubernetes     kubectl kustomize renders each overlay; kubernetes-validate (strict, against the
#                  Kubernetes JSON schemas); checkov (kubernetes) on what was rendered
#   Terraform      checkov (terraform); `fmt -check` when a terraform or tofu binary is on PATH
#                  (neither is packaged by Debian or PyPI; `validate` needs providers from the
#                  Terraform registry, which is not reachable here)
#   Workflows      check-jsonschema (GitHub's workflow schema), actionlint; checkov (github_actions)
#   Airflow DAG    imports in Airflow's own .venv-airflow with no import error (DagBag), the
#                  loop's tasks in order, each running its step of deploy/steps/molops-step.sh
#   Kubeflow       kfp compiles the pipeline to its KFP v2 YAML (kfp, in .venv-deploy)
#   Scripts        bash -n; shellcheck when installed (this one, the image's, the loop's steps)
# Any finding fails the check; a justified exception is a skip comment beside the resource.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${DEPLOY_VENV:-.venv-deploy}/bin"
AIRFLOW_BIN="${AIRFLOW_VENV:-.venv-airflow}/bin"
KUBERNETES_VERSION="${KUBERNETES_VERSION:-1.33.0}"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
failed=()
step() {
    local name=$1
    shift
    echo "== $name"
    local rc=0
    "$@" || rc=$?
    if [[ $rc -eq 126 ]]; then
        # 126: the tool exists but could not be executed. Seen once on hadolint's 55 MB binary
        # right after pip wrote it into a fresh .venv-deploy (mode 0755; cause unknown): retry once.
        echo "   $1 could not be executed (exit 126); trying once more" >&2
        sleep 2
        rc=0
        "$@" || rc=$?
    fi
    if [[ $rc -ne 0 ]]; then
        failed+=("$name")
        echo "!! $name failed" >&2
    fi
}

# --- image ---
step "hadolint deploy/docker/Dockerfile" "$BIN/hadolint" deploy/docker/Dockerfile

# --- Kubernetes ---
render() {
    local overlay
    for overlay in deploy/kubernetes/overlays/*/; do
        overlay=$(basename "$overlay")
        "$BIN/kubectl" kustomize "deploy/kubernetes/overlays/$overlay" >"$OUT/$overlay.yaml" || return 1
        echo "rendered $overlay: $(grep -c '^kind:' "$OUT/$overlay.yaml") objects"
    done
}
step "kubectl kustomize (overlays)" render
# The ServiceMonitor is the Prometheus Operator's custom resource: no Kubernetes schema has it, so
# it gets a warning ("Couldn't find schema"), not a failure.
step "kubernetes-validate (Kubernetes $KUBERNETES_VERSION schemas, strict)" \
    "$BIN/kubernetes-validate" --strict --quiet --kubernetes-version "$KUBERNETES_VERSION" "$OUT"/*.yaml

# --- Terraform ---
tf=$(command -v tofu || command -v terraform || true)
if [[ -n "$tf" ]]; then
    step "$(basename "$tf") fmt -check" env TF_CLI_CONFIG_FILE=/dev/null "$tf" fmt -check -diff -recursive deploy/terraform
else
    echo "== terraform fmt: skipped (no terraform or tofu binary on PATH)"
fi

# --- workflows ---
step "check-jsonschema (github-workflows)" \
    "$BIN/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml
step "actionlint" "$BIN/actionlint" .github/workflows/*.yml

# --- orchestration: the loop as an Airflow DAG and as a Kubeflow pipeline ---
dag_import() {
    AIRFLOW_HOME="$OUT/airflow" AIRFLOW__CORE__LOAD_EXAMPLES=False PYTHONDONTWRITEBYTECODE=1 \
        "$AIRFLOW_BIN/python" - <<'EOF'
import subprocess
import sys

from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder="deploy/airflow")
for path, error in bag.import_errors.items():
    print(f"{path}: {error}", file=sys.stderr)
dag = bag.dags.get("molops_loop")
if bag.import_errors or dag is None:
    sys.exit(f"deploy/airflow: import errors, or no DAG molops_loop (found: {sorted(bag.dags)})")
order = [task.task_id for task in dag.topological_sort()]
expected = ["init", "ingest", "features", "train", "propose", "monitor", "retrain"]
if order != expected:
    sys.exit(f"molops_loop runs {order}, expected {expected}")
for task in dag.tasks:
    if subprocess.run(["bash", "-n", "-c", task.bash_command], check=False).returncode:
        sys.exit(f"molops_loop.{task.task_id}: its bash_command does not parse")
    if task.bash_command != f'exec "$MOLOPS_STEP" {task.task_id}':
        sys.exit(f"molops_loop.{task.task_id}: runs {task.bash_command!r}, not its step of molops-step")
print(f"molops_loop: {len(order)} tasks: {' -> '.join(order)}")
EOF
}
step "airflow DAG import (deploy/airflow)" dag_import
step "kfp compile (deploy/kubeflow)" "$BIN/python" deploy/kubeflow/molops_pipeline.py "$OUT/molops_loop.kfp.yaml"

# --- checkov, once over a copy of all of it (one start: it takes a while to load) ---
checkov_all() {
    local scan="$OUT/scan"
    mkdir -p "$scan/kubernetes" "$scan/terraform" "$scan/docker" "$scan/.github/workflows"
    cp "$OUT"/*.yaml "$scan/kubernetes/"
    cp deploy/terraform/*.tf "$scan/terraform/"
    cp deploy/docker/Dockerfile "$scan/docker/"
    cp .github/workflows/*.yml "$scan/.github/workflows/"
    "$BIN/checkov" --quiet --compact --skip-download \
        --framework kubernetes terraform dockerfile github_actions -d "$scan"
}
step "checkov (kubernetes, terraform, dockerfile, github_actions)" checkov_all

# --- scripts ---
scripts=(deploy/check.sh deploy/docker/*.sh deploy/steps/*.sh)
syntax() {
    local script
    for script in "${scripts[@]}"; do bash -n "$script" || return 1; done
}
step "bash -n (scripts)" syntax
if command -v shellcheck >/dev/null; then
    step "shellcheck" shellcheck "${scripts[@]}"
fi

if ((${#failed[@]})); then
    echo "deploy-check: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "deploy-check: all checks passed"
