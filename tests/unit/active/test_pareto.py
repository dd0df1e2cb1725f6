"""Pareto fronts and hypervolumes: exact values on small cases and the invariants they must keep."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from molops.active.pareto import (
    front_of,
    hypervolume,
    improvement,
    non_dominated,
    nondominated_sort,
    shortfall,
)

# small integers: exact arithmetic, many ties and duplicates (the hard cases)
coords = st.integers(min_value=0, max_value=6).map(float)


def point_sets(k: int, max_n: int = 12) -> st.SearchStrategy[np.ndarray]:
    return st.integers(0, max_n).flatmap(lambda n: arrays(np.float64, (n, k), elements=coords))


def _grid_volume(points: np.ndarray, ref: np.ndarray) -> float:
    """Brute force on the unit grid (integer coordinates): count dominated unit cells."""
    k = len(ref)
    cells = 0
    for corner in itertools.product(*[range(int(r), 7) for r in ref]):
        centre = np.asarray(corner, dtype=float) + 0.5
        if len(points) and np.any(np.all(points >= centre, axis=1)):
            cells += 1
    return float(cells) if k else 0.0


def test_two_objective_staircase() -> None:
    points = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [1.0, 1.0]])
    assert hypervolume(points, np.zeros(2)) == pytest.approx(6.0)
    assert non_dominated(points).tolist() == [True, True, True, False]
    assert nondominated_sort(points).tolist() == [0, 0, 0, 1]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([1, 2, 3]).flatmap(point_sets))
def test_hypervolume_is_the_dominated_volume(points: np.ndarray) -> None:
    ref = np.zeros(points.shape[1])
    assert hypervolume(points, ref) == pytest.approx(_grid_volume(points, ref))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([2, 3]).flatmap(point_sets), st.data())
def test_adding_a_point_never_lowers_it_and_a_dominated_one_adds_nothing(
    points: np.ndarray, data: st.DataObject
) -> None:
    k = points.shape[1]
    ref = np.zeros(k)
    extra = np.asarray(data.draw(st.lists(coords, min_size=k, max_size=k)))
    before = hypervolume(points, ref)
    after = hypervolume(np.vstack([points, extra]), ref)
    assert after >= before - 1e-9
    # the vectorised improvement is exactly the difference
    assert improvement(extra[None, :], points, ref)[0] == pytest.approx(after - before)
    if len(points) and np.any(np.all(points >= extra, axis=1)):  # dominated, or a duplicate
        assert after == pytest.approx(before)
        strictly = np.any(np.all(points > extra, axis=1))
        assert (shortfall(extra[None, :], points)[0] > 0) == strictly
    else:
        assert shortfall(extra[None, :], front_of(points, ref - 1))[0] == 0


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([2, 3]).flatmap(point_sets))
def test_nondominated_sort_invariants(points: np.ndarray) -> None:
    rank = nondominated_sort(points)
    assert (rank >= 0).all()
    if not len(points):
        return
    assert set(rank.tolist()) == set(range(rank.max() + 1))  # no empty front
    for i, j in itertools.product(range(len(points)), repeat=2):
        p, q = points[i], points[j]
        if np.all(p >= q) and np.any(p > q):  # p dominates q: q is on a later front
            assert rank[i] < rank[j]
    for level in range(rank.max() + 1):  # within one front nobody dominates anybody
        assert non_dominated(points[rank == level]).all()
    # the front's hypervolume is the whole set's
    ref = np.full(points.shape[1], -1.0)
    assert hypervolume(points[rank == 0], ref) == pytest.approx(hypervolume(points, ref))


def test_improvement_refuses_four_objectives() -> None:
    with pytest.raises(ValueError, match="1 to 3 objectives"):
        improvement(np.ones((1, 4)), np.ones((1, 4)), np.zeros(4))
