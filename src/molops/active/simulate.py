"""Retrospective active learning: replay the loop against a file whose values are already known.

The file is the oracle: a molecule's value is revealed only once the strategy acquires it. Each
repeat draws its own random initial batch, then alternates fit → score the rest of the library →
select a batch → reveal. The metric is MolPAL's: the fraction of the library's true top-k
(the k best values, ties broken by file order) acquired so far, after every batch.

Rows the oracle cannot use are reported, not silently dropped: a structure the standardiser
rejects or a value that is not a number is counted by reason; a molecule listed twice keeps its
first value (its file order), and the count of such duplicates is reported.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from molops.active.acquisition import to_utility
from molops.active.recipe import Recipe, featurize
from molops.active.selection import diverse, top_n
from molops.chem.standardize import StandardizerSettings
from molops.compute.local import Executor, LocalExecutor
from molops.data.readers import RecordReader
from molops.data.sources import Source, detect_format
from molops.data.validation import validate_chunk
from molops.errors import MolopsError
from molops.models.reference import fingerprints

#: (stage, done, total): stage is "read", "features" or "loop".
Progress = Callable[[str, int, int], None]


class SimulationError(MolopsError):
    """A simulation cannot run as asked (too few molecules, sizes that do not fit the library)."""

    exit_code = 2


@dataclass
class Library:
    """The oracle's molecules: standardised, unique, with their values, in file order."""

    smiles: list[str]
    inchikeys: list[str]
    y: np.ndarray
    source: str
    rows_in: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0

    def __len__(self) -> int:
        return len(self.smiles)

    def report(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows_in": self.rows_in,
            "molecules": len(self),
            "duplicates": self.duplicates,
            "rejected": dict(self.rejected),
        }


def load_library(
    path: Path,
    smiles_col: str | None,
    target_col: str,
    settings: StandardizerSettings | None = None,
    executor: Executor | None = None,
    progress: Progress | None = None,
) -> Library:
    """Read, validate and standardise a file of measured molecules into an oracle library."""
    executor = executor or LocalExecutor(1)
    settings = settings or StandardizerSettings()
    fmt = detect_format(path)
    smiles: list[str] = []
    keys: list[str] = []
    values: list[float] = []
    rejected: Counter[str] = Counter()
    seen: set[str] = set()
    rows_in = duplicates = 0
    with Source(path) as source:
        reader = RecordReader(source, fmt, smiles_col, target_col, chunk_rows=2000)
        units = (
            (chunk.structures, chunk.targets, chunk.read_errors, reader.structure_format, settings)
            for chunk in reader
        )
        for verdict in executor.map(validate_chunk, units):
            rows_in += len(verdict.accepted) + len(verdict.rejected)
            rejected.update(reason for _, reason, _ in verdict.rejected)
            for key, smi, value in zip(verdict.inchikeys, verdict.smiles, verdict.values, strict=True):
                if key in seen:
                    duplicates += 1
                    continue
                seen.add(key)
                keys.append(key)
                smiles.append(smi)
                values.append(value)
            if progress:
                progress("read", source.bytes_read, source.size)
    return Library(smiles, keys, np.asarray(values), str(path), rows_in, dict(rejected), duplicates)


class Curve(BaseModel):
    """One point of the averaged curve: evaluated molecules and the top-k fraction found."""

    evaluated: int
    top_k_found_mean: float
    top_k_found_sd: float


class SimulationResult(BaseModel):
    """What ``molops campaign simulate --json`` prints."""

    recipe: dict[str, Any]
    library: dict[str, Any]
    protocol: dict[str, Any]
    repeats: list[list[dict[str, float]]]
    curve: list[Curve]
    final: Curve
    seconds: float
    seconds_features: float


def size_of(fraction_or_count: float, n: int, what: str) -> int:
    """A batch size given as a fraction of the library (< 1) or a count (≥ 1)."""
    if fraction_or_count <= 0:
        raise SimulationError(
            f"{what} must be positive (a fraction below 1 or a count); got {fraction_or_count}"
        )
    size = int(fraction_or_count * n) if fraction_or_count < 1 else int(fraction_or_count)
    if not 1 <= size <= n:
        raise SimulationError(f"{what} {fraction_or_count} gives {size} molecules of a library of {n}")
    return size


def top_k_indices(y: np.ndarray, k: int, maximize: bool) -> np.ndarray:
    """The k best values' indices; equal values keep file order (a stable sort)."""
    return np.argsort(-to_utility(y, maximize), kind="stable")[:k]


