"""Drift statistics: pure functions of numbers, each returning the figures a verdict is made from.

Every test pairs a significance test (is the difference real at this sample size?) with an effect
size (is it big enough to matter?); a check alerts only when both say so. PSI alone flags noise in
small windows (its expectation for two samples of the *same* distribution is about
(bins − 1)(1/n + 1/N)), and a p-value alone flags tiny, irrelevant shifts in large windows.
Several descriptors are tested at once, so their p-values are Bonferroni-corrected.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

EPS = 1e-4


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index of *current* against *reference* on the reference's quantile bins."""
    reference, current = _finite(reference), _finite(current)
    if len(reference) == 0 or len(current) == 0:
        return float("nan")
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    cur = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1)
    p = np.clip(ref / ref.sum(), EPS, None)
    q = np.clip(cur / cur.sum(), EPS, None)
    return float(np.sum((q - p) * np.log(q / p)))


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    finite: np.ndarray = values[np.isfinite(values)]
    return finite


@dataclass(frozen=True)
class Shift:
    """How one distribution moved: KS statistic and p-value, PSI, and the Wasserstein distance in
    units of the reference's standard deviation."""

    ks: float
    p_value: float
    psi: float
    wasserstein_sd: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "ks": round(self.ks, 4),
            "p_value": float(f"{self.p_value:.3g}"),
            "psi": round(self.psi, 4),
            "wasserstein_sd": round(self.wasserstein_sd, 4),
            "n": self.n,
        }


def shift(
    reference: np.ndarray,
    current: np.ndarray,
    alternative: Literal["two-sided", "less", "greater"] = "two-sided",
) -> Shift:
    """The :class:`Shift` of *current* against *reference* (NaNs ignored)."""
    reference, current = _finite(reference), _finite(current)
    if len(reference) < 2 or len(current) < 2:
        return Shift(float("nan"), 1.0, float("nan"), float("nan"), len(current))
    with warnings.catch_warnings():  # "exact calculation unsuccessful": SciPy falls back to asymptotics
        warnings.simplefilter("ignore", RuntimeWarning)
        ks = stats.ks_2samp(current, reference, alternative=alternative)
    sd = float(np.std(reference)) or 1.0
    return Shift(
        float(ks.statistic),
        float(ks.pvalue),
        psi(reference, current),
        float(stats.wasserstein_distance(reference, current)) / sd,
        len(current),
    )


def excess_rate(k: int, n: int, expected: float) -> float:
    """One-sided binomial p-value that a rate k/n exceeds *expected* by chance."""
    if n == 0:
        return 1.0
    expected = min(max(expected, 1e-6), 1 - 1e-6)
    return float(stats.binomtest(k, n, expected, alternative="greater").pvalue)


def unseen_rate(labels: np.ndarray) -> float:
    """Good–Turing estimate of the chance that the next draw has a label never seen before:
    the share of labels seen exactly once (e.g. scaffolds of a training set)."""
    if len(labels) == 0:
        return 1.0
    _, counts = np.unique(labels, return_counts=True)
    return float((counts == 1).sum() / len(labels))
