"""Gaussian-process regression with a Tanimoto (MinMax) kernel, exact or Nyström-approximated.

Kernel: ``k(x, x') = a · T(x, x')`` with the generalised Tanimoto (MinMax) similarity
``T = Σ min(x, x') / Σ max(x, x')``, which equals the usual Tanimoto on bits, and is positive
semi-definite for any nonnegative vectors (bits, counts, nonnegative dense features). ``T(0, 0)``
is defined as 1 (identical zero vectors) and ``T(0, x) = 0`` for any other x. Features with
negative values (e.g. RDKit descriptors) are min–max scaled to [0, 1] by their training ranges
first (``scale='auto'``), which also stops one large-valued descriptor dominating the kernel.

Targets are standardised (centred and scaled) inside; the amplitude ``a`` and the noise variance
``s`` are fitted by maximising the log marginal likelihood with L-BFGS-B over log-parameters, started
from the best point of a log grid — deterministic. Predictive std is that of a *new measurement*:
the latent variance plus the noise variance ``s``.

Up to ``max_exact`` training molecules the GP is exact (eigendecomposition of the kernel matrix for
the hyperparameters, Cholesky for prediction). Above that it is a Nyström / subset-of-regressors
approximation on ``n_inducing`` molecules chosen by k-means++ seeding (D² sampling with Tanimoto
distance ``1 − T``, seeded): the hyperparameters maximise the Nyström marginal likelihood, the
mean is the subset-of-regressors mean, and the variance is the projected-process (DTC) variance,
which — unlike plain SoR — returns to the prior far from the inducing points.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

import numpy as np
from pydantic import Field
from scipy.linalg import cho_solve, cholesky, eigh, solve_triangular
from scipy.optimize import minimize
from scipy.spatial.distance import cdist

from molops.models.base import MODELS, Capability, InvalidModelError, ModelParams, Surrogate
from molops.models.zoo._common import as_matrix, as_training_set

_CHUNK = 2048  # query rows per kernel block at prediction
_LEVELS = 8  # integer levels done by matrix products; higher counts go through an L1 identity
_JOINT_MAX = 2000  # sample() draws jointly for at most this many query molecules
_POOL = 20000  # k-means++ candidates (at least 10 × n_inducing)


def _is_integral(X: np.ndarray) -> bool:
    return X.dtype.kind in "biu" or not np.mod(X, 1).any()


def _minsum(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``Σ_k min(A_ik, B_jk)`` for nonnegative float32 matrices, as float64 (len(A) × len(B)).

    Integer features use ``min(a, b) = Σ_t [a ≥ t][b ≥ t]`` (one matrix product per level, exact in
    float32 for sums below 2^24); values above the last level, and non-integer features, use
    ``min(a, b) = (a + b − |a − b|) / 2`` over the columns that need it. A matrix that joins
    fingerprint columns to descriptor columns is split by column, so the fingerprint part stays on
    the fast integer path instead of taking the whole matrix through the L1 one.
    """
    if A.dtype.kind == "f" and A.size and B.size:
        integral_cols = ~(np.mod(A, 1).any(axis=0) | np.mod(B, 1).any(axis=0))
        if integral_cols.any() and not integral_cols.all():
            whole, frac = np.flatnonzero(integral_cols), np.flatnonzero(~integral_cols)
            joined: np.ndarray = _minsum(A[:, whole], B[:, whole]) + _minsum(A[:, frac], B[:, frac])
            return joined
    integral = _is_integral(A) and _is_integral(B)
    out = np.zeros((len(A), len(B)), dtype=np.float64)
    if integral:
        top = float(max(A.max(initial=0), B.max(initial=0)))
        for t in range(1, int(min(top, _LEVELS)) + 1):
            cols = np.flatnonzero(np.greater_equal(A, t).any(axis=0) & np.greater_equal(B, t).any(axis=0))
            if len(cols):
                At = np.greater_equal(A[:, cols], t).astype(np.float32)
                Bt = np.greater_equal(B[:, cols], t).astype(np.float32)
                out += At @ Bt.T
        if top <= _LEVELS:
            return out
        A, B = np.maximum(A - _LEVELS, 0), np.maximum(B - _LEVELS, 0)
    cols = np.flatnonzero(A.any(axis=0) & B.any(axis=0))
    if len(cols):
        A64, B64 = A[:, cols].astype(np.float64), B[:, cols].astype(np.float64)
        l1 = cdist(A64, B64, "cityblock")
        out += 0.5 * (A64.sum(axis=1)[:, None] + B64.sum(axis=1)[None, :] - l1)
    return out


