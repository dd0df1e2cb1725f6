"""Batch selection: top-N order and ties, and the diversity knob."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from molops.active.selection import SelectionError, diverse, top_n
from molops.models.reference import fingerprints, max_similarity

#: Two series of close analogues (a phenyl series and a pyridine series) and three singletons.
PHENYLS = ["CCc1ccccc1", "CCCc1ccccc1", "CCCCc1ccccc1", "CCCCCc1ccccc1", "CC(C)c1ccccc1"]
PYRIDINES = ["CCc1ccncc1", "CCCc1ccncc1", "CCCCc1ccncc1"]
OTHERS = ["OC(=O)CCN", "C1CCOC1", "ClC(Cl)Cl"]


def test_top_n_is_best_first_with_ties_in_index_order_and_nan_last():
    scores = np.array([0.5, 2.0, np.nan, 2.0, 1.0])
    assert top_n(scores, 3).tolist() == [1, 3, 4]
    assert top_n(scores, 10).tolist() == [1, 3, 4, 0, 2]
    with pytest.raises(SelectionError, match="batch size must be positive; got 0"):
        top_n(scores, 0)


@settings(max_examples=80, deadline=None)
@given(arrays(float, st.integers(1, 60), elements=st.floats(-5, 5, allow_nan=False)), st.integers(1, 70))
def test_top_n_agrees_with_a_stable_sort(scores, n):
    expected = np.argsort(-scores, kind="stable")[:n]
    assert top_n(scores, n).tolist() == expected.tolist()


def test_diversity_one_is_plain_top_n():
    scores = np.arange(11, dtype=float)
    fps, _ = fingerprints(PHENYLS + PYRIDINES + OTHERS)
    assert diverse(scores, 4, fps, 1.0).tolist() == top_n(scores, 4).tolist()


def test_diverse_batch_skips_close_analogues_of_what_it_already_took():
    smiles = PHENYLS + PYRIDINES + OTHERS
    scores = np.array([10, 9.9, 9.8, 9.7, 9.6, 5, 4.9, 4.8, 1, 0.9, 0.8])  # the phenyls score best
    fps, _ = fingerprints(smiles)
    picked = diverse(scores, 3, fps, max_similarity=0.5)
    assert picked[0] == 0  # the best molecule always comes first
    chosen = fps[picked]
    for i in range(len(picked)):  # no two picks at or above the threshold
        others = np.delete(chosen, i, axis=0)
        assert max_similarity(chosen[i : i + 1], others)[0] < 0.5
    # top-N would take three phenyls; the diverse batch reaches past them into another series
    assert top_n(scores, 3).tolist() == [0, 1, 2]
    assert len(set(picked.tolist()) & set(range(5))) < 3 and picked.max() >= 5


def test_a_pool_of_near_duplicates_still_fills_the_batch():
    fps, _ = fingerprints(PHENYLS)
    picked = diverse(np.arange(5, dtype=float), 4, fps, max_similarity=0.1)
    assert len(picked) == 4 and len(set(picked.tolist())) == 4
    assert picked[0] == 4


def test_diverse_rejects_a_threshold_outside_zero_one():
    fps, _ = fingerprints(OTHERS)
    with pytest.raises(SelectionError, match=r"max_similarity must be in \(0, 1\]; got 1.5"):
        diverse(np.ones(3), 2, fps, 1.5)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 11), st.floats(0.05, 1.0), st.integers(0, 1000))
def test_diverse_returns_distinct_rows_and_the_asked_size(n, threshold, seed):
    fps, _ = fingerprints(PHENYLS + PYRIDINES + OTHERS)
    scores = np.random.default_rng(seed).normal(size=11)
    picked = diverse(scores, n, fps, threshold)
    assert len(picked) == n and len(set(picked.tolist())) == n
