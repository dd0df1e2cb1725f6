"""Is the campaign's acquisition working? Per iteration (issue 17): the hit rate against the random
expectation with a binomial interval, the model's error and calibration on the batch it proposed
(its predictions were made before the labels existed), and the batch's chemical diversity.

**Hits.** With the objective's threshold, a hit is a value at or beyond it. Without one, a hit is a
value in the best :data:`DEFAULT_HIT_TOP` (5 %) of the *seed data* (the dataset version the first
iteration trained on), i.e. at or beyond that data's 95th percentile (5th when minimising);
``campaign status --hit-top`` sets the fraction. The threshold is fixed by the seed data, so every
batch is judged by the same bar.

**Random expectation.** A prospective campaign never measures random molecules, so the expected
hit rate of random picks is estimated by the seed data's own hit rate, which assumes the seed data
is a random sample of the pool (true when it was picked at random; a seed set chosen for its good
values makes the expectation too high, a diverse or cheap set may make it too low).

**Intervals** are Wilson score intervals at :data:`CONFIDENCE` (95 %) for k hits in n answered
proposals (Wilson rather than Clopper–Pearson: close to nominal coverage at small n without being
conservative).

**The warning** judges the cumulative acquisition hit rate (every answered proposal so far):

* ``worse than random``: its interval's upper bound is below the random expectation;
* ``not beating random``: after at least :data:`PATIENCE` iterations with answered proposals, its
  interval's lower bound is still at or below the random expectation.

Calibration uses the published std (the recalibrated one when the campaign recalibrates): the
fraction of measured values inside mean ± 1σ and ± 2σ (68.3 % and 95.4 % when calibrated), the
miscalibration area and the Gaussian NLL; with a calibration factor the same numbers of the
model's own std (std / factor) are given as ``raw``, to show whether recalibration helped.
A molecule swapped in during review was the chemist's pick, not the acquisition's, and has no
prediction: the diagnostics leave it out. Diversity is the mean pairwise Tanimoto distance
(1 − similarity) of the batch's reference Morgan fingerprints, and the mean similarity to the
nearest training molecule.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
from pydantic import BaseModel

from molops.active.errors import CampaignError
from molops.models.metrics import gaussian_nll, miscalibration_area, regression_metrics
from molops.models.reference import fingerprints

CONFIDENCE = 0.95
DEFAULT_HIT_TOP = 0.05
PATIENCE = 3
#: Nominal coverage of mean ± 1σ and ± 2σ under a Gaussian.
NOMINAL = {"coverage_1sd": math.erf(1 / math.sqrt(2)), "coverage_2sd": math.erf(2 / math.sqrt(2))}
#: Bytes one block of the pairwise similarity may use.
_BLOCK_BYTES = 32 << 20


# -- statistics --------------------------------------------------------------------------------------
def wilson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion of k in n; None for n = 0."""
    if n == 0:
        return None
    # closed form (scipy's binomtest(...).proportion_ci(method="wilson") to 1e-12, which a test pins):
    # importing scipy.stats cost every ``campaign status`` about 0.4 CPU-s
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # at k = 0 (k = n) the bound is 0 (1) exactly; rounding would leave it a hair off
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


def is_hit(values: np.ndarray, threshold: float, maximize: bool) -> np.ndarray:
    """Whether each value is at or beyond *threshold* in the objective's direction."""
    values = np.asarray(values, dtype=np.float64)
    return values >= threshold if maximize else values <= threshold


def coverage(y: np.ndarray, mean: np.ndarray, std: np.ndarray, k: float) -> float:
    """Fraction of y inside mean ± k·std (NaN for no points)."""
    y, mean, std = (np.asarray(a, dtype=np.float64) for a in (y, mean, std))
    if not len(y):
        return math.nan
    return float(np.mean(np.abs(y - mean) <= k * std))


