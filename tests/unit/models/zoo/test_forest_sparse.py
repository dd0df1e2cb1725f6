"""The forest walks sparse fingerprint chunks as CSR; its trees must land in the same leaves."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from molops.models.zoo import forest as forest_module
from molops.models.zoo.forest import PARALLEL_APPLY_FROM, RandomForest, sparse_rows


def _fingerprint_counts(n: int, seed: int) -> np.ndarray:
    """Count-fingerprint-like rows: ~3% non-zero small integers over 256 columns."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, 256), dtype=np.float32)
    mask = rng.random(X.shape) < 0.03
    X[mask] = rng.integers(1, 5, size=int(mask.sum()))
    return X


@pytest.mark.parametrize(
    ("rows", "n_jobs"),
    [(100, 2), (PARALLEL_APPLY_FROM + 50, 1), (PARALLEL_APPLY_FROM + 50, 2)],  # in this thread, in 2
)
def test_sparse_chunks_give_each_trees_own_prediction(
    rows: int, n_jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    X = _fingerprint_counts(600, seed=1)
    y = X[:, :20].sum(axis=1) + np.random.default_rng(2).normal(0, 0.1, len(X))
    model = RandomForest(n_estimators=25, n_jobs=n_jobs).fit(X, y)
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


def test_sparse_rows_is_scipys_csr_with_int32_indices() -> None:
    X = _fingerprint_counts(50, seed=4)
    X[[0, 17, 49]] = 0  # empty rows, first and last among them
    X[5, -1] = -2.5  # a negative value and the last column
    got = sparse_rows(X, density=0.1)
    assert got is not None
    want = csr_matrix(X)
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_array_equal(got.data, want.data)
    assert (got.indptr.dtype, got.indices.dtype, got.data.dtype) == (np.int32, np.int32, np.float32)
    assert got.shape == X.shape


def test_sparse_rows_declines_a_dense_matrix() -> None:
    X = _fingerprint_counts(20, seed=5)
    nnz = np.count_nonzero(X)
    assert sparse_rows(X, density=(nnz + 0.5) / X.size) is not None
    assert sparse_rows(X, density=(nnz - 0.5) / X.size) is None


@pytest.mark.parametrize("rows", [forest_module.FLAT_WALK_UP_TO, 100, PARALLEL_APPLY_FROM + 50])
@pytest.mark.parametrize("dtype", [np.uint16, np.uint8])  # a cache's counts and bits
def test_integer_features_give_the_float32_predictions(
    rows: int, dtype: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    X = _fingerprint_counts(400, seed=6)
    model = RandomForest(n_estimators=15, n_jobs=2).fit(X, X[:, :30].sum(axis=1))
    Xp = _fingerprint_counts(rows, seed=7)
    counts = Xp.astype(dtype)
    expected = np.stack([est.predict(Xp) for est in model._forest.estimators_])
    np.testing.assert_array_equal(model.tree_predictions(counts), expected)
    np.testing.assert_array_equal(model.predict(counts)[0], model.predict(Xp)[0])
    monkeypatch.setattr(forest_module, "SPARSE_WALK_DENSITY", -1.0)  # the dense walk converts them
    np.testing.assert_array_equal(model.tree_predictions(counts), expected)
