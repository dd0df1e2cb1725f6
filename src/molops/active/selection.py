"""Batch selection: from acquisition scores to the molecules to make or test next.

Top-N takes the N highest scores; a batch chosen that way is often N close analogues of one
series, which tells the lab little more than one of them would. Diversity-aware selection walks the
candidates in score order and skips any whose Tanimoto similarity to an already chosen molecule is
at least ``max_similarity`` (Morgan r=2 bits): the one documented trade-off knob. 1.0 is plain
top-N; 0.7 removes near-duplicates and close analogues; lower values spread the batch further,
at the price of taking candidates with lower scores.
"""

from __future__ import annotations

import numpy as np

from molops.errors import MolopsError
from molops.models.reference import nearest


class SelectionError(MolopsError):
    """A batch cannot be selected as asked (e.g. a size that is not positive)."""

    exit_code = 2


def top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the *n* highest scores, best first; ties keep the lower index first (stable)."""
    scores = np.asarray(scores, dtype=np.float64)
    if n <= 0:
        raise SelectionError(f"batch size must be positive; got {n}")
    n = min(n, len(scores))
    if n == 0:
        return np.empty(0, dtype=np.int64)
    # NaN scores (a model that failed on a molecule) sort last
    keyed = np.where(np.isnan(scores), -np.inf, scores)
    part = np.argpartition(-keyed, n - 1)[:n] if n < len(keyed) else np.arange(len(keyed))
    threshold = keyed[part].min()
    pool = np.flatnonzero(keyed >= threshold)
    order = pool[np.argsort(-keyed[pool], kind="stable")]
    return order[:n].astype(np.int64)


def diverse(
    scores: np.ndarray,
    n: int,
    fingerprints: np.ndarray,
    max_similarity: float = 1.0,
    *,
    lookahead: int = 50,
) -> np.ndarray:
    """Indices of a batch of *n*: the best scores, none at ``max_similarity`` or more to another.

    *fingerprints* are packed bits (one row per score). Candidates are examined in score order in
    windows of ``lookahead × n``; if the whole pool runs out (a pool of near-duplicates), the batch
    is completed with the best skipped candidates, so it always has ``min(n, len(scores))`` rows.
    """
    if not 0.0 < max_similarity <= 1.0:
        raise SelectionError(f"max_similarity must be in (0, 1]; got {max_similarity}")
    if n <= 0 or max_similarity >= 1.0:
        return top_n(scores, n)
    n = min(n, len(scores))
    if n == 0:
        return np.empty(0, dtype=np.int64)
    window = top_n(scores, min(len(scores), max(n * lookahead, n)))
    chosen: list[int] = []
    skipped: list[int] = []
    for index in window:
        if chosen:
            sim, _ = nearest(fingerprints[index : index + 1], fingerprints[chosen])
            if sim[0] >= max_similarity:
                skipped.append(int(index))
                continue
        chosen.append(int(index))
        if len(chosen) == n:
            break
    if len(chosen) < n:
        chosen.extend(skipped[: n - len(chosen)])
    if len(chosen) < n:  # the window was too small: take the next best outside it
        taken = set(chosen)
        rest = (int(i) for i in top_n(scores, len(scores)) if int(i) not in taken)
        chosen.extend(next(rest) for _ in range(n - len(chosen)))
    return np.asarray(chosen, dtype=np.int64)
