"""A deep ensemble of scikit-learn multilayer perceptrons, their disagreement as uncertainty."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal, Self

import numpy as np
from pydantic import Field
from scipy import sparse

from molops.models.base import MODELS, Capability, ModelParams, Surrogate, ensemble_stats
from molops.models.zoo._common import as_matrix, as_training_set, draw_members, member_seeds

#: fewest molecules in the held-out split before early stopping is used (below: train to tol)
_MIN_VALIDATION = 10
#: unscaled features with fewer nonzeros than this fraction are passed to the members as CSR
_SPARSE_DENSITY = 0.25


class MLPParams(ModelParams):
    n_members: int = Field(5, ge=2, description="ensemble members, differing in their random seed")
    hidden_layer_sizes: tuple[int, ...] = Field((256, 64), min_length=1, description="units per hidden layer")
    # sklearn divides alpha by the number of training molecules, so the penalty fades as data grows
    alpha: float = Field(1.0, ge=0, description="L2 penalty on the weights")
    # Standardising sparse fingerprints divides rare bits by a tiny std (a bit set in 1 of 500
    # molecules becomes ~22): on FreeSolv (Morgan counts, 3 splits) it cut held-out R² from
    # 0.84–0.91 (raw or centred, equal within noise) to 0.60–0.71. So 'auto' leaves bits and counts
    # raw, which also keeps them sparse: members train on a CSR matrix, about twice as fast.
    scale: Literal["auto", "standard", "center", "none"] = Field(
        "auto",
        description="feature scaling fitted on the training set: 'standard' (centre and divide by the std), "
        "'center', 'none', or 'auto': standard for dense features (any negative or non-integer value), "
        "none for bits and counts",
    )
    learning_rate_init: float = Field(1e-3, gt=0, description="initial Adam step size")
    batch_size: int | None = Field(
        None,
        ge=1,
        description="minibatch size; None: n/8 clipped to [32, 200], so a small set still gets "
        "several Adam steps per epoch (sklearn's min(200, n) gives one, and stalls at max_iter)",
    )
    max_iter: int = Field(500, ge=1, description="most epochs per member")
    early_stopping: bool = Field(
        True,
        description="stop each member when its held-out score stops improving (only where the held-out "
        "split has at least 10 molecules; smaller sets train until the loss stops improving)",
    )
    validation_fraction: float = Field(0.1, gt=0, lt=1, description="held-out fraction for early stopping")
    n_iter_no_change: int = Field(20, ge=1, description="epochs without improvement before stopping")
    seed: int = Field(0, description="random seed (each member's initialisation, batches and split)")


@MODELS.register("mlp")
class MLPEnsemble(Surrogate[MLPParams]):
    """A deep ensemble: MLPs from different random seeds; mean and std over members.

    Dense descriptors are standardised by a scaler fitted on the training set and stored with the
    model; fingerprints are used raw (see ``scale``); targets are standardised inside. Every member
    sees all training molecules; they differ in initial weights, minibatch order and early-stopping
    split.
    """

    name = "mlp"
    Params = MLPParams
    provides: ClassVar[frozenset[Capability]] = frozenset({"mean", "std", "samples"})

    def fit(self, X: np.ndarray, y: np.ndarray) -> Self:
        # scikit-learn's estimators cost ~1 s to import: only fitting needs them, not the registry
        from sklearn.neural_network import MLPRegressor
        from sklearn.preprocessing import StandardScaler

        p = self.params
        Xa, ya = as_training_set(self.name, X, y, dtype=np.float64)  # float64: raw descriptors can be huge
        dense = bool((Xa < 0).any() or (Xa != np.floor(Xa)).any())
        scale = ("standard" if dense else "none") if p.scale == "auto" else p.scale
        self._scaler = None if scale == "none" else StandardScaler(with_std=scale == "standard").fit(Xa)
        self._sparse = self._scaler is None and np.count_nonzero(Xa) < _SPARSE_DENSITY * Xa.size
        Xs = self._features(Xa)
        self._y_mean = float(ya.mean())
        self._y_scale = float(ya.std()) or 1.0
        ys = (ya - self._y_mean) / self._y_scale
        n_held_out = math.ceil(p.validation_fraction * len(ya))  # as sklearn's train_test_split
        early = p.early_stopping and n_held_out >= _MIN_VALIDATION
        n_train = len(ya) - n_held_out if early else len(ya)
        members = []
        for rng in member_seeds(p.seed, p.n_members):
            member = MLPRegressor(
                hidden_layer_sizes=p.hidden_layer_sizes,
                alpha=p.alpha,
                learning_rate_init=p.learning_rate_init,
                batch_size=min(p.batch_size or max(32, min(200, n_train // 8)), n_train),
                max_iter=p.max_iter,
                early_stopping=early,
                validation_fraction=p.validation_fraction,
                n_iter_no_change=p.n_iter_no_change,
                random_state=int(rng.integers(0, 2**31 - 1)),
            )
            member.fit(Xs, ys)
            members.append(member)
        self._members = members
        self.n_features_ = Xa.shape[1]
        self.fitted = True
        return self

    def _features(self, Xa: np.ndarray) -> np.ndarray | sparse.csr_matrix:
        if self._scaler is not None:
            scaled: np.ndarray = self._scaler.transform(Xa).astype(np.float32)
            return scaled
        Xs = Xa.astype(np.float32)
        return sparse.csr_matrix(Xs) if self._sparse else Xs

    def member_predictions(self, X: np.ndarray) -> np.ndarray:
        """Predictions of every member in the user's units, shape (n_members, n)."""
        self.check_fitted()
        Xs = self._features(as_matrix(self.name, X, dtype=np.float64, n_features=self.n_features_))
        raw = np.stack([m.predict(Xs) for m in self._members]).astype(np.float64)
        return raw * self._y_scale + self._y_mean

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ensemble_stats(self.member_predictions(X))

    def sample(self, X: np.ndarray, n_samples: int, seed: int = 0) -> np.ndarray:
        """Predictions of *n_samples* members (each member once before any repeats)."""
        return draw_members(self.member_predictions(X), n_samples, seed)

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        width = trial.suggest_int("width", 64, 1024, log=True)
        depth = trial.suggest_int("depth", 1, 3)
        return {
            "hidden_layer_sizes": tuple(max(16, width // 4**i) for i in range(depth)),
            "alpha": trial.suggest_float("alpha", 1e-5, 1.0, log=True),
            "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-4, 1e-2, log=True),
        }
