"""The forest walks sparse fingerprint chunks as CSR; its trees must land in the same leaves."""

from __future__ import annotations

import numpy as np
import pytest

from molops.models.zoo import forest as forest_module
from molops.models.zoo.forest import PARALLEL_APPLY_FROM, RandomForest


def _fingerprint_counts(n: int, seed: int) -> np.ndarray:
    """Count-fingerprint-like rows: ~3% non-zero small integers over 256 columns."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, 256), dtype=np.float32)
    mask = rng.random(X.shape) < 0.03
    X[mask] = rng.integers(1, 5, size=int(mask.sum()))
    return X


@pytest.mark.parametrize("rows", [100, PARALLEL_APPLY_FROM + 50])  # per-tree loop and forest.apply
def test_sparse_chunks_give_each_trees_own_prediction(rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    X = _fingerprint_counts(600, seed=1)
    y = X[:, :20].sum(axis=1) + np.random.default_rng(2).normal(0, 0.1, len(X))
    model = RandomForest(n_estimators=25, n_jobs=1).fit(X, y)
    Xp = _fingerprint_counts(rows, seed=3)
    # each tree's own sklearn prediction on the dense matrix is the reference
    expected = np.stack([est.predict(Xp) for est in model._forest.estimators_])
    sparse = model.tree_predictions(Xp)
    monkeypatch.setattr(forest_module, "SPARSE_WALK_DENSITY", -1.0)  # never CSR
    dense = model.tree_predictions(Xp)
    np.testing.assert_array_equal(sparse, expected)
    np.testing.assert_array_equal(dense, expected)
    mean, _ = model.predict(Xp)
    np.testing.assert_allclose(mean, expected.mean(axis=0), rtol=1e-6)
