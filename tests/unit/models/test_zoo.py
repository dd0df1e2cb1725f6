"""The contract every model of the zoo keeps, checked on FreeSolv (Morgan counts unless named)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from molops.models import MODELS, InvalidModelError, Surrogate, get_model
from molops.models.zoo._common import draw_members

from .conftest import QUICK, features, fitted, freesolv, split

NAMES = ["rf", "lightgbm", "gp", "mlp"]
#: held-out R² each model must beat on FreeSolv (80/20 split, Morgan counts, radius 2, 2048)
MIN_R2 = {"rf": 0.3, "lightgbm": 0.3, "gp": 0.3, "mlp": 0.0}
#: largest training RMSE on twelve molecules, as a fraction of their std: bootstrap ensembles
#: (rf, lightgbm) average in members that never saw a molecule, so they cannot interpolate
MAX_TINY_RMSE = {"rf": 0.5, "lightgbm": 0.5, "gp": 0.1, "mlp": 0.1}
TINY_PARAMS = {
    "rf": {"n_estimators": 50, "n_jobs": 1},
    "lightgbm": {
        "n_members": 3,
        "n_estimators": 100,
        "learning_rate": 0.3,
        "min_child_samples": 1,
        "n_jobs": 1,
    },
    "gp": {"noise": 1e-4},
    "mlp": {"n_members": 3, "hidden_layer_sizes": (64,), "alpha": 1e-4, "max_iter": 2000},
}


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    return 1.0 - float(np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))


def test_the_zoo_is_registered():
    assert set(NAMES) <= set(MODELS)
    for name in NAMES:
        assert MODELS.get(name).name == name
        assert {"mean", "std", "samples"} <= MODELS.get(name).provides


@pytest.mark.parametrize("name", NAMES)
def test_predict_shapes_finite_and_positive_std(name):
    data = split()
    mean, std = fitted(name).predict(data.X_test)
    assert mean.shape == std.shape == (len(data.X_test),)
    assert mean.dtype == std.dtype == np.float64
    assert np.isfinite(mean).all() and np.isfinite(std).all()
    assert (std > 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_std_is_larger_far_from_the_training_data(name):
    data, model = split(), fitted(name)
    _, std_train = model.predict(data.X_train)
    _, std_far = model.predict(data.X_far)
    assert std_far.mean() > 1.5 * std_train.mean()


@pytest.mark.parametrize("name", NAMES)
def test_beats_the_mean_on_held_out_freesolv(name):
    data = split()
    mean, _ = fitted(name).predict(data.X_test)
    score, error = r2(data.y_test, mean), rmse(data.y_test, mean)
    print(f"{name}: FreeSolv held-out RMSE {error:.3f} kcal/mol, R² {score:.3f}")
    assert score > MIN_R2[name]
    assert error < rmse(data.y_test, np.full_like(data.y_test, data.y_train.mean()))


@pytest.mark.parametrize("name", NAMES)
def test_can_overfit_a_tiny_set(name, tiny):
    X, y = tiny
    mean, _ = get_model(name, **TINY_PARAMS[name]).fit(X, y).predict(X)
    assert rmse(mean, y) < MAX_TINY_RMSE[name] * y.std()


@pytest.mark.parametrize("name", NAMES)
def test_works_on_float32_descriptors_and_uint8_bits(name):
    y = freesolv()["expt"].to_numpy()[:150]
    for spec in ("rdkit2d:set=basic", "morgan"):
        X = features(spec)[:150]
        assert X.dtype == (np.float32 if spec.startswith("rdkit2d") else np.uint8)
        mean, std = get_model(name, **QUICK[name]).fit(X[:120], y[:120]).predict(X[120:])
        assert mean.shape == std.shape == (30,)
        assert np.isfinite(mean).all() and (std > 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_seed_makes_it_deterministic(name):
    data = split()
    X, y = data.X_train[:150], data.y_train[:150]
    first = get_model(name, **QUICK[name], seed=3).fit(X, y).predict(data.X_test)
    again = get_model(name, **QUICK[name], seed=3).fit(X, y).predict(data.X_test)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    if name != "gp":  # the exact GP has no randomness to seed
        other = get_model(name, **QUICK[name], seed=4).fit(X, y).predict(data.X_test)
        assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip_predicts_identically(name, tmp_path):
    data, model = split(), fitted(name)
    loaded = Surrogate.load(model.save(tmp_path / name))
    assert type(loaded) is type(model) and loaded.params == model.params
    for a, b in zip(model.predict(data.X_test), loaded.predict(data.X_test), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.sample(data.X_far, 4, seed=1), loaded.sample(data.X_far, 4, seed=1))


@pytest.mark.parametrize("name", NAMES)
def test_clone_is_unfitted_with_equal_params(name):
    model = fitted(name)
    twin = model.clone()
    assert type(twin) is type(model) and twin.params == model.params and not twin.fitted
    with pytest.raises(InvalidModelError, match="not fitted"):
        twin.predict(split().X_test)
    pickle.loads(pickle.dumps(twin))


@pytest.mark.parametrize("name", NAMES)
def test_unknown_parameter_is_named(name):
    with pytest.raises(InvalidModelError, match="'n_trees'"):
        get_model(name, n_trees=10)


@pytest.mark.parametrize("name", NAMES)
def test_invalid_parameter_value_is_named(name):
    with pytest.raises(InvalidModelError, match="'seed'"):
        get_model(name, seed="abc")


@pytest.mark.parametrize("name", NAMES)
def test_predict_or_sample_before_fit(name):
    model = get_model(name)
    with pytest.raises(InvalidModelError, match="not fitted; call fit"):
        model.predict(np.zeros((2, 8)))
    with pytest.raises(InvalidModelError, match="not fitted"):
        model.sample(np.zeros((2, 8)), 3)


@pytest.mark.parametrize("name", NAMES)
def test_shape_mismatches_are_one_clear_sentence(name):
    model = get_model(name, **QUICK[name])
    X, y = np.zeros((5, 4), dtype=np.uint8), np.arange(5.0)
    cases = [
        ((X, y[:4]), "X has 5 rows but y has 4 values"),
        ((X, y[:, None]), r"y must be 1-D of shape \(n,\); got shape \(5, 1\)"),
        ((X[0], y), "X must be 2-D"),
        ((X.astype(float) * np.nan, y), "NaN or infinite values in 5 rows"),
        ((X, np.array([1.0, np.nan, 2.0, 3.0, 4.0])), "y has 1 NaN or infinite values"),
        ((np.array([["a"] * 4] * 5), y), "X must be a numeric matrix"),
    ]
    for args, message in cases:
        with pytest.raises(InvalidModelError, match=message):
            model.fit(*args)
    with pytest.raises(InvalidModelError, match="fitted on 2048 features but X has 4 columns"):
        fitted(name).predict(X)


@pytest.mark.parametrize("name", NAMES)
def test_samples(name):
    data, model = split(), fitted(name)
    draws = model.sample(data.X_far, 7, seed=2)
    assert draws.shape == (7, len(data.X_far)) and np.isfinite(draws).all()
    np.testing.assert_array_equal(draws, model.sample(data.X_far, 7, seed=2))
    assert draws.std(axis=0).min() > 0


def test_draw_members_uses_every_member_before_repeating():
    members = np.arange(5.0)[:, None] * np.ones((1, 3))
    rows = draw_members(members, 12, seed=0)[:, 0]
    assert sorted(rows[:5]) == sorted(rows[5:10]) == [0, 1, 2, 3, 4]
    assert len(set(rows[10:])) == 2
    with pytest.raises(InvalidModelError, match="n_samples"):
        draw_members(members, 0, seed=0)


def test_ensemble_samples_are_member_predictions():
    data = split()
    for name, members in (
        ("rf", "tree_predictions"),
        ("lightgbm", "member_predictions"),
        ("mlp", "member_predictions"),
    ):
        model = fitted(name)
        every = getattr(model, members)(data.X_far)
        mean, std = model.predict(data.X_far)
        np.testing.assert_allclose(every.mean(axis=0), mean)
        np.testing.assert_allclose(every.std(axis=0), std)
        drawn = model.sample(data.X_far, len(every), seed=0)
        assert sorted(map(tuple, drawn)) == sorted(map(tuple, every))


class FakeTrial:
    """Answers suggest_* with the low end, the high end, or a seeded draw of each range."""

    def __init__(self, mode: str, seed: int = 0) -> None:
        self.mode, self.rng, self.asked = mode, np.random.default_rng(seed), {}

    def _pick(self, name, low, high, cast):
        value = {"low": low, "high": high}.get(self.mode)
        if value is None:
            value = cast(self.rng.uniform(low, high))
        self.asked[name] = value
        return value

    def suggest_int(self, name, low, high, step=1, log=False):
        assert low <= high and step >= 1
        return self._pick(name, low, high, lambda v: round(v))

    def suggest_float(self, name, low, high, step=None, log=False):
        assert low < high and (not log or low > 0)
        return self._pick(name, float(low), float(high), float)

    def suggest_categorical(self, name, choices):
        index = {"low": 0, "high": len(choices) - 1}.get(self.mode)
        value = choices[self.rng.integers(len(choices)) if index is None else index]
        self.asked[name] = value
        return value


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("mode", ["low", "high", "draw"])
def test_search_space_gives_valid_params(name, mode):
    trial = FakeTrial(mode)
    params = MODELS.get(name).search_space(trial)
    assert params and trial.asked
    model = get_model(name, **params)
    for key, value in params.items():
        assert getattr(model.params, key) == value


def test_forest_max_features_accepts_fractions_and_names_only():
    assert get_model("rf", max_features="sqrt").params.max_features == "sqrt"
    assert get_model("rf", max_features=1).params.max_features == 1.0
    for bad in (1.5, 0.0, "all"):
        with pytest.raises(InvalidModelError, match="'max_features'"):
            get_model("rf", max_features=bad)


def test_forest_walks_small_inputs_in_this_thread_and_agrees_with_its_threads(monkeypatch):
    from molops.models.zoo import forest

    model, X = fitted("rf"), split().X_test
    assert len(X) < forest.PARALLEL_APPLY_FROM
    here = model.tree_predictions(X)  # < PARALLEL_APPLY_FROM rows: walked in this thread
    monkeypatch.setattr(forest, "PARALLEL_APPLY_FROM", 0)
    np.testing.assert_array_equal(model.tree_predictions(X), here)  # trees walked on threads
