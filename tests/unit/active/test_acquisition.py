"""Acquisition functions: closed forms, monotonicity, specs, and model compatibility."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from molops.active.acquisition import ACQUISITIONS, AcquisitionError, get_acquisition, to_utility

RNG = np.random.default_rng(0)
finite = st.floats(-50, 50, allow_nan=False)
positive = st.floats(1e-3, 20, allow_nan=False)


def _score(spec: str, mean, std, best=0.0, seed=0):
    return get_acquisition(spec).score(
        np.asarray(mean, float), np.asarray(std, float), best, np.random.default_rng(seed)
    )


def test_every_registered_acquisition_scores_one_value_per_molecule():
    mean, std = RNG.normal(size=50), RNG.uniform(0.1, 1, 50)
    for name in ACQUISITIONS:
        scores = _score(name, mean, std, best=0.5)
        assert scores.shape == (50,) and np.isfinite(scores).all(), name


def test_expected_improvement_matches_monte_carlo():
    mean, std, best = np.array([0.0, 1.0, -1.0]), np.array([1.0, 0.5, 2.0]), 0.5
    draws = mean + std * np.random.default_rng(1).standard_normal((400_000, 3))
    expected = np.maximum(draws - best - 0.01, 0).mean(axis=0)
    np.testing.assert_allclose(_score("ei", mean, std, best), expected, rtol=0.02)


def test_probability_of_improvement_matches_monte_carlo():
    mean, std, best = np.array([0.0, 1.0]), np.array([1.0, 0.5]), 0.5
    draws = mean + std * np.random.default_rng(2).standard_normal((400_000, 2))
    np.testing.assert_allclose(_score("pi:xi=0", mean, std, best), (draws > best).mean(axis=0), atol=0.005)


@settings(max_examples=60, deadline=None)
@given(arrays(float, 20, elements=finite), arrays(float, 20, elements=positive), finite)
def test_improvement_scores_are_bounded_and_ucb_dominates_greedy(mean, std, best):
    ei = _score("ei", mean, std, best)
    assert (ei >= np.maximum(mean - best - 0.01, 0) - 1e-9).all()  # EI ≥ the improvement of the mean
    pi = _score("pi", mean, std, best)
    assert ((pi >= 0) & (pi <= 1)).all()
    assert (_score("ucb:beta=4", mean, std) >= _score("greedy", mean, std)).all()
    np.testing.assert_allclose(_score("ucb:beta=0", mean, std), mean)


def test_expected_improvement_grows_with_mean_and_with_std():
    base = _score("ei", [0.0], [1.0], 0.5)[0]
    assert _score("ei", [0.5], [1.0], 0.5)[0] > base
    assert _score("ei", [0.0], [2.0], 0.5)[0] > base


def test_a_certain_model_does_not_divide_by_zero():
    scores = _score("ei", [1.0, 0.0], [0.0, 0.0], 0.5)
    np.testing.assert_allclose(scores, [0.49, 0.0], atol=1e-9)


def test_thompson_and_random_are_reproducible_by_seed_and_differ_across_seeds():
    mean, std = np.zeros(100), np.ones(100)
    for name in ("thompson", "random"):
        np.testing.assert_array_equal(_score(name, mean, std, seed=3), _score(name, mean, std, seed=3))
        assert not np.array_equal(_score(name, mean, std, seed=3), _score(name, mean, std, seed=4))


def test_spec_round_trip_and_errors():
    assert get_acquisition("ucb:beta=4").spec == "ucb:beta=4.0"
    assert get_acquisition("greedy").spec == "greedy"
    with pytest.raises(AcquisitionError, match="unknown acquisition 'best'; expected one of: ei, greedy"):
        get_acquisition("best")
    with pytest.raises(AcquisitionError, match="acquisition 'ucb' has no parameter 'kappa'"):
        get_acquisition("ucb:kappa=2")
    with pytest.raises(AcquisitionError, match="invalid value for 'beta'"):
        get_acquisition("ucb:beta=-1")


def test_an_acquisition_refuses_a_model_without_what_it_needs():
    get_acquisition("greedy").check({"mean"}, "plain")
    with pytest.raises(AcquisitionError) as exc:
        get_acquisition("ei").check({"mean"}, "plain")
    assert str(exc.value) == (
        "acquisition 'ei:xi=0.01' needs the model's std, which model 'plain' does not provide; "
        "pick a model that does, or 'greedy', which needs only the mean"
    )


def test_utility_negates_a_minimised_target():
    np.testing.assert_array_equal(to_utility([1.0, -2.0], maximize=False), [-1.0, 2.0])
    np.testing.assert_array_equal(to_utility([1.0, -2.0], maximize=True), [1.0, -2.0])
