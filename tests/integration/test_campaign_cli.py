"""``molops campaign simulate`` on the real docking set, and its input errors."""

from __future__ import annotations

import csv
import random

import pytest

from ._cli import enamine, molops

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