def mean_pairwise_distance(packed: np.ndarray) -> float | None:
    """Mean Tanimoto distance over every pair of packed fingerprints; None for fewer than two."""
    n = len(packed)
    if n < 2:
        return None
    words = np.ascontiguousarray(packed).view(np.uint64)
    bits = np.bitwise_count(words).sum(axis=1, dtype=np.int64)
    step = max(1, _BLOCK_BYTES // max(1, words.nbytes))
    total = 0.0
    for start in range(0, n, step):
        block = words[start : start + step]
        common = np.bitwise_count(block[:, None, :] & words[None, :, :]).sum(axis=2, dtype=np.int64)
        union = bits[start : start + step, None] + bits[None, :] - common
        sim = np.where(union > 0, common / np.maximum(union, 1), 1.0)
        total += float(sim.sum())
    # the sum has each pair twice and every molecule's similarity to itself (1) once
    mean_sim = (total - n) / (n * (n - 1))
    return float(1.0 - mean_sim)


def diversity(smiles: list[str]) -> float | None:
    """Mean pairwise Tanimoto distance of the molecules that parse (None: fewer than two)."""
    if len(smiles) < 2:
        return None
    packed, valid = fingerprints(smiles)
    return mean_pairwise_distance(packed[valid])


# -- hits ----------------------------------------------------------------------------------------------
class HitRule(BaseModel):
    """What counts as a hit, and how often random picks are expected to hit."""

    threshold: float | None
    maximize: bool
    #: "objective" (the campaign's threshold) or "seed top" (the seed data's best hit_top fraction)
    source: str
    hit_top: float | None = None
    #: the seed data's hits of its n values, the rate and its interval (None: no seed data)
    seed_hits: int | None = None
    seed_n: int | None = None
    expectation: float | None = None
    expectation_interval: tuple[float, float] | None = None
    description: str


def hit_rule(threshold: float | None, maximize: bool, seed: np.ndarray, hit_top: float | None) -> HitRule:
    """The hit rule of a campaign with this objective *threshold* (None: the seed data's best
    *hit_top*) and *seed* data (the values the first iteration trained on)."""
    seed = np.asarray(seed, dtype=np.float64)
    seed = seed[~np.isnan(seed)]
    top = DEFAULT_HIT_TOP if hit_top is None else float(hit_top)
    if not 0 < top < 1:
        raise CampaignError(f"--hit-top must be a fraction above 0 and below 1; got {top:g}")
    sign = "≥" if maximize else "≤"
    if threshold is not None:
        source, desc = "objective", f"a value {sign} {threshold:g} (the campaign's threshold)"
    elif len(seed):
        threshold = float(np.quantile(seed, 1 - top if maximize else top))
        source = "seed top"
        desc = f"a value {sign} {threshold:.4g}, the best {top:.0%} of the {len(seed)} seed measurements"
    else:
        return HitRule(
            threshold=None, maximize=maximize, source="none", description="no threshold, no seed data"
        )
    rule = HitRule(
        threshold=threshold,
        maximize=maximize,
        source=source,
        hit_top=None if source == "objective" else top,
        description=desc,
    )
    if len(seed):
        k = int(is_hit(seed, threshold, maximize).sum())
        rule = rule.model_copy(
            update={
                "seed_hits": k,
                "seed_n": len(seed),
                "expectation": k / len(seed),
                "expectation_interval": wilson(k, len(seed)),
            }
        )
    return rule


def hits(rule: HitRule, values: np.ndarray) -> np.ndarray:
    """Whether each value is a hit under *rule* (which must have a threshold)."""
    assert rule.threshold is not None
    return is_hit(values, rule.threshold, rule.maximize)


def hit_stats(k: int, n: int, expectation: float | None) -> dict[str, Any]:
    """k hits of n, their rate and Wilson interval, and the lift over *expectation*."""
    ci = wilson(k, n)
    rate = k / n if n else None
    return {
        "hits": k,
        "n": n,
        "hit_rate": rate,
        "hit_rate_interval": list(ci) if ci else None,
        "lift": rate / expectation if rate is not None and expectation else None,
    }


def warning(rule: HitRule, cumulative: dict[str, Any], iterations_answered: int) -> str | None:
    """The plain warning when acquisition is not beating random, with its evidence (module docs)."""
    if rule.expectation is None or cumulative["hit_rate_interval"] is None:
        return None
    low, high = cumulative["hit_rate_interval"]
    exp = rule.expectation
    evidence = (
        f"{cumulative['hits']}/{cumulative['n']} answered proposals were hits "
        f"({cumulative['hit_rate']:.1%}, {CONFIDENCE:.0%} interval {low:.1%}–{high:.1%}) against a random "
        f"expectation of {exp:.1%} ({rule.seed_hits}/{rule.seed_n} of the seed data), a hit being "
        f"{rule.description}"
    )
    if high < exp:
        return f"acquisition is doing worse than random: {evidence}"
    if iterations_answered >= PATIENCE and low <= exp:
        return (
            f"acquisition is not beating random after {iterations_answered} measured iterations: "
            f"{evidence}; consider another model, featurizer or acquisition (campaign simulate)"
        )
    return None


# -- one batch -------------------------------------------------------------------------------------
def batch(
    measured: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    factor: float | np.ndarray | None,
) -> dict[str, Any]:
    """Error and calibration of a batch's predictions (made before the labels) on its *measured*
    values (NaN: not measured yet); with a calibration *factor* ≠ 1, the raw std's too."""
    done = ~np.isnan(np.asarray(measured, dtype=np.float64)) & ~np.isnan(np.asarray(mean, dtype=np.float64))
    y, m, s = (np.asarray(a, dtype=np.float64)[done] for a in (measured, mean, std))
    f = None if factor is None else np.broadcast_to(np.asarray(factor, dtype=np.float64), done.shape)[done]
    if not len(y):
        return {"rmse": None, "mae": None, "spearman": None}
    reg = regression_metrics(y, m)
    out: dict[str, Any] = {k: _finite(reg[k]) for k in ("rmse", "mae", "spearman")}
    if np.isnan(s).any():  # a model without std
        return out
    out |= _calibration(y, m, s)
    if f is not None and (f != 1.0).any():
        out["raw"] = _calibration(y, m, s / f)
    return out


def _calibration(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> dict[str, Any]:
    return {
        "coverage_1sd": coverage(y, mean, std, 1.0),
        "coverage_2sd": coverage(y, mean, std, 2.0),
        "miscalibration_area": _finite(miscalibration_area(y, mean, std)) if len(y) >= 2 else None,
        "nll": _finite(gaussian_nll(y, mean, std)),
    }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
