"""Drift statistics: PSI, the shift summary, binomial excess and the Good–Turing unseen rate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from molops.monitoring.drift import excess_rate, psi, shift, unseen_rate


def test_psi_is_small_for_one_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=5000)
    assert psi(reference, rng.normal(size=5000)) < 0.02
    assert psi(reference, rng.normal(1.0, 1.0, size=5000)) > 0.25
    assert np.isnan(psi(reference, np.array([np.nan])))


@given(
    st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=50),
    st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=50),
)
def test_psi_and_shift_are_finite_and_non_negative_for_any_sample(a, b):
    value = psi(np.array(a), np.array(b))
    assert value >= 0 and np.isfinite(value)
    moved = shift(np.array(a), np.array(b))
    assert 0 <= moved.p_value <= 1 and 0 <= moved.ks <= 1


def test_shift_sees_a_move_and_not_noise():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=2000)
    same, moved = shift(reference, rng.normal(size=200)), shift(reference, rng.normal(0.8, 1, size=200))
    assert same.p_value > 0.01 and moved.p_value < 1e-6
    assert moved.wasserstein_sd == pytest.approx(0.8, abs=0.2)
    # one-sided: lower values in the current sample
    assert shift(reference, rng.normal(-0.5, 1, 200), alternative="greater").p_value < 1e-3
    assert shift(reference, rng.normal(0.5, 1, 200), alternative="greater").p_value > 0.1


def test_excess_rate_and_unseen_rate():
    assert excess_rate(5, 100, 0.05) > 0.3
    assert excess_rate(30, 100, 0.05) < 1e-8
    assert excess_rate(0, 0, 0.05) == 1.0
    assert unseen_rate(np.array(["a", "a", "b", "c"])) == 0.5
    assert unseen_rate(np.array([])) == 1.0
