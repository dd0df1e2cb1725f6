"""Random forest (scikit-learn) with the spread of its trees as the uncertainty."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Self

import numpy as np
from joblib import effective_n_jobs  # type: ignore[import-untyped]  # scikit-learn requires joblib
from pydantic import Field, field_validator
from scipy.sparse import csr_matrix

from molops.models.base import MODELS, Capability, ModelParams, Surrogate, ensemble_stats
from molops.models.zoo._common import as_matrix, as_training_set, draw_members
from molops.models.zoo.forest_walk import FlatForest

_CHUNK = 8192  # rows per prediction chunk


class ForestParams(ModelParams):
    n_estimators: int = Field(300, ge=1, description="number of trees")
    max_depth: int | None = Field(None, ge=1, description="maximum tree depth (None: unlimited)")
    min_samples_leaf: int = Field(1, ge=1, description="fewest training molecules in a leaf")
    # A fraction of the features rather than sklearn's "sqrt": a 2048-bit fingerprint has only ~50
    # bits set per molecule, so most of the √2048 ≈ 45 features drawn at a split are weak, rare bits.
    # Breiman's p/3 for regression was best in every case we measured (mean held-out R² over 5
    # random 80/20 splits, 200 trees; sqrt / 0.1 / 0.33): FreeSolv Morgan bits 0.69/0.72/0.72,
    # counts 0.70/0.74/0.75, RDKit 2D 0.90/0.90/0.91; solubility bits 0.68/0.68/0.69, counts
    # 0.77/0.79/0.81, RDKit 2D 0.90/0.91/0.92. Its cost: fitting is ~4× slower than 0.1 and ~16×
    # slower than sqrt (20k molecules × 2048 bits); prediction cost does not change.
    max_features: float | str = Field(
        0.33, description="features tried per split: a fraction in (0, 1], 'sqrt' or 'log2'"
    )
    n_jobs: int = Field(-1, description="parallel jobs for fitting and prediction (-1: all cores)")
    seed: int = Field(0, description="random seed (bootstrap samples and feature draws)")

    @field_validator("max_features", mode="before")
    @classmethod
    def _fraction_or_name(cls, value: Any) -> float | str:
        if value in ("sqrt", "log2"):
            return str(value)
        if isinstance(value, int | float) and not isinstance(value, bool) and 0.0 < value <= 1.0:
            return float(value)
        raise ValueError(f"expected a fraction in (0, 1], 'sqrt' or 'log2'; got {value!r}")


#: Up to this many rows all trees are walked at once with numpy (forest_walk); above it one tree per
#: sklearn call costs less than numpy's per-pair work (crossover measured in docs/benchmarks.md).
FLAT_WALK_UP_TO = 32
#: Chunks with at most this share of non-zero values are walked as CSR (fingerprints: ~2%).
SPARSE_WALK_DENSITY = 0.1

#: Below this many rows the trees are walked in the calling thread (a served request, a small batch).
PARALLEL_APPLY_FROM = 2000


def sparse_rows(X: np.ndarray, density: float) -> csr_matrix | None:
    """The C-contiguous matrix *X* as float32 CSR with int32 indices (as sklearn's trees read it),
    or None when more than *density* of it is non-zero. One pass finds the non-zeros for both the
    density test and the matrix, a fraction of ``count_nonzero`` plus ``csr_matrix`` (the CPU of
    a scoring chunk, docs/benchmarks.md)."""
    n_rows, n_features = X.shape
    nonzero = X != 0
    counts = np.count_nonzero(nonzero, axis=1)
    nnz = int(counts.sum())
    if nnz > density * X.size or nnz >= 2**31:
        return None
    indptr = np.zeros(n_rows + 1, dtype=np.int32)
    np.cumsum(counts, out=indptr[1:])
    flat = np.flatnonzero(nonzero)  # row-major: each row's columns in order
    indices = (flat % n_features).astype(np.int32)
    values = X.ravel()[flat].astype(np.float32, copy=False)
    return csr_matrix((values, indices, indptr), shape=(n_rows, n_features))


@MODELS.register("rf")
class RandomForest(Surrogate[ForestParams]):
    """A random forest; mean and std over the per-tree predictions, samples are single trees.

    The std is the spread of the trees (bootstrap and feature-draw variance), not a calibrated
    predictive error: it is small at training molecules, which most trees have seen.
    """

    name = "rf"
    Params = ForestParams
    provides: ClassVar[frozenset[Capability]] = frozenset({"mean", "std", "samples"})
    #: Pool scoring may pass a feature cache's own integer dtype (uint16 counts, not float32).
    reads_integer_features: ClassVar[bool] = True

    def fit(self, X: np.ndarray, y: np.ndarray) -> Self:
        from sklearn.ensemble import RandomForestRegressor  # only fitting needs it, not the registry

        p = self.params
        Xa, ya = as_training_set(self.name, X, y)
        forest = RandomForestRegressor(
            n_estimators=p.n_estimators,
            max_depth=p.max_depth,
            min_samples_leaf=p.min_samples_leaf,
            max_features=p.max_features,
            n_jobs=p.n_jobs,
            random_state=p.seed,
        )
        forest.fit(Xa, ya)
        # Leaf values of every tree in one flat array: indexed by the flat walk's global node ids,
        # sliced per tree (from its offset) for sklearn's per-tree leaf ids.
        trees = [est.tree_ for est in forest.estimators_]
        self._offsets = np.cumsum([0] + [t.node_count for t in trees[:-1]]).astype(np.intp)
        self._leaf_values = np.concatenate([t.value[:, 0, 0] for t in trees])
        self._forest = forest
        self._flat: FlatForest | None = None
        self.n_features_ = Xa.shape[1]
        self.fitted = True
        return self

    def tree_predictions(self, X: np.ndarray) -> np.ndarray:
        """Predictions of every tree, shape (n_trees, n)."""
        self.check_fitted()
        return self._walk(self._checked(X))

    def _checked(self, X: np.ndarray) -> np.ndarray:
        """*X* checked; small integers (fingerprint counts and bits) keep their dtype: float32 holds
        them exactly, so the trees decide the same, and a chunk's CSR is built from fewer bytes."""
        kind = X.dtype if isinstance(X, np.ndarray) else None
        exact = kind is not None and kind.kind in "biu" and kind.itemsize <= 2
        return as_matrix(self.name, X, dtype=kind.type if exact else np.float32, n_features=self.n_features_)

    def _walk(self, Xa: np.ndarray) -> np.ndarray:
        """Per-tree predictions of an already checked matrix (float32, or integers float32 holds)."""
        if len(Xa) <= FLAT_WALK_UP_TO:  # a served request: all trees in a few numpy calls
            flat: np.ndarray = self._leaf_values[self.flat_forest().apply(Xa)]
            return flat
        # A fingerprint chunk is mostly zeros: sklearn's trees walk a CSR matrix faster than the
        # dense one (same leaves), conversion included; see docs/benchmarks.md.
        Xw: Any = sparse_rows(Xa, SPARSE_WALK_DENSITY)
        if Xw is None:
            Xw = Xa.astype(np.float32, copy=False)
        trees = [est.tree_ for est in self._forest.estimators_]
        out = np.empty((len(trees), len(Xa)), dtype=self._leaf_values.dtype)

        def walk(first: int, stop: int) -> None:
            for t in range(first, min(stop, len(trees))):  # each tree's leaf values are a small, cached table
                start = self._offsets[t]
                np.take(
                    self._leaf_values[start : start + trees[t].node_count], trees[t].apply(Xw), out=out[t]
                )

        workers = effective_n_jobs(self.params.n_jobs) if len(Xa) >= PARALLEL_APPLY_FROM else 1
        if workers <= 1:  # one job, or a batch too small for threads to pay: walk the trees here
            walk(0, len(trees))
            return out
        # sklearn's trees release the GIL while they walk: a few blocks of trees per thread, not
        # forest.apply's joblib task per tree, whose dispatch costs a chunk's CPU (docs/benchmarks.md)
        step = -(-len(trees) // (4 * workers))
        with ThreadPoolExecutor(workers, thread_name_prefix="molops-forest") as pool:
            list(pool.map(walk, range(0, len(trees), step), range(step, len(trees) + step, step)))
        return out

    def flat_forest(self) -> FlatForest:
        """The trees as flat arrays, built on first use (not pickled: models saved before them load too)."""
        flat = getattr(self, "_flat", None)
        if flat is None:
            flat = self._flat = FlatForest([est.tree_ for est in self._forest.estimators_])
        return flat

    def __getstate__(self) -> dict[str, Any]:
        # rebuilt from the trees on first use: a saved bundle stays the size (and shape) it always was
        return {k: v for k, v in self.__dict__.items() if k != "_flat"}

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.check_fitted()
        Xa = self._checked(X)
        # in chunks: the (trees × rows) matrix of a large pool would not fit in memory
        parts = [ensemble_stats(self._walk(Xa[i : i + _CHUNK])) for i in range(0, len(Xa), _CHUNK)]
        return np.concatenate([m for m, _ in parts]), np.concatenate([s for _, s in parts])

    def sample(self, X: np.ndarray, n_samples: int, seed: int = 0) -> np.ndarray:
        """Predictions of *n_samples* trees (each tree once before any repeats)."""
        return draw_members(self.tree_predictions(X), n_samples, seed)

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int("n_estimators", 100, 1000, log=True),
            "max_depth": trial.suggest_categorical("max_depth", [None, 8, 16, 32]),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 10, log=True),
            "max_features": trial.suggest_float("max_features", 0.02, 1.0, log=True),
        }
