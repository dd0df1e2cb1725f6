"""The diagnostics math of ``campaign status``: the binomial interval, the hit rule and its random
expectation, the warning, coverage and calibration of a batch, diversity, and the compute sums."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdkit import DataStructs
from rdkit.Chem import MolFromSmiles, rdFingerprintGenerator

from molops.active import diagnostics as diag
from molops.active.errors import CampaignError
from molops.active.state import Iteration
from molops.active.status import compute_used
from molops.active.usage import PhaseMeter, on_gpu
from molops.models import get_model
from molops.models.calibration import CalibratedSurrogate, Calibrator
from molops.models.reference import fingerprints


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_wilson_interval_is_scipys_and_holds_the_rate(kn, confidence):
    """The closed form equals scipy's Wilson interval (which it replaced: importing scipy.stats
    cost every ``campaign status`` a fraction of a second)."""
    from scipy import stats

    k, n = kn
    low, high = diag.wilson(k, n, confidence)
    assert 0.0 <= low <= k / n <= high <= 1.0
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert low == pytest.approx(ci.low, abs=1e-12)
    assert high == pytest.approx(ci.high, abs=1e-12)


def test_wilson_imports_no_scipy_stats():
    code = (
        "import sys; from molops.active import diagnostics as d; d.wilson(3, 10); "
        "print('scipy.stats' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False", done.stderr


def test_wilson_of_nothing_is_none_and_a_known_value():
    assert diag.wilson(0, 0) is None
    low, high = diag.wilson(3, 10)  # the textbook example
    assert (round(low, 4), round(high, 4)) == (0.1078, 0.6032)


@settings(max_examples=40, deadline=None)
@given(st.integers(5, 300), st.integers(0, 2**31 - 1))
def test_coverage_is_a_fraction_and_grows_with_the_interval(n, seed):
    rng = np.random.default_rng(seed)
    y, mean, std = rng.normal(size=n), rng.normal(size=n), rng.uniform(0.1, 2, size=n)
    c1, c2 = diag.coverage(y, mean, std, 1.0), diag.coverage(y, mean, std, 2.0)
    assert 0.0 <= c1 <= c2 <= 1.0
    assert c1 == np.mean(np.abs(y - mean) <= std)


def test_a_calibrated_model_covers_the_nominal_fractions():
    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=20_000), rng.uniform(0.5, 2.0, size=20_000)
    y = mean + std * rng.standard_normal(20_000)
    out = diag.batch(y, mean, std, None)
    assert out["coverage_1sd"] == pytest.approx(diag.NOMINAL["coverage_1sd"], abs=0.01)
    assert out["coverage_2sd"] == pytest.approx(diag.NOMINAL["coverage_2sd"], abs=0.01)
    assert out["miscalibration_area"] < 0.01 and "raw" not in out
    # the same predictions published with a std twice too small: the raw (std / factor) is the truth
    published = diag.batch(y, mean, std / 2, 0.5)
    assert published["coverage_1sd"] < 0.45
    assert published["raw"]["coverage_1sd"] == pytest.approx(out["coverage_1sd"])
    assert published["raw"]["nll"] < published["nll"]


def test_a_batch_leaves_out_unmeasured_and_unpredicted_rows():
    y = np.array([1.0, np.nan, 3.0, 4.0])
    mean = np.array([1.5, 2.0, np.nan, 3.0])  # row 2: swapped in review, no prediction
    out = diag.batch(y, mean, np.ones(4), None)
    assert out["mae"] == pytest.approx(0.75) and out["coverage_1sd"] == 1.0
    assert diag.batch(np.full(3, np.nan), np.zeros(3), np.ones(3), 2.0) == {
        "rmse": None,
        "mae": None,
        "spearman": None,
    }


def _brute_distance(smiles: list[str]) -> float:
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fps = [gen.GetFingerprint(MolFromSmiles(s)) for s in smiles]
    sims = [
        DataStructs.TanimotoSimilarity(fps[i], fps[j])
        for i in range(len(fps))
        for j in range(i + 1, len(fps))
    ]
    return 1.0 - float(np.mean(sims))


def test_diversity_is_the_mean_pairwise_tanimoto_distance_of_morgan_fingerprints():
    smiles = ["CCO", "CCCO", "c1ccccc1O", "CC(=O)O", "CCN(CC)CC", "c1ccccc1"]
    assert diag.diversity(smiles) == pytest.approx(_brute_distance(smiles), abs=1e-12)
    assert diag.diversity(["CCO", "CCO", "CCO"]) == 0.0
    assert diag.diversity(["CCO"]) is None
    assert diag.diversity(["CCO", "not a molecule"]) is None  # one that parses


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 40), st.integers(0, 2**31 - 1))
def test_pairwise_distance_equals_the_naive_double_loop(n, seed):
    rng = np.random.default_rng(seed)
    bits = rng.random((n, 2048)) < rng.uniform(0.0, 0.1)
    packed = np.packbits(bits, axis=1)
    naive = []
    for i in range(n):
        for j in range(i + 1, n):
            union = (bits[i] | bits[j]).sum()
            naive.append((bits[i] & bits[j]).sum() / union if union else 1.0)
    assert diag.mean_pairwise_distance(packed) == pytest.approx(1 - np.mean(naive), abs=1e-12)


def test_reference_fingerprints_are_what_diversity_reads():
    packed, valid = fingerprints(["CCO", "c1ccccc1"])
    assert valid.all() and diag.mean_pairwise_distance(packed) == diag.diversity(["CCO", "c1ccccc1"])


# -- hits --------------------------------------------------------------------------------------------
def test_without_a_threshold_a_hit_is_in_the_seed_datas_best_fraction():
    seed = np.arange(100, dtype=float)  # minimise: the best 5 % are 0 … 4
    rule = diag.hit_rule(None, False, seed, None)
    assert rule.source == "seed top" and rule.hit_top == 0.05
    assert rule.seed_hits == 5 and rule.expectation == pytest.approx(0.05)
    assert diag.hits(rule, np.array([4.0, 5.0, -1.0])).tolist() == [True, False, True]
    up = diag.hit_rule(None, True, seed, 0.1)  # maximise, the best 10 %
    assert up.seed_hits == 10 and diag.hits(up, np.array([90.0, 89.0])).tolist() == [True, False]
    with pytest.raises(CampaignError, match="--hit-top must be a fraction"):
        diag.hit_rule(None, True, seed, 1.0)


def test_the_objectives_threshold_wins_and_no_seed_means_no_expectation():
    rule = diag.hit_rule(-8.0, False, np.array([-9.0, -7.0, -5.0, -1.0]), 0.5)
    assert (rule.threshold, rule.source, rule.hit_top) == (-8.0, "objective", None)
    assert (rule.seed_hits, rule.seed_n, rule.expectation) == (1, 4, 0.25)
    bare = diag.hit_rule(-8.0, False, np.zeros(0), None)
    assert bare.expectation is None and bare.threshold == -8.0
    assert diag.hit_rule(None, True, np.zeros(0), None).threshold is None


def test_the_warning_says_which_rule_fired_and_gives_the_evidence():
    rule = diag.hit_rule(None, True, np.arange(100, dtype=float), 0.2)  # random expectation 20 %
    worse = diag.hit_stats(0, 40, rule.expectation)  # 0/40: upper bound ~9 % < 20 %
    text = diag.warning(rule, worse, 1)
    assert text.startswith("acquisition is doing worse than random")
    assert "0/40" in text and "20.0%" in text and "20/100 of the seed data" in text
    level = diag.hit_stats(3, 15, rule.expectation)  # 20 %: the interval holds the expectation
    assert diag.warning(rule, level, diag.PATIENCE - 1) is None  # too early to say
    assert "not beating random after 3" in diag.warning(rule, level, diag.PATIENCE)
    better = diag.hit_stats(12, 20, rule.expectation)  # 60 %, interval 39–78 %
    assert diag.warning(rule, better, 10) is None
    assert better["lift"] == pytest.approx(3.0)


# -- compute -------------------------------------------------------------------------------------------
def _iteration(number: int, **extra) -> Iteration:
    base = {
        "number": number,
        "time": "t",
        "user": "u",
        "dataset_version": 1,
        "n_train": 10,
        "best_measured": None,
        "recipe": {},
        "requested": 1,
        "proposed": 1,
        "proposals": "p",
        "pool_sha256": "x",
        "pool_rows": 1,
        "scored": 1,
        "excluded": {},
        "filtered": {},
        "seconds": 1.0,
        "seconds_scoring": 0.5,
        "molecules_per_s": 2.0,
    }
    return Iteration.model_validate(base | extra)


def test_compute_sums_the_iterations_that_measured_it_and_old_ones_still_load():
    old = _iteration(1)  # a campaign.json written before the fields existed
    assert old.cpu_seconds is None and old.gpu_seconds is None and old.calibration is None
    two = _iteration(2, cpu_seconds={"train": 1.5, "score": 2.0, "select": 0.25}, gpu_seconds={"train": 0.5})
    three = _iteration(3, cpu_seconds={"train": 0.5, "score": 1.0, "select": 0.25}, gpu_seconds={})
    used = compute_used([old, two, three])
    assert used["iterations_measured"] == 2 and used["iterations"] == 3
    assert used["cpu_seconds"] == {"train": 2.0, "score": 3.0, "select": 0.5, "total": 5.5}
    assert used["gpu_seconds"] == {"train": 0.5, "total": 0.5}


def test_the_phase_meter_counts_cpu_spent_and_gpu_only_on_a_gpu():
    meter = PhaseMeter()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:  # burn CPU, not wall time
        pass
    meter.lap("train", elsewhere_cpu=2.0)
    meter.lap("select")
    assert 2.25 <= meter.cpu["train"] < 4.0 and meter.cpu["select"] < 0.2
    assert meter.gpu == {"train": 0.0, "select": 0.0}
    rf = get_model("rf", n_estimators=2)
    assert not on_gpu(rf) and not on_gpu(CalibratedSurrogate(rf, Calibrator(method="scale", factor=2.0)))

    class OnGpu:  # what the D-MPNN reports where torch sees a GPU (none here)
        accelerator_ = "gpu"

    assert on_gpu(OnGpu())
    wrapped = CalibratedSurrogate.__new__(CalibratedSurrogate)  # a calibration around it
    wrapped.inner = OnGpu()
    assert on_gpu(wrapped)
