"""Pareto fronts and hypervolumes: pure functions on points where every coordinate is maximised.

A minimised objective is negated before it gets here (a utility, as :mod:`~.acquisition` does), so
"better" is "larger" in every column. Points are rows of an ``(n, k)`` array. The hypervolume of a
set is the volume it dominates above a reference point (a point not above the reference in every
coordinate adds nothing). It is exact: a sweep for two objectives, slicing along the last objective
for more (fine for fronts of hundreds of points, which is what campaigns measure). The
improvement of many candidates against one front is vectorised for one to three objectives,
because a campaign scores a pool of millions in chunks.
"""

from __future__ import annotations

import numpy as np

#: Rows compared at a time by :func:`non_dominated`: bounds its memory to rows × n × k booleans.
_BLOCK = 1024


def _points(points: np.ndarray, k: int | None = None) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"points must be a 2-D array (one row per point); got shape {p.shape}")
    if k is not None and p.shape[1] != k:
        raise ValueError(f"points have {p.shape[1]} coordinates; expected {k}")
    return p


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Which rows no other row dominates (at least as good everywhere, better somewhere); equal
    rows do not dominate each other, so duplicates of a front point are all on the front."""
    p = _points(points)
    keep = np.ones(len(p), dtype=bool)
    for start in range(0, len(p), _BLOCK):
        block = p[start : start + _BLOCK, None, :]
        dominates = np.all(p[None, :, :] >= block, axis=2) & np.any(p[None, :, :] > block, axis=2)
        keep[start : start + _BLOCK] = ~dominates.any(axis=1)
    return keep


def nondominated_sort(points: np.ndarray) -> np.ndarray:
    """Each row's front (0: the non-dominated rows, 1: those left when front 0 is removed, ...)."""
    p = _points(points)
    rank = np.full(len(p), -1, dtype=np.int64)
    left = np.arange(len(p))
    level = 0
    while len(left):
        front = non_dominated(p[left])
        rank[left[front]] = level
        left = left[~front]
        level += 1
    return rank


def front_of(points: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The distinct non-dominated rows strictly above *ref* in every coordinate (what counts)."""
    p = _points(points, len(ref))
    p = p[np.all(p > np.asarray(ref, dtype=np.float64), axis=1)]
    return np.unique(p[non_dominated(p)], axis=0) if len(p) else p


def hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    """The volume *points* dominate above the reference point *ref* (exact)."""
    ref = np.asarray(ref, dtype=np.float64)
    return _hv(front_of(points, ref), ref)


def _hv(front: np.ndarray, ref: np.ndarray) -> float:
    if not len(front):
        return 0.0
    k = front.shape[1]
    if k == 1:
        return float(front[:, 0].max() - ref[0])
    if k == 2:
        f = front[np.argsort(-front[:, 0], kind="stable")]  # x descending, so y ascending
        x_next = np.append(f[1:, 0], ref[0])
        return float(np.sum((f[:, 0] - x_next) * (f[:, 1] - ref[1])))
    # slice along the last coordinate: between two of its levels the (k-1)-D front is fixed
    levels = np.unique(front[:, -1])[::-1]
    bounds = np.append(levels[1:], ref[-1])
    total = 0.0
    for top, bottom in zip(levels, bounds, strict=True):
        above = front[front[:, -1] >= top, :-1]
        total += _hv(front_of(above, ref[:-1]), ref[:-1]) * float(top - bottom)
    return total


def improvement(candidates: np.ndarray, front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The hypervolume each candidate would add to *front* on its own (vectorised over the
    candidates; one to three coordinates)."""
    ref = np.asarray(ref, dtype=np.float64)
    c = _points(candidates, len(ref))
    f = front_of(front, ref) if len(front) else np.zeros((0, len(ref)))
    k = len(ref)
    if k == 1:
        best = f[:, 0].max() if len(f) else ref[0]
        gain: np.ndarray = np.clip(c[:, 0] - best, 0.0, None)
        return gain
    if k == 2:
        return _improvement_2d(c, f, ref)
    if k == 3:
        # slabs along z: above the front's highest z nothing in the front is in the way; between
        # two levels the 2-D front of the points reaching that high is
        levels = np.unique(f[:, 2])[::-1] if len(f) else np.zeros(0)
        tops = np.append(np.inf, levels)
        bottoms = np.append(levels, ref[2])
        gain = np.zeros(len(c))
        for top, bottom in zip(tops, bottoms, strict=True):
            depth = np.clip(np.minimum(c[:, 2], top) - bottom, 0.0, None)
            if not depth.any():
                continue
            slab = front_of(f[f[:, 2] >= top, :2], ref[:2]) if np.isfinite(top) else np.zeros((0, 2))
            gain += depth * _improvement_2d(c[:, :2], slab, ref[:2])
        return gain
    raise ValueError(f"hypervolume improvement is vectorised for 1 to 3 objectives; got {k}")


def _improvement_2d(c: np.ndarray, f: np.ndarray, ref: np.ndarray) -> np.ndarray:
    # the front's staircase: for x in (x_{j-1}, x_j] (x ascending) the dominated height is y_j,
    # beyond the last x it is the reference's
    f = f[np.argsort(f[:, 0], kind="stable")] if len(f) else f
    lo = np.append(ref[0], f[:, 0])
    hi = np.append(f[:, 0], np.inf)
    height = np.append(f[:, 1], ref[1])
    width = np.clip(np.minimum(c[:, :1], hi[None, :]) - lo[None, :], 0.0, None)
    rise = np.clip(c[:, 1:2] - height[None, :], 0.0, None)
    gain: np.ndarray = np.sum(width * rise, axis=1)
    return gain


def shortfall(candidates: np.ndarray, front: np.ndarray) -> np.ndarray:
    """The smallest amount to add to every coordinate of each candidate so that no front point
    dominates it (0 for a candidate already non-dominated): how far a dominated candidate is."""
    c = _points(candidates)
    f = _points(front, c.shape[1]) if len(front) else np.zeros((0, c.shape[1]))
    if not len(f):
        return np.zeros(len(c))
    # it must get past every front point: past one, somewhere (the smallest gap over coordinates)
    need = np.full(len(c), -np.inf)
    for start in range(0, len(f), 128):  # candidates × 128 × k at a time
        gaps = np.min(f[None, start : start + 128, :] - c[:, None, :], axis=2)
        need = np.maximum(need, gaps.max(axis=1))
    distance: np.ndarray = np.clip(need, 0.0, None)
    return distance