def _iteration(
    recipe: Recipe,
    X: np.ndarray,
    utility: np.ndarray,
    train: np.ndarray,
    pool: np.ndarray,
    fps: np.ndarray | None,
    batch: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Fit on the *train* rows, score the *pool* rows, return the indices of the next batch."""
    transform = recipe.target_transform().fit(utility[train])
    model = recipe.surrogate().fit(X[train], transform.transform(utility[train]))
    mean, std = transform.inverse(*model.predict(X[pool]))
    scores = recipe.acquisition_fn().score(mean, std, float(utility[train].max()), rng)
    chosen = top_n(scores, batch) if fps is None else diverse(scores, batch, fps[pool], recipe.max_similarity)
    batch_rows: np.ndarray = pool[chosen]
    return batch_rows


def simulate(
    library: Library,
    recipe: Recipe,
    *,
    maximize: bool,
    init: float = 0.01,
    batch: float = 0.01,
    iterations: int = 5,
    top_k: float = 0.01,
    repeats: int = 5,
    seed: int = 0,
    executor: Executor | None = None,
    progress: Progress | None = None,
    features: tuple[np.ndarray, np.ndarray] | None = None,
    first_repeat: int = 0,
) -> SimulationResult:
    """Replay the loop *repeats* times; see the module docstring.

    *features*: (X, valid) already computed for the recipe's featurizer (benchmarks share them
    between recipes); computed here otherwise. Repeat *r* draws its initial batch from the seed
    ``(seed, r)``; *first_repeat* numbers the first one, so repeats run apart (in parallel
    processes) give the same curves as one run of them all.
    """
    started = time.perf_counter()
    recipe = recipe.check().canonical()
    n = len(library)
    if n < 10:
        raise SimulationError(f"{library.source}: {n} usable molecules; a simulation needs at least 10")
    n_init, n_batch = size_of(init, n, "--init"), size_of(batch, n, "--batch")
    k = size_of(top_k, n, "--top-k")
    if iterations < 0:
        raise SimulationError(f"--iterations must be 0 or more; got {iterations}")
    if n_init + iterations * n_batch > n:
        raise SimulationError(
            f"{n_init} initial + {iterations} × {n_batch} molecules exceed the library of {n}"
        )
    if features is None:
        X, valid = featurize(
            library.smiles,
            recipe.featurizer,
            executor,
            progress=(lambda d, t: progress("features", d, t)) if progress else None,
        )
    else:
        X, valid = features
    seconds_features = time.perf_counter() - started
    fps = fingerprints(library.smiles)[0] if recipe.max_similarity < 1.0 else None
    utility = to_utility(library.y, maximize)
    top = np.zeros(n, dtype=bool)
    top[top_k_indices(library.y, k, maximize)] = True
    runs: list[list[dict[str, float]]] = []
    total = repeats * iterations
    for r in range(repeats):
        rng = np.random.default_rng([seed, first_repeat + r])
        acquired = np.zeros(n, dtype=bool)
        acquired[rng.choice(np.flatnonzero(valid), size=min(n_init, int(valid.sum())), replace=False)] = True
        points = [_point(acquired, top, k)]
        for it in range(iterations):
            # a molecule without features can be neither fitted nor scored
            train, pool = np.flatnonzero(acquired & valid), np.flatnonzero(~acquired & valid)
            if len(pool):
                acquired[_iteration(recipe, X, utility, train, pool, fps, n_batch, rng)] = True
            points.append(_point(acquired, top, k))
            if progress:
                progress("loop", r * iterations + it + 1, total)
        runs.append(points)
    curve = mean_curve(runs)
    return SimulationResult(
        recipe=recipe.model_dump(),
        library=library.report() | {"invalid_features": int((~valid).sum())},
        protocol={
            "maximize": maximize,
            "init": n_init,
            "batch": n_batch,
            "iterations": iterations,
            "top_k": k,
            "repeats": repeats,
            "seed": seed,
            "first_repeat": first_repeat,
        },
        repeats=runs,
        curve=curve,
        final=curve[-1],
        seconds=round(time.perf_counter() - started, 2),
        seconds_features=round(seconds_features, 2),
    )


def mean_curve(runs: list[list[dict[str, float]]]) -> list[Curve]:
    """The curve averaged over repeats: per iteration, the mean and sd of the top-k fraction found."""
    return [
        Curve(
            evaluated=int(np.mean([run[i]["evaluated"] for run in runs])),
            top_k_found_mean=round(float(np.mean([run[i]["top_k_found"] for run in runs])), 4),
            top_k_found_sd=round(float(np.std([run[i]["top_k_found"] for run in runs])), 4),
        )
        for i in range(len(runs[0]))
    ]


def _point(acquired: np.ndarray, top: np.ndarray, k: int) -> dict[str, float]:
    return {"evaluated": int(acquired.sum()), "top_k_found": float((acquired & top).sum() / k)}
