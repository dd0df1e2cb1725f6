"""The fingerprint + descriptor GP (gp-split) and the GP kernel's per-column integer path."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from molops.models import InvalidModelError, get_model
from molops.models.zoo import gaussian_process
from molops.models.zoo.gaussian_process import tanimoto_kernel
from molops.models.zoo.gp_split import fingerprint_columns

from .conftest import features, freesolv
from .test_gaussian_process import brute_minmax


def joined(n: int = 120) -> np.ndarray:
    """Morgan counts (2,048 integer columns) then RDKit's basic descriptors (real-valued, some < 0)."""
    return np.hstack([features("morgan:counts=true")[:n], features("rdkit2d:set=basic")[:n]])


def minmax_scaled(D: np.ndarray, ref: np.ndarray) -> np.ndarray:
    low, span = ref.min(axis=0), ref.max(axis=0) - ref.min(axis=0)
    return np.maximum((D - low) / np.where(span > 0, span, np.inf), 0)


def test_fingerprint_columns_are_long_runs_of_nonnegative_integers():
    X = np.array([[1, 0.5, 2, 3, 4, -1, 1, 1], [0, 1.0, 0, 7, 1, 2, 0, 3]], dtype=np.float32)
    assert fingerprint_columns(X, 3).tolist() == [0, 0, 1, 1, 1, 0, 0, 0]
    assert fingerprint_columns(X, 2).tolist() == [0, 0, 1, 1, 1, 0, 1, 1]
    assert not fingerprint_columns(X, 4).any()


def test_rdkit_count_descriptors_stay_with_the_descriptors():
    X = joined()
    mask = fingerprint_columns(X, 256)
    assert mask[:2048].all() and not mask[2048:].any()


def test_kernel_matches_the_weighted_sum_of_reference_kernels():
    X = joined(80)
    model = get_model("gp-split", weight=0.3).fit(X[:60], freesolv()["expt"].to_numpy()[:60])
    A, B = model._prepare(X[:60]), model._prepare(X[60:])
    C, D = X[:, :2048], minmax_scaled(X[:, 2048:], X[:60, 2048:])
    reference = 0.3 * brute_minmax(C[60:], C[:60]) + 0.7 * brute_minmax(D[60:], D[:60])
    np.testing.assert_allclose(model._kernel(B, A), reference, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), weight=st.floats(0, 1), n=st.integers(2, 25))
def test_kernel_is_symmetric_psd_with_unit_diagonal(seed, weight, n):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 12, (n, 300)) * (rng.random((n, 300)) < 0.3)
    X = np.hstack([counts, rng.normal(size=(n, 7))]).astype(np.float32)
    model = get_model("gp-split", weight=weight).fit(X, rng.normal(size=n))
    K = model._kernel(model._prepare(X))
    np.testing.assert_array_equal(K, K.T)
    np.testing.assert_allclose(np.diag(K), 1.0)
    assert np.linalg.eigvalsh(K).min() > -1e-8


def test_fit_predict_shapes_and_positive_std():
    X, y = joined(200), freesolv()["expt"].to_numpy()[:200]
    model = get_model("gp-split").fit(X[:150], y[:150])
    mean, std = model.predict(X[150:])
    assert mean.shape == std.shape == (50,)
    assert (std > 0).all() and 0 <= model.weight <= 1
    assert np.corrcoef(mean, y[150:])[0, 1] > 0.7
    assert model.sample(X[150:160], 3).shape == (3, 10)


def test_the_weight_follows_the_block_that_carries_the_signal():
    rng = np.random.default_rng(0)
    counts = (rng.random((150, 400)) < 0.1).astype(np.float32)
    dense = rng.normal(size=(150, 6)).astype(np.float32)
    X = np.hstack([counts, dense])
    on_dense = get_model("gp-split").fit(X, np.sin(2 * dense[:, 0]) + dense[:, 1])
    on_counts = get_model("gp-split").fit(X, counts[:, :40].sum(axis=1))
    assert on_dense.weight < 0.5 < on_counts.weight


def test_one_kind_of_column_is_the_plain_gp():
    X, y = features("morgan:counts=true")[:120], freesolv()["expt"].to_numpy()[:120]
    split = get_model("gp-split").fit(X[:100], y[:100]).predict(X[100:])
    plain = get_model("gp").fit(X[:100], y[:100]).predict(X[100:])
    np.testing.assert_allclose(split, plain, rtol=1e-6)


def test_nystrom_path_and_fixed_weight():
    X, y = joined(300), freesolv()["expt"].to_numpy()[:300]
    model = get_model("gp-split", max_exact=100, n_inducing=60, weight=0.5).fit(X[:250], y[:250])
    assert not model.exact and model.weight == 0.5
    mean, std = model.predict(X[250:])
    assert np.isfinite(mean).all() and (std > 0).all()
    assert np.corrcoef(mean, y[250:])[0, 1] > 0.5


def test_negative_values_in_fingerprint_columns_are_refused():
    X = joined(60)
    model = get_model("gp-split").fit(X, freesolv()["expt"].to_numpy()[:60])
    bad = X[:1].copy()
    bad[0, 0] = -1
    with pytest.raises(InvalidModelError, match="fingerprint columns"):
        model.predict(bad)


def test_joined_columns_take_the_integer_path_for_their_integer_part(monkeypatch):
    """Before the per-column split, one real-valued column sent all 2,048 count columns to cdist."""
    X = joined(40)
    X = np.hstack([X[:, :2048], minmax_scaled(X[:, 2048:], X[:, 2048:])]).astype(np.float32)
    widths: list[int] = []
    real_cdist = gaussian_process.cdist

    def spy(A: np.ndarray, B: np.ndarray, metric: str) -> np.ndarray:
        widths.append(A.shape[1])
        return real_cdist(A, B, metric)

    monkeypatch.setattr(gaussian_process, "cdist", spy)
    np.testing.assert_allclose(tanimoto_kernel(X[:10], X), brute_minmax(X[:10], X), atol=1e-6)
    assert widths and max(widths) <= X.shape[1] - 2048  # only the descriptor columns
