"""The flat all-trees walk against sklearn's own, to the bit, and the forest's use of it."""

from __future__ import annotations

import pickle

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestRegressor

from molops.models import Surrogate
from molops.models.zoo import forest
from molops.models.zoo.forest_walk import FlatForest

from ..conftest import fitted, split


def sklearn_leaves(model: RandomForestRegressor, X: np.ndarray) -> np.ndarray:
    """sklearn's leaf ids (n_trees, n), numbered globally like FlatForest's."""
    trees = [est.tree_ for est in model.estimators_]
    roots = np.cumsum([0] + [t.node_count for t in trees[:-1]])
    return (model.apply(X) + roots).T


def edge_values(model: RandomForestRegressor) -> np.ndarray:
    """Every threshold as float32 rounded down, nearest and up: where ``<=`` in float32 vs float64 bites."""
    thresholds = np.concatenate([est.tree_.threshold for est in model.estimators_])
    near = thresholds[thresholds != -2].astype(np.float32)
    return np.unique(np.concatenate([np.nextafter(near, -np.inf), near, np.nextafter(near, np.inf)]))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_rows=st.integers(2, 60),
    n_features=st.integers(1, 8),
    n_trees=st.integers(1, 12),
    max_depth=st.one_of(st.none(), st.integers(1, 6)),
    scale=st.sampled_from([1.0, 1e-3, 1e6]),
    n_query=st.integers(1, 40),
)
def test_flat_walk_reaches_sklearns_leaves(
    seed: int, n_rows: int, n_features: int, n_trees: int, max_depth: int | None, scale: float, n_query: int
) -> None:
    rng = np.random.default_rng(seed)
    # few distinct values (ties, like fingerprint counts) and continuous ones, in float32
    X = np.where(rng.random((n_rows, n_features)) < 0.5, rng.integers(0, 4, (n_rows, n_features)),
                 rng.normal(size=(n_rows, n_features)) * scale).astype(np.float32)  # fmt: skip
    y = rng.normal(size=n_rows)
    model = RandomForestRegressor(n_estimators=n_trees, max_depth=max_depth, random_state=seed).fit(X, y)
    edges = edge_values(model)
    pick = rng.integers(0, len(X), n_query)
    Q = X[pick].copy()
    if len(edges):  # put threshold neighbours into about half the cells
        mask = rng.random(Q.shape) < 0.5
        Q[mask] = rng.choice(edges, int(mask.sum()))
    np.testing.assert_array_equal(
        FlatForest([e.tree_ for e in model.estimators_]).apply(Q), sklearn_leaves(model, Q)
    )


def test_a_stump_forest_lands_every_row_on_its_root() -> None:
    X = np.zeros((5, 2), dtype=np.float32)
    model = RandomForestRegressor(n_estimators=3, random_state=0).fit(X, np.arange(5.0))  # nothing to split
    flat = FlatForest([e.tree_ for e in model.estimators_])
    np.testing.assert_array_equal(flat.apply(X[:2]), sklearn_leaves(model, X[:2]))


def test_small_requests_take_the_flat_walk_and_agree_with_the_per_tree_walk(monkeypatch) -> None:
    model, X = fitted("rf"), split().X_test[: forest.FLAT_WALK_UP_TO]
    flat = model.tree_predictions(X)
    assert model._flat is not None  # built on first use
    monkeypatch.setattr(forest, "FLAT_WALK_UP_TO", 0)  # sklearn's one call per tree
    np.testing.assert_array_equal(model.tree_predictions(X), flat)
    for row in range(3):
        monkeypatch.setattr(forest, "FLAT_WALK_UP_TO", 32)
        np.testing.assert_array_equal(model.tree_predictions(X[row : row + 1]), flat[:, row : row + 1])


def test_a_model_saved_without_flat_arrays_loads_and_predicts_the_same(tmp_path) -> None:
    model, X = fitted("rf"), split().X_test[:3]
    expected = model.predict(X)
    state = dict(model.__dict__)
    state.pop("_flat", None)  # a bundle pickled before FlatForest existed has no such attribute
    old = object.__new__(type(model))
    old.__dict__.update(state)
    old.save(tmp_path / "old")
    assert b"FlatForest" not in (tmp_path / "old" / "model.pkl").read_bytes()
    loaded = Surrogate.load(tmp_path / "old")
    got = loaded.predict(X)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def test_pickling_drops_the_flat_arrays_and_refitting_rebuilds_them() -> None:
    data = split()
    model = forest.RandomForest(n_estimators=5, n_jobs=1).fit(data.X_train, data.y_train)
    first = model.flat_forest()
    assert "_flat" not in pickle.loads(pickle.dumps(model)).__dict__
    model.fit(data.X_train[::2], data.y_train[::2])
    assert model.flat_forest() is not first
    np.testing.assert_array_equal(
        model.tree_predictions(data.X_test[:1]),
        np.array([[est.predict(data.X_test[:1].astype(np.float32))[0]] for est in model._forest.estimators_]),
    )


def test_the_32_bit_arrays_reach_sklearns_leaves_past_2_16_nodes() -> None:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(4000, 6)).astype(np.float32)
    model = RandomForestRegressor(n_estimators=24, random_state=0).fit(X, rng.normal(size=len(X)))
    flat = FlatForest([e.tree_ for e in model.estimators_])
    n_nodes = sum(e.tree_.node_count for e in model.estimators_)
    assert n_nodes > 2**16
    assert (flat.children.dtype, flat.feature.dtype, flat.threshold.dtype) == (np.int32, np.int32, np.float32)
    assert flat.nbytes <= 16 * n_nodes + 4 * len(flat.roots)  # half of the 64-bit layout's 29 bytes a node
    Q = rng.normal(size=(32, 6)).astype(np.float32)
    mask = rng.random(Q.shape) < 0.5  # threshold neighbours, where float32 against float64 bites
    Q[mask] = rng.choice(edge_values(model), int(mask.sum()))
    leaves = flat.apply(Q)
    np.testing.assert_array_equal(leaves, sklearn_leaves(model, Q))
    assert leaves[-1].min() > 2**16  # the last trees' global ids need more than 16 bits
