"""LightGBM: a bootstrap ensemble of gradient-boosted tree models, their spread as uncertainty."""

from __future__ import annotations

from typing import Any, ClassVar, Self, cast

import numpy as np
from pydantic import Field

from molops.models.base import MODELS, Capability, ModelParams, Surrogate, ensemble_stats
from molops.models.zoo._common import as_matrix, as_training_set, draw_members, member_seeds


class BoostingParams(ModelParams):
    n_members: int = Field(5, ge=2, description="ensemble members, each trained on its own bootstrap sample")
    n_estimators: int = Field(500, ge=1, description="boosting rounds per member")
    learning_rate: float = Field(0.05, gt=0, le=1, description="shrinkage per boosting round")
    num_leaves: int = Field(31, ge=2, description="maximum leaves per tree")
    max_depth: int = Field(-1, ge=-1, description="maximum tree depth (-1: limited by num_leaves only)")
    min_child_samples: int = Field(
        5, ge=1, description="fewest molecules in a leaf (small: fingerprint bits are rare)"
    )
    colsample_bytree: float = Field(0.5, gt=0, le=1, description="fraction of features each tree may use")
    reg_lambda: float = Field(1.0, ge=0, description="L2 penalty on leaf values")
    n_jobs: int = Field(
        -1, description="threads per member (-1: one below 10,000 training molecules, else all cores)"
    )
    seed: int = Field(0, description="random seed (bootstrap samples and each member's own seed)")


#: Below this many training molecules LightGBM runs on one thread (when ``n_jobs`` is -1): its
#: OpenMP threads synchronise at every histogram, which on small sets costs more than it saves, and
#: on a busy machine (other processes on the cores) spinning threads slowed a FreeSolv fit tenfold.
SINGLE_THREAD_BELOW = 10_000


def threads(n_jobs: int, n_rows: int) -> int:
    """LightGBM's thread count: *n_jobs* when positive, else 1 for small sets and all cores above."""
    if n_jobs > 0:
        return n_jobs
    return 1 if n_rows < SINGLE_THREAD_BELOW else -1


@MODELS.register("lightgbm")
class LightGBMEnsemble(Surrogate[BoostingParams]):
    """An ensemble of LightGBM regressors, each fitted on a bootstrap resample of the training set.

    Mean and std are over the members; samples are members' predictions. Members are trained one
    after another with LightGBM's deterministic mode, so a seed fixes every prediction.
    """

    name = "lightgbm"
    Params = BoostingParams
    provides: ClassVar[frozenset[Capability]] = frozenset({"mean", "std", "samples"})

    def fit(self, X: np.ndarray, y: np.ndarray) -> Self:
        from lightgbm import LGBMRegressor  # ~1 s to import: only fitting needs it, not the registry

        p = self.params
        Xa, ya = as_training_set(self.name, X, y)
        n = len(ya)
        members = []
        for rng in member_seeds(p.seed, p.n_members):
            rows = rng.integers(0, n, n)
            member = LGBMRegressor(
                n_estimators=p.n_estimators,
                learning_rate=p.learning_rate,
                num_leaves=p.num_leaves,
                max_depth=p.max_depth,
                min_child_samples=p.min_child_samples,
                colsample_bytree=p.colsample_bytree,
                reg_lambda=p.reg_lambda,
                n_jobs=threads(p.n_jobs, n),
                random_state=int(rng.integers(0, 2**31 - 1)),
                deterministic=True,
                force_row_wise=True,  # deterministic mode needs a fixed histogram layout
                verbose=-1,
            )
            member.fit(Xa[rows], ya[rows])
            members.append(member)
        self._members = members
        self.n_features_ = Xa.shape[1]
        self.fitted = True
        return self

    def member_predictions(self, X: np.ndarray) -> np.ndarray:
        """Predictions of every member, shape (n_members, n)."""
        self.check_fitted()
        Xa = as_matrix(self.name, X, n_features=self.n_features_)
        # predict() is typed for pred_contrib's sparse outputs too; plain predictions are dense arrays
        return np.stack([cast(np.ndarray, m.predict(Xa)) for m in self._members]).astype(np.float64)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ensemble_stats(self.member_predictions(X))

    def sample(self, X: np.ndarray, n_samples: int, seed: int = 0) -> np.ndarray:
        """Predictions of *n_samples* members (each member once before any repeats)."""
        return draw_members(self.member_predictions(X), n_samples, seed)

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int("n_estimators", 100, 2000, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 128, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 1, 50, log=True),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.1, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        }
