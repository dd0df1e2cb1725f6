"""Bad option values and bad combinations of options exit 2 with one sentence naming the option.

Exit 2 is click's own code for usage errors; molops' checks of option values must agree with it,
so a script can tell "asked wrongly" (2) from "failed" (1).
"""

from __future__ import annotations

import pytest

from molops.errors import MolopsError, UsageError

from .conftest import Run

CASES = {
    "train --model": (["train", "-d", "x", "-m", "xgboost"], "unknown model 'xgboost'"),
    "train --split": (["train", "-d", "x", "--split", "scafold"], "--split 'scafold' is not supported"),
    "train --transform": (["train", "-d", "x", "--transform", "sqrt"], "--transform 'sqrt'"),
    "train --params": (["train", "-d", "x", "--params", "{"], "--params '{' is not valid JSON"),
    "train --candidates": (["train", "-d", "x", "-m", "rf", "--candidates", "gp"], "--candidates only"),
    "train --executor": (["train", "-d", "x", "--tune", "--executor", "dask"], "--executor 'dask' is not"),
    "train --executor, no --tune": (["train", "-d", "x", "--executor", "ray"], "add --tune, or leave"),
    "features build both": (
        ["features", "build", "-f", "morgan", "--dataset", "x", "--pool", "y.smi"],
        "exactly one of --dataset NAME or --pool FILE",
    ),
    "features build neither": (["features", "build", "-f", "morgan"], "exactly one of --dataset"),
    "features build --executor": (
        ["features", "build", "-f", "morgan", "-d", "x", "--executor", "dask"],
        "--executor 'dask' is not supported",
    ),
    "features build --format": (
        ["features", "build", "-f", "morgan", "--pool", "y", "--format", "xlsx"],
        "--format 'xlsx' is not supported",
    ),
    "data ingest nothing": (["data", "ingest"], "give a FILE or --builtin NAME"),
    "data ingest --builtin": (["data", "ingest", "--builtin", "nope"], "unknown built-in dataset 'nope'"),
    "predict --format": (["predict", "-m", "m", "in.csv", "out.csv", "--format", "xlsx"], "--format 'xlsx'"),
    "monitor --fail-on": (["monitor", "-m", "m", "--fail-on", "bad"], "--fail-on 'bad' is not a level"),
    "serve-key --role": (["serve-key", "lab", "--role", "god"], "--role 'god' is not a role"),
    "audit --action": (["audit", "--action", "modle"], "action 'modle' is not one molops records"),
    "serve --ssl": (["serve", "--ssl-certfile", "cert.pem"], "--ssl-certfile and --ssl-keyfile go together"),
    "campaign create --exclude-analogues-above": (
        [
            "campaign",
            "create",
            "c",
            "-d",
            "x",
            "--pool",
            "p.csv",
            "--target",
            "y",
            "--maximize",
            "--exclude-analogues-above",
            "1.5",
        ],
        "--exclude-analogues-above must be a similarity above 0 and at most 1; got 1.5",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_option_values_exit_2_with_one_sentence(run: Run, ws, case):
    argv, fragment = CASES[case]
    res = run(*argv, "--workspace", ws.root) if argv[0] != "serve-key" else run(*argv)
    assert res.code == 2, res
    assert res.stdout == "", res
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res
    assert fragment in lines[0], res


def test_campaign_simulate_repeats(run: Run, write):
    data = write("d.csv", "smiles,y\nCCO,1\n")
    res = run("campaign", "simulate", "--data", data, "--target-col", "y", "--repeats", "0")
    assert res.code == 2 and "--repeats must be at least 1" in res.stderr, res


def test_missing_input_files_exit_2(run: Run, tmp_path):
    res = run("campaign", "simulate", "--data", tmp_path / "none.csv", "--target-col", "y")
    assert res.code == 2 and "no such file" in res.stderr, res


def test_click_usage_errors_exit_2_too(run: Run):
    assert run("train").code == 2  # missing --dataset: click's own check
    assert run("data", "ingest", "--no-such-option").code == 2


def test_usage_error_is_a_molops_error_with_exit_code_2():
    assert issubclass(UsageError, MolopsError)
    assert UsageError.exit_code == 2


def test_too_few_molecules_to_train_exit_2(run: Run, ws, write):
    data = write("few.csv", "smiles,y\n" + "".join(f"{'C' * i}O,{i}\n" for i in range(1, 6)))
    assert run("data", "ingest", data, "-d", "few", "--target-col", "y", "--workspace", ws.root).code == 0
    res = run("train", "-d", "few", "-m", "rf", "--workspace", ws.root)
    assert res.code == 2 and "has 5 molecules with a 'y' value; training needs at least 10" in res.stderr, res


@pytest.mark.parametrize("action", ["model", "model.promote", "retrain.decision"])
def test_audit_takes_every_recorded_action_and_group(run: Run, ws, action):
    res = run("audit", "--action", action, "--workspace", ws.root)
    assert res.code == 0 and "no recorded changes match" in res.stdout, res
