#!/usr/bin/env bash
# molops-step STEP [--OPTION VALUE ...]: one step of the molops loop, the same for every
# orchestrator: the Airflow DAG (deploy/airflow/molops_loop.py) and the Kubeflow pipeline
# (deploy/kubeflow/molops_pipeline.py) both run this script, so their steps cannot drift apart.
# The image installs it as /usr/local/bin/molops-step (deploy/docker/Dockerfile).
#
#   init → ingest → features → train → propose → monitor → retrain
#
#   init      `molops init` when the workspace has no molops.toml yet (a fresh server).
#   ingest    the lab's drop file, when there is one: `molops campaign ingest` once the campaign
#             exists (results matched to its proposals), `molops data ingest` before; the file is
#             then renamed *.ingested-TIME so the next run does not take it twice. No file: nothing.
#   features  `molops features build` on the dataset's latest version (only new molecules).
#   train     `molops train` the first time; nothing once the model is registered, because from
#             then on a new version reaches production only through retrain's gate.
#   propose   `molops campaign propose` (the campaign is created first from the pool when it does
#             not exist; with no pool and no campaign: nothing).
#   monitor   `molops monitor` with an HTML report in WORKSPACE/reports/.
#   retrain   `molops retrain --if-needed`: a challenger only when a trigger fired, promoted only
#             if it beats the champion.
#
# Settings come from environment variables (how Airflow passes its parameters) or from options
# (how Kubeflow passes them); an option wins over its variable. Values are only ever expanded as
# quoted arguments, never evaluated, so a setting cannot inject a command.
#
#   --workspace MOLOPS_WORKSPACE   (default /workspace)   --molops  MOLOPS_BIN (default molops)
#   --dataset DATASET  --target TARGET  --units UNITS  --model MODEL  --model-kind MODEL_KIND
#   --featurizer FEATURIZER (default morgan:counts=true)  --train-params TRAIN_PARAMS (JSON)
#   --campaign CAMPAIGN  --pool POOL  --maximize MAXIMIZE (true/false)  --batch-size BATCH_SIZE
#   --drop DROP (relative to the workspace; default incoming/results.csv, as both orchestrators)
#   --skip-code MOLOPS_STEP_SKIP_CODE: the exit status of a step with nothing to do (default 0;
#                                      Airflow's DAG sets 99, which marks its task skipped)
set -euo pipefail

PROG=molops-step
STEPS="init ingest features train propose monitor retrain"

die() {
    echo "$PROG: $*" >&2
    exit 2
}

# A step with nothing to do says why and ends with the skip code.
nothing_to_do() {
    echo "$*"
    exit "${MOLOPS_STEP_SKIP_CODE:-0}"
}

# The setting named by variable $1 (for option $2), which must not be empty.
required() {
    [[ -n "${!1:-}" ]] || die "$STEP needs --$2 (or the variable $1), got none"
}

# `command`: the executable, never this function (which would call itself without end)
molops() { command "${MOLOPS_BIN:-molops}" "$@"; }

stamp() { date -u +%Y%m%dT%H%M%SZ; }

campaign_exists() { molops campaign status "$CAMPAIGN" --json >/dev/null 2>&1; }

step_init() {
    # its own start: the workspace's folder may not exist yet
    if [[ -f "$MOLOPS_WORKSPACE/molops.toml" ]]; then
        echo "workspace $MOLOPS_WORKSPACE exists"
        return 0
    fi
    molops init "$MOLOPS_WORKSPACE" --json
}

step_ingest() {
    if [[ ! -f "$DROP" ]]; then nothing_to_do "no lab results at '$DROP': nothing to ingest"; fi
    required TARGET target
    if [[ -n "${CAMPAIGN:-}" ]] && campaign_exists; then
        molops campaign ingest "$CAMPAIGN" "$DROP" --target-col "$TARGET" --json
    else
        required DATASET dataset
        molops data ingest "$DROP" -d "$DATASET" --target-col "$TARGET" ${UNITS:+--units "$UNITS"} --json
    fi
    mv "$DROP" "$DROP.ingested-$(stamp)"
}

step_features() {
    required DATASET dataset
    molops features build -f "$FEATURIZER" -d "$DATASET" --json
}

step_train() {
    required MODEL model
    if molops models show "$MODEL" --json >/dev/null 2>&1; then
        nothing_to_do "$MODEL is registered: new versions come through the retrain step's gate"
    fi
    required DATASET dataset
    required TARGET target
    molops train -d "$DATASET" --target "$TARGET" -m "${MODEL_KIND:-auto}" -f "$FEATURIZER" --name "$MODEL" \
        ${TRAIN_PARAMS:+--params "$TRAIN_PARAMS"} --json
}

step_propose() {
    if [[ -z "${CAMPAIGN:-}" ]]; then nothing_to_do "no campaign set"; fi
    if ! campaign_exists; then
        if [[ -z "${POOL:-}" ]]; then nothing_to_do "no campaign $CAMPAIGN and no pool to create it from"; fi
        required DATASET dataset
        required TARGET target
        required BATCH_SIZE batch-size
        local direction
        case "${MAXIMIZE:-true}" in
            true | True | 1) direction=--maximize ;;
            false | False | 0) direction=--minimize ;;
            *) die "--maximize (or MAXIMIZE) must be true or false, got '$MAXIMIZE'" ;;
        esac
        molops campaign create "$CAMPAIGN" -d "$DATASET" --pool "$POOL" --target "$TARGET" "$direction" \
            --batch-size "$BATCH_SIZE" --json
    fi
    molops campaign propose "$CAMPAIGN" --json
}

step_monitor() {
    required MODEL model
    mkdir -p reports
    molops monitor -m "$MODEL" --report "reports/monitor-$(stamp).html" --json
}

step_retrain() {
    required MODEL model
    molops retrain -m "$MODEL" --if-needed --json
}

[[ $# -ge 1 ]] || die "expected a step (one of: $STEPS), got none"
STEP=$1
shift
[[ " $STEPS " == *" $STEP "* ]] || die "unknown step '$STEP'; expected one of: $STEPS"

while [[ $# -gt 0 ]]; do
    [[ $# -ge 2 ]] || die "option '$1' needs a value"
    case "$1" in
        --workspace) MOLOPS_WORKSPACE=$2 ;;
        --molops) MOLOPS_BIN=$2 ;;
        --dataset) DATASET=$2 ;;
        --target) TARGET=$2 ;;
        --units) UNITS=$2 ;;
        --model) MODEL=$2 ;;
        --model-kind) MODEL_KIND=$2 ;;
        --featurizer) FEATURIZER=$2 ;;
        --train-params) TRAIN_PARAMS=$2 ;;
        --campaign) CAMPAIGN=$2 ;;
        --pool) POOL=$2 ;;
        --maximize) MAXIMIZE=$2 ;;
        --batch-size) BATCH_SIZE=$2 ;;
        --drop) DROP=$2 ;;
        --skip-code) MOLOPS_STEP_SKIP_CODE=$2 ;;
        *) die "unknown option '$1' for step $STEP" ;;
    esac
    shift 2
done
MOLOPS_WORKSPACE=${MOLOPS_WORKSPACE:-/workspace}
FEATURIZER=${FEATURIZER:-morgan:counts=true}
DROP=${DROP:-incoming/results.csv}

if [[ $STEP != init ]]; then
    cd "$MOLOPS_WORKSPACE" || die "no workspace folder '$MOLOPS_WORKSPACE' (run the init step first)"
fi
"step_$STEP"
