"""Per-molecule costs: a pool column (price, synthesis effort, assay slots) and a budget in its units.

The cost of a candidate is read from the pool file only for the best-scored window (one streaming
pass over the column), so costs never hold the pool in memory. A batch takes candidates in score
order while they fit the budget left: a costly one is skipped and a cheaper one after it may still
fit, so the budget buys the best molecules it can, not only the first ones.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from molops.active.errors import CampaignError
from molops.data.readers import RecordReader
from molops.data.sources import Source, detect_format


def read_costs(path: Path, smiles_col: str | None, cost_col: str, rows: Iterable[int]) -> dict[int, float]:
    """The cost of each wanted pool row (the identity table's row numbers); a row whose cost is
    missing, not a number or negative is left out (it cannot be proposed against a budget)."""
    wanted = set(int(r) for r in rows)
    costs: dict[int, float] = {}
    if not wanted:
        return costs
    fmt = detect_format(path)
    with Source(path) as source:
        for chunk in RecordReader(source, fmt, smiles_col, cost_col):
            for row, value in zip(chunk.rows, chunk.targets, strict=True):
                if row in wanted:
                    cost = _number(value)
                    if cost is not None:
                        costs[row] = cost
            if len(costs) == len(wanted) or (chunk.rows and chunk.rows[-1] >= max(wanted)):
                break
    return costs


def check_costs(path: Path, smiles_col: str | None, cost_col: str, rows: int = 1000) -> None:
    """Refuse a cost column whose first *rows* values hold no usable cost (a non-negative number):
    it names the wrong column, and every candidate would be dropped for want of a cost."""
    fmt = detect_format(path)
    seen: list[object] = []
    with Source(path) as source:
        for chunk in RecordReader(source, fmt, smiles_col, cost_col, chunk_rows=rows):
            seen = list(chunk.targets)
            break
    if seen and all(_number(v) is None for v in seen):
        example = next((v for v in seen if v not in (None, "")), None)
        raise CampaignError(
            f"--cost-col {cost_col!r}: none of the first {len(seen)} pool rows holds a cost (a number of "
            f"0 or more)" + (f"; e.g. {example!r}" if example is not None else ", they are empty")
        )


def _number(value: object) -> float | None:
    try:
        number = float(str(value).strip()) if value is not None else math.nan
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def with_costs(
    path: Path, smiles_col: str | None, cost_col: str, cand: dict[str, np.ndarray], filtered: Counter[str]
) -> dict[str, np.ndarray]:
    """The candidates *cand* (columns, one of them ``row``) with a ``cost`` column from the pool;
    those without a usable cost are dropped and counted in *filtered* as ``no_cost``."""
    costs = read_costs(path, smiles_col, cost_col, cand["row"])
    cost = np.asarray([costs.get(int(r), np.nan) for r in cand["row"]], dtype=np.float64)
    keep = ~np.isnan(cost)
    if (~keep).any():
        filtered["no_cost"] += int((~keep).sum())
    return {k: v[keep] for k, v in cand.items()} | {"cost": cost[keep]}


def fit_budget(order: np.ndarray, costs: np.ndarray, left: float, n: int) -> np.ndarray:
    """Of *order* (candidate indices, best first), those taken while their running cost stays
    within *left*, at most *n*."""
    taken: list[int] = []
    for i in order:
        if costs[i] <= left:
            taken.append(int(i))
            left -= float(costs[i])
            if len(taken) == n:
                break
    return np.asarray(taken, dtype=np.int64)