def tanimoto_kernel(A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
    """Generalised Tanimoto (MinMax) similarity of nonnegative rows: ``Σ min / Σ max``.

    ``T(0, 0) = 1`` (identical zero vectors) and ``T(0, x) = 0`` otherwise. With ``B=None`` the
    result is the symmetric matrix of *A* with itself, with an exact unit diagonal.
    """
    A = np.ascontiguousarray(A, dtype=np.float32)
    Bm = A if B is None else np.ascontiguousarray(B, dtype=np.float32)
    smin = _minsum(A, Bm)
    total = A.sum(axis=1, dtype=np.float64)[:, None] + Bm.sum(axis=1, dtype=np.float64)[None, :]
    smax = total - smin
    both_zero = smax <= 0  # nonnegative rows: only when both rows are all zero
    T = np.where(both_zero, 1.0, smin / np.where(both_zero, 1.0, smax))
    if B is None:
        T = 0.5 * (T + T.T)
        np.fill_diagonal(T, 1.0)
    return np.clip(T, 0.0, 1.0)


def _neg_lml(
    theta: np.ndarray, eig: np.ndarray, z2: np.ndarray, n_rest: int, r2: float
) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood (without the constant) and its gradient in (log a, log s).

    The covariance ``a·K + s·I`` has eigenvalues ``a·eig + s`` with squared projections ``z2`` of
    the targets, plus ``n_rest`` eigenvalues ``s`` carrying the remaining squared norm ``r2``.
    """
    a, s = np.exp(theta)
    d = a * eig + s
    q = z2 / d
    value = 0.5 * (q.sum() + np.log(d).sum() + n_rest * np.log(s) + r2 / s)
    w = (1.0 - q) / d
    grad = 0.5 * np.array([(w * a * eig).sum(), (w * s).sum() + n_rest - r2 / s])
    return float(value), grad


class GPParams(ModelParams):
    max_exact: int = Field(3000, ge=2, description="train exactly up to this many molecules, Nyström above")
    n_inducing: int = Field(1000, ge=2, description="inducing molecules of the Nyström approximation")
    scale: Literal["auto", "none", "minmax"] = Field(
        "auto",
        description="feature scaling: 'minmax' maps training ranges to [0, 1]; 'none' needs nonnegative "
        "features; 'auto' leaves nonnegative integer features (bits, counts) alone and min–max scales others",
    )
    noise: float | None = Field(
        None, gt=0, description="fixed noise variance in units of the target variance; None fits it"
    )
    min_noise: float = Field(
        1e-4, gt=0, le=1, description="lower bound of the fitted noise variance (target-variance units)"
    )
    seed: int = Field(0, description="random seed (inducing-point selection, samples are seeded separately)")


@MODELS.register("gp")
class TanimotoGP(Surrogate[GPParams]):
    """Exact (or, for large sets, Nyström) GP regression with a Tanimoto kernel."""

    name = "gp"
    Params = GPParams
    provides: ClassVar[frozenset[Capability]] = frozenset({"mean", "std", "samples"})
    #: a GP's posterior std is worth a little exploration: UCB (β = 1) did better than greedy with
    #: ``gp-split`` on the Enamine docking set and FreeSolv both ways (docs/benchmarks.md, issue 19)
    default_acquisition: ClassVar[str] = "ucb:beta=1"

    # -- features ------------------------------------------------------------------------------
    def _prepare(self, X: np.ndarray, *, fitting: bool = False) -> np.ndarray:
        p = self.params
        if fitting:
            nonneg_int = bool((X >= 0).all() and _is_integral(X))
            self._minmax = p.scale == "minmax" or (p.scale == "auto" and not nonneg_int)
            if self._minmax:
                self._low = X.min(axis=0)
                span = X.max(axis=0) - self._low
                self._span = np.where(span > 0, span, np.inf).astype(np.float32)
        if self._minmax:
            scaled: np.ndarray = np.maximum((X - self._low) / self._span, 0).astype(np.float32)
            return scaled
        if (X < 0).any():
            raise InvalidModelError(
                f"model {self.name!r}: the Tanimoto kernel needs nonnegative features; X has negative "
                "values (use scale='minmax' to scale features by their training ranges)"
            )
        return X

    def _kernel(self, A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
        """The unit-diagonal similarity of prepared rows (the fitted amplitude multiplies it)."""
        return tanimoto_kernel(A, B)

    def _fit_kernel(self, Xp: np.ndarray, ys: np.ndarray) -> None:
        """Fit any parameters of :meth:`_kernel` itself before amplitude and noise (none here)."""

    # -- fitting -------------------------------------------------------------------------------
    def _optimise(self, eig: np.ndarray, z2: np.ndarray, n_rest: int, r2: float) -> tuple[float, float]:
        p = self.params
        lo_s, hi_s = (np.log(p.noise),) * 2 if p.noise is not None else (np.log(p.min_noise), np.log(10.0))
        bounds = [(np.log(1e-3), np.log(1e3)), (lo_s, hi_s)]
        grid = [
            np.array([la, ls])
            for la in np.linspace(np.log(1e-2), np.log(1e2), 9)
            for ls in np.linspace(lo_s, hi_s, 9 if hi_s > lo_s else 1)
        ]
        start = min(grid, key=lambda t: _neg_lml(t, eig, z2, n_rest, r2)[0])
        args = (eig, z2, n_rest, r2)
        res = minimize(_neg_lml, start, args=args, jac=True, method="L-BFGS-B", bounds=bounds)
        a, s = np.exp(res.x if res.fun <= _neg_lml(start, *args)[0] else start)
        return float(a), float(s)

    def fit(self, X: np.ndarray, y: np.ndarray) -> Self:
        p = self.params
        Xa, ya = as_training_set(self.name, X, y)
        Xp = self._prepare(Xa, fitting=True)
        self._y_mean = float(ya.mean())
        self._y_scale = float(ya.std()) or 1.0
        ys = (ya - self._y_mean) / self._y_scale
        n = len(ys)
        self.exact = n <= p.max_exact
        self._fit_kernel(Xp, ys)
        if self.exact:
            T = self._kernel(Xp)
            eig, Q = eigh(T)
            eig = np.maximum(eig, 0.0)
            self.amplitude, self.noise = self._optimise(eig, (Q.T @ ys) ** 2, 0, 0.0)
            K = self.amplitude * T
            K[np.diag_indices_from(K)] += self.noise
            self._L = cholesky(K, lower=True)
            self._alpha = cho_solve((self._L, True), ys)
            self._X = Xp
        else:
            self._fit_nystrom(Xp, ys)
        self.n_features_ = Xa.shape[1]
        self.fitted = True
        return self

    def _select_inducing(self, Xp: np.ndarray, m: int) -> np.ndarray:
        """k-means++ seeding (D² sampling, Tanimoto distance) over a seeded random candidate pool."""
        rng = np.random.default_rng(self.params.seed)
        pool = rng.permutation(len(Xp))[: max(_POOL, 10 * m)]
        P = Xp[pool]
        sums = P.sum(axis=1, dtype=np.float64)
        dist = np.full(len(P), np.inf)
        chosen = [int(rng.integers(len(P)))]
        for _ in range(1, m):
            z = P[chosen[-1]]
            nz = np.flatnonzero(z)
            smin = np.minimum(P[:, nz], z[nz]).sum(axis=1, dtype=np.float64)
            smax = sums + float(z.sum(dtype=np.float64)) - smin
            sim = np.where(smax > 0, smin / np.where(smax > 0, smax, 1.0), 1.0)
            dist = np.minimum(dist, 1.0 - sim)
            weight = np.maximum(dist, 0.0) ** 2
            if weight.sum() <= 0:
                break  # every candidate duplicates an inducing point already
            chosen.append(int(rng.choice(len(P), p=weight / weight.sum())))
        return P[chosen]

    def _fit_nystrom(self, Xp: np.ndarray, ys: np.ndarray) -> None:
        p = self.params
        Z = self._select_inducing(Xp, min(p.n_inducing, len(Xp)))
        Tmm = self._kernel(Z)
        Tmm[np.diag_indices_from(Tmm)] += 1e-6
        self._Lm = cholesky(Tmm, lower=True)
        B = np.concatenate(
            [
                solve_triangular(self._Lm, self._kernel(Z, Xp[i : i + _CHUNK]), lower=True).T
                for i in range(0, len(Xp), _CHUNK)
            ]
        )  # n × m, with B Bᵀ = Tnm Tmm⁻¹ Tmn
        eig, V = eigh(B.T @ B)
        eig = np.maximum(eig, 0.0)
        c = V.T @ (B.T @ ys)
        keep = eig > 1e-10 * max(eig.max(), 1e-300)
        z2 = np.where(keep, c**2 / np.where(keep, eig, 1.0), 0.0)
        r2 = max(float(ys @ ys) - float(z2.sum()), 0.0)
        self.amplitude, self.noise = self._optimise(eig, z2, len(ys) - len(eig), r2)
        a, s = self.amplitude, self.noise
        self._w = a * (V @ (c / (s + a * eig)))
        self._C = V / np.sqrt(s + a * eig)
        self._Z = Z

    # -- prediction ----------------------------------------------------------------------------
    def _latent(self, Xq: np.ndarray, *, cov: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Latent mean (standardised units) and variance — or full covariance — for prepared rows."""
        a, s = self.amplitude, self.noise
        if self.exact:
            Tq = self._kernel(Xq, self._X)
            mean = a * (Tq @ self._alpha)
            V = solve_triangular(self._L, a * Tq.T, lower=True)
            prior = a * self._kernel(Xq) if cov else np.full(len(Xq), a)
            return mean, prior - (V.T @ V if cov else (V**2).sum(axis=0))
        Bq = solve_triangular(self._Lm, self._kernel(self._Z, Xq), lower=True)  # m × q
        mean = Bq.T @ self._w
        Cq = self._C.T @ Bq
        if cov:
            return mean, a * self._kernel(Xq) - a * (Bq.T @ Bq) + s * a * (Cq.T @ Cq)
        return mean, a * (1.0 - (Bq**2).sum(axis=0)) + s * a * (Cq**2).sum(axis=0)

    def _queries(self, X: np.ndarray) -> np.ndarray:
        self.check_fitted()
        return self._prepare(as_matrix(self.name, X, n_features=self.n_features_))

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of a new measurement (latent variance plus the fitted noise variance)."""
        Xq = self._queries(X)
        means, stds = [], []
        for i in range(0, len(Xq), _CHUNK):
            mean, var = self._latent(Xq[i : i + _CHUNK])
            means.append(mean * self._y_scale + self._y_mean)
            stds.append(np.sqrt(np.maximum(var, 0.0) + self.noise) * self._y_scale)
        return np.concatenate(means), np.concatenate(stds)

    def sample(self, X: np.ndarray, n_samples: int, seed: int = 0) -> np.ndarray:
        """Draws of new measurements, shape (n_samples, n).

        For up to 2000 query molecules the draws come from the joint posterior (correlated between
        similar molecules, as Thompson sampling of a batch wants); for more, independent draws from
        each molecule's (mean, std). Marginals match :meth:`predict` (noise included).
        """
        if n_samples < 1:
            raise InvalidModelError(f"n_samples must be at least 1; got {n_samples}")
        Xq = self._queries(X)
        if len(Xq) > _JOINT_MAX:
            return super().sample(X, n_samples, seed)
        mean, cov = self._latent(Xq, cov=True)
        cov = 0.5 * (cov + cov.T)
        cov[np.diag_indices_from(cov)] += self.noise
        L = cholesky(cov, lower=True)
        z = np.random.default_rng(seed).standard_normal((n_samples, len(Xq)))
        return (mean[None, :] + z @ L.T) * self._y_scale + self._y_mean

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        """Amplitude and noise are fitted by marginal likelihood; tuning covers the rest."""
        return {
            "min_noise": trial.suggest_float("min_noise", 1e-6, 1e-1, log=True),
            "n_inducing": trial.suggest_int("n_inducing", 256, 4096, log=True),
            "scale": trial.suggest_categorical("scale", ["auto", "minmax"]),
        }
