"""The Tanimoto kernel and the exact and Nyström paths of the GP."""

from __future__ import annotations

import numpy as np
import pytest

from molops.models import InvalidModelError, get_model
from molops.models.zoo import gaussian_process
from molops.models.zoo.gaussian_process import tanimoto_kernel

from .conftest import features, split


def brute_minmax(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    A, B = A.astype(float)[:, None, :], B.astype(float)[None, :, :]
    smin, smax = np.minimum(A, B).sum(-1), np.maximum(A, B).sum(-1)
    return np.where(smax > 0, smin / np.where(smax > 0, smax, 1), 1.0)


@pytest.mark.parametrize("spec", ["morgan", "morgan:counts=true"])
def test_kernel_equals_the_definition(spec):
    X = features(spec)[:60]
    np.testing.assert_allclose(tanimoto_kernel(X), brute_minmax(X, X), atol=1e-12)
    np.testing.assert_allclose(tanimoto_kernel(X[:7], X[20:]), brute_minmax(X[:7], X[20:]), atol=1e-12)


def test_kernel_on_bits_is_the_usual_tanimoto():
    a = np.array([[1, 1, 0, 1, 0]], dtype=np.uint8)
    b = np.array([[1, 0, 0, 1, 1]], dtype=np.uint8)
    assert tanimoto_kernel(a, b)[0, 0] == pytest.approx(2 / 4)


def test_kernel_on_counts_above_the_matrix_product_levels_and_dense_values():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 40, (30, 16)) * (rng.random((30, 16)) < 0.4)
    np.testing.assert_allclose(tanimoto_kernel(counts), brute_minmax(counts, counts), atol=1e-12)
    dense = rng.random((25, 9)).astype(np.float32) * 3
    np.testing.assert_allclose(tanimoto_kernel(dense[:10], dense), brute_minmax(dense[:10], dense), atol=1e-6)


@pytest.mark.parametrize("spec", ["morgan", "morgan:counts=true"])
def test_kernel_matrix_is_symmetric_psd_with_unit_diagonal(spec):
    T = tanimoto_kernel(features(spec)[:300])
    np.testing.assert_array_equal(T, T.T)
    np.testing.assert_array_equal(np.diag(T), 1.0)
    assert np.linalg.eigvalsh(T).min() > -1e-8
    assert T.min() >= 0 and T.max() <= 1


def test_identical_vectors_have_similarity_one_and_zero_vectors_are_handled():
    x = features("morgan:counts=true")[:5]
    np.testing.assert_allclose(tanimoto_kernel(x, x.copy()).diagonal(), 1.0)
    zero = np.zeros((2, x.shape[1]), dtype=np.uint16)
    assert tanimoto_kernel(zero, zero).tolist() == [[1.0, 1.0], [1.0, 1.0]]
    np.testing.assert_array_equal(tanimoto_kernel(zero, x), 0.0)


def test_fits_and_predicts_all_zero_fingerprints():
    data = split("morgan")
    X = data.X_train[:80].copy()
    X[:3] = 0
    model = get_model("gp").fit(X, data.y_train[:80])
    mean, std = model.predict(np.zeros((2, X.shape[1]), dtype=np.uint8))
    assert np.isfinite(mean).all() and (std > 0).all()
    assert mean[0] == mean[1]


def test_std_includes_the_noise_and_reverts_to_the_prior_far_away():
    data = split()
    model = get_model("gp").fit(data.X_train, data.y_train)
    _, std_train = model.predict(data.X_train)
    scale = data.y_train.std()
    assert (std_train >= np.sqrt(model.noise) * scale * (1 - 1e-9)).all()
    nothing_shared = np.zeros((1, data.X_train.shape[1]), dtype=np.uint16)
    nothing_shared[0, np.flatnonzero(data.X_train.sum(axis=0) == 0)[:5]] = 1
    _, std_new = model.predict(nothing_shared)
    assert std_new[0] == pytest.approx(np.sqrt(model.amplitude + model.noise) * scale)


def test_nystrom_path_gives_sensible_predictions():
    data = split()
    model = get_model("gp", max_exact=200, n_inducing=250).fit(data.X_train, data.y_train)
    assert not model.exact and len(model._Z) == 250
    mean, std = model.predict(data.X_test)
    score = 1 - np.sum((data.y_test - mean) ** 2) / np.sum((data.y_test - data.y_test.mean()) ** 2)
    print(f"gp (Nyström, 250 inducing of {len(data.y_train)}): held-out R² {score:.3f}")
    assert score > 0.3 and (std > 0).all()
    _, std_train = model.predict(data.X_train)
    _, std_far = model.predict(data.X_far)
    assert std_far.mean() > std_train.mean()
    other = get_model("gp", max_exact=200, n_inducing=250, seed=1).fit(data.X_train, data.y_train)
    assert not np.array_equal(other.predict(data.X_test)[0], mean)
    draws = model.sample(data.X_far, 3, seed=0)
    assert draws.shape == (3, len(data.X_far)) and np.isfinite(draws).all()


def test_joint_samples_match_predict_and_large_batches_draw_independently(monkeypatch):
    data = split()
    model = get_model("gp").fit(data.X_train[:200], data.y_train[:200])
    mean, std = model.predict(data.X_test[:20])
    draws = model.sample(data.X_test[:20], 4000, seed=0)
    np.testing.assert_allclose(draws.mean(axis=0), mean, atol=4 * std.max() / np.sqrt(4000) * 1.5)
    np.testing.assert_allclose(draws.std(axis=0), std, rtol=0.1)
    near = np.corrcoef(draws.T)
    assert near[~np.eye(20, dtype=bool)].max() > 0.2  # similar molecules move together
    monkeypatch.setattr(gaussian_process, "_JOINT_MAX", 5)
    independent = model.sample(data.X_test[:20], 4000, seed=0)
    assert np.abs(np.corrcoef(independent.T)[~np.eye(20, dtype=bool)]).max() < 0.1


def test_dense_features_are_minmax_scaled_unless_told_not_to():
    X = features("rdkit2d:set=basic")[:100]
    y = np.linspace(0, 1, 100)
    assert (X < 0).any()
    get_model("gp").fit(X, y)
    with pytest.raises(InvalidModelError, match="needs nonnegative features"):
        get_model("gp", scale="none").fit(X, y)


def test_fixed_noise_is_kept():
    data = split()
    model = get_model("gp", noise=0.05).fit(data.X_train[:100], data.y_train[:100])
    assert model.noise == pytest.approx(0.05)


def test_negative_query_features_on_a_model_fitted_without_scaling():
    X = features("morgan:counts=true")[:50]
    model = get_model("gp").fit(X, np.arange(50.0))
    with pytest.raises(InvalidModelError, match="nonnegative features"):
        model.predict(-np.ones((1, X.shape[1]), dtype=np.float32))
