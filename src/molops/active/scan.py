"""Streaming a campaign's pool through the model in bounded memory, and describing what it picked.

Scoring streams the pool's identity table in chunks and keeps only a bounded window of the best
candidates (plus a fixed-size uniform sample of predictions for the "best x% of the pool"
reasons), so memory does not grow with the pool. Filters run on that window only, in score order.
"""

from __future__ import annotations

import os
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from molops.active.acquisition import get_acquisition
from molops.active.errors import CampaignError
from molops.active.filters import FilterSet
from molops.active.state import PROPOSAL_COLUMNS, Objective
from molops.active.usage import task_cpu
from molops.compute.local import Executor
from molops.data.pool import PoolIdentity
from molops.features.base import get_featurizer
from molops.features.cache import FeatureCache
from molops.models.base import Surrogate
from molops.models.reference import fingerprints, nearest
from molops.models.transforms import TargetTransform
from molops.workspace import Workspace

#: (stage, done, total): stage names a step ("features …", "scoring pool"); total 0 when unknown.
Progress = Callable[[str, int, int], None]

#: Pool rows scored per chunk: bounds memory (rows × feature width × 4 bytes, SCORING_THREADS
#: chunks in flight). A forest walks more molecules per CPU-second in bigger chunks (its fixed
#: cost per tree and call is spread wider); past this size the gain is small next to the memory.
CHUNK_ROWS = 8192
#: ... for a model that reads SMILES: its graphs are built 512 at a time whatever the chunk, and each
#: chunk is one ``predict`` call (on a GPU, a start of its loader processes), so chunks are larger.
SMILES_CHUNK_ROWS = 32_768
#: Best-scored candidates kept while streaming, per molecule of the batch (at least WINDOW_MIN).
WINDOW_PER_PICK = 100
WINDOW_MIN = 2000
#: Size of the uniform sample of predictions behind "best x% of the pool".
SAMPLE_SIZE = 100_000
#: Chunks a feature model scores at once in the proposing process: a model's own threads cover
#: only its predict call (a forest's tree walks), so a second chunk's reading, converting and
#: statistics (numpy, which releases the GIL) run while the first one's trees are walked.
SCORING_THREADS = 2


class Scan:
    """Bounded memory while streaming a pool: the best-scored window and a uniform sample.

    Means are utilities here (higher is better), as the acquisition scored them.
    """

    def __init__(self, window: int, sample: int, rng: np.random.Generator) -> None:
        self.window, self.sample_size, self.rng = window, sample, rng
        self.cols: dict[str, np.ndarray] = {}
        self.sample_key = np.zeros(0)
        self.sample_mean = np.zeros(0)
        self.sample_std = np.zeros(0)
        self.scored = 0
        #: CPU-seconds of the chunks scored in other processes (executor workers, Ray tasks)
        self.task_cpu = 0.0
        self.excluded: Counter[str] = Counter(
            {"no_identity": 0, "measured": 0, "open_proposal": 0, "no_features": 0}
        )

    def add(
        self,
        scores: np.ndarray,
        mean: np.ndarray,
        std: np.ndarray,
        keys: np.ndarray,
        smiles: np.ndarray,
        rows: np.ndarray,
        extra: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Add a scored chunk; *extra* columns (one row per molecule, e.g. every objective's means)
        are kept in the window with the rest."""
        self.scored += len(scores)
        new = {"score": scores, "mean": mean, "std": std, "key": keys, "smiles": smiles, "row": rows}
        new |= extra or {}
        cols = {k: np.concatenate([self.cols[k], v]) if self.cols else v for k, v in new.items()}
        if len(cols["score"]) > self.window:
            keyed = np.where(np.isnan(cols["score"]), -np.inf, cols["score"])
            part = np.argpartition(-keyed, self.window - 1)[: self.window]
            cols = {k: v[part] for k, v in cols.items()}
        self.cols = cols
        # bottom-k by a random key is a uniform sample of every prediction seen so far
        u = self.rng.random(len(scores))
        key = np.concatenate([self.sample_key, u])
        m = np.concatenate([self.sample_mean, mean])
        s = np.concatenate([self.sample_std, std])
        if len(key) > self.sample_size:
            part = np.argpartition(key, self.sample_size - 1)[: self.sample_size]
            key, m, s = key[part], m[part], s[part]
        self.sample_key, self.sample_mean, self.sample_std = key, m, s

    def top_fraction(self, utility_mean: float, std: float) -> tuple[float, float]:
        """The fraction of the pool predicted at least this good, and at least this uncertain."""
        n = max(1, len(self.sample_mean))
        q_mean = float(np.sum(self.sample_mean >= utility_mean)) / n
        q_std = float(np.sum(self.sample_std >= std)) / n
        return max(q_mean, 1 / n), max(q_std, 1 / n)

    def ranked(self, need: int, filters: FilterSet | None, filtered: Counter[str]) -> dict[str, np.ndarray]:
        """The window in score order, one row per molecule, cut after *need* that pass the filters."""
        if not self.cols:
            return {k: np.zeros(0) for k in ("score", "mean", "std", "key", "smiles", "row")}
        keyed = np.where(np.isnan(self.cols["score"]), -np.inf, self.cols["score"])
        order = np.argsort(-keyed, kind="stable")
        chosen: list[int] = []
        seen: set[str] = set()
        for i in order:
            key = self.cols["key"][i]
            if key in seen:  # a molecule listed twice in the pool
                filtered["duplicate"] += 1
                continue
            seen.add(key)
            if filters is not None:
                why = filters.reason(self.cols["smiles"][i])
                if why is not None:
                    filtered[why] += 1
                    continue
            chosen.append(int(i))
            if len(chosen) >= need:
                break
        idx = np.asarray(chosen, dtype=np.int64)
        return {k: v[idx] for k, v in self.cols.items()}


def pool_identity(ws: Workspace, path: Path, smiles_col: str | None) -> PoolIdentity:
    """The identity table ``FeatureStore.build_pool`` wrote for this file."""
    identity = ws.features.pool_identity(path, smiles_col)
    if not identity.exists():
        raise CampaignError(f"pool {path}: its identity table was not written; rerun the command")
    return identity


@dataclass
class ChunkScorer:
    """Scores one chunk of pool molecules: features from the caches (or, with no *specs*, the
    standardised SMILES, for a model that reads them), the model's (mean, std) as utilities, the
    acquisition's scores. Picklable: on an executor it travels without the model, which each
    worker loads once from *model_dir* (a folder the workers can read)."""

    features_root: Path
    lock_dir: Path
    specs: list[str]
    model_dir: Path
    transform: TargetTransform
    acquisition: str
    best: float
    seed: list[int]
    model: Any = field(default=None, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "model": None}

    def __call__(self, keys: np.ndarray, smiles: np.ndarray, chunk: int) -> tuple[np.ndarray, Any]:
        """(which keys had features in every cache, (scores, mean, std) for those or None)."""
        if not len(keys):
            return np.zeros(0, dtype=bool), None
        model = self.model if self.model is not None else _load_model(str(self.model_dir))
        X, ok = self._inputs(keys, smiles, native=getattr(model, "reads_integer_features", False))
        if not ok.any():
            return ok, None
        # the model predicts utility (higher is better), as acquisitions expect
        mean, std = self.transform.inverse(*model.predict(X))
        rng = np.random.default_rng([*self.seed, chunk])  # the same draws on every executor
        return ok, (get_acquisition(self.acquisition).score(mean, std, self.best, rng), mean, std)

    def _inputs(self, keys: np.ndarray, smiles: np.ndarray, native: bool = False) -> tuple[Any, np.ndarray]:
        """The model's inputs for the rows that have them, and which rows those are; *native*: one
        featurizer's values in the cache's own dtype (uint16 counts: half float32's bytes)."""
        if not self.specs:
            return np.asarray(smiles, dtype=object), np.ones(len(keys), dtype=bool)
        parts, ok = [], np.ones(len(keys), dtype=bool)
        dtype = None if native and len(self.specs) == 1 else np.float32
        for spec in self.specs:
            # opened per chunk: its shards are mapped only while a chunk is read, so the pages read
            # do not stay resident (a million molecules of counts are 4 GB of pages)
            X, v = FeatureCache(self.features_root, get_featurizer(spec), self.lock_dir).get(keys, dtype)
            parts.append(X)
            ok &= v
        if len(parts) > 1:
            return np.hstack([p[ok] for p in parts]), ok
        return (parts[0] if ok.all() else parts[0][ok]), ok


@lru_cache(maxsize=2)
def _load_model(path: str) -> Surrogate:
    return Surrogate.load(path)


#: A chunk's scorer: (keys, smiles, chunk number) → (which keys it scored, (scores, mean, std[,
#: extra columns]) or None); a ChunkScorer, or one scoring several objectives (molops.active.multi).
Scorer = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, Any]]


def _score_chunk(
    scorer: Scorer, keys: np.ndarray, smiles: np.ndarray, chunk: int
) -> tuple[np.ndarray, Any, float, int]:
    """The scorer's result, with the CPU-seconds it took and the process it ran in."""
    started = task_cpu()
    ok, scored = scorer(keys, smiles, chunk)
    return ok, scored, task_cpu() - started, os.getpid()


def _in_threads(
    units: Iterator[tuple[Any, ...]], threads: int
) -> Iterator[tuple[np.ndarray, Any, float, int]]:
    """:func:`_score_chunk` of each unit on *threads* threads, a chunk per thread, in order."""
    pool = ThreadPoolExecutor(threads, thread_name_prefix="molops-scan")
    pending: deque[Future[tuple[np.ndarray, Any, float, int]]] = deque()
    try:
        for unit in units:
            pending.append(pool.submit(_score_chunk, *unit))
            if len(pending) >= threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def scan_pool(
    scan: Scan,
    identity: PoolIdentity,
    exclude: dict[str, set[str]],
    scorer: Scorer,
    chunk_rows: int = CHUNK_ROWS,
    progress: Progress | None = None,
    executor: Executor | None = None,
    threads: int = 1,
) -> int:
    """Score the pool's rows into *scan*, chunk by chunk; returns how many rows the pool has.

    Rows without an identity, whose InChIKey is in one of the *exclude* sets (counted under its
    label) or without features in every cache are counted in ``scan.excluded`` and not scored.
    Chunks are scored here (on *threads* threads, for a scorer that may run concurrently), or by
    *executor* (local processes or Ray tasks, a few chunks in flight), results in order, with the
    same results every way.
    """
    total, done = identity.rows(), 0
    pending: deque[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = deque()

    def units() -> Any:
        for chunk, batch in enumerate(identity.batches(chunk_rows)):
            keys = np.asarray(batch.column("inchikey").to_pylist(), dtype=object)
            smiles = np.asarray(batch.column("smiles").to_pylist(), dtype=object)
            rows = batch.column("row").to_numpy()
            keep = np.asarray(batch.column("inchikey").is_valid())
            scan.excluded["no_identity"] += int((~keep).sum())
            for label, known in exclude.items():
                hit = keep & np.fromiter((k in known for k in keys), dtype=bool, count=len(keys))
                scan.excluded[label] += int(hit.sum())
                keep &= ~hit
            idx = np.flatnonzero(keep)
            pending.append((keys[idx], smiles[idx], rows[idx], len(keys)))
            yield (scorer, keys[idx].astype(str), smiles[idx], chunk)

    if executor is not None:
        results = executor.map(_score_chunk, units())
    elif threads > 1:
        results = _in_threads(units(), threads)
    else:
        results = (_score_chunk(*unit) for unit in units())
    for ok, scored, cpu, pid in results:
        keys, smiles, rows, n_rows = pending.popleft()
        if pid != os.getpid():  # this process's own CPU time is counted where it is spent
            scan.task_cpu += cpu
        scan.excluded["no_features"] += int((~ok).sum())
        if scored is not None:
            scores, mean, std, *extra = scored
            scan.add(scores, mean, std, keys[ok], smiles[ok], rows[ok], extra[0] if extra else None)
        done += n_rows
        if progress:
            progress("scoring pool", done, total)
    return total


def _pct(fraction: float) -> str:
    value = fraction * 100
    return f"{value:.0f}%" if value >= 1 else f"{value:.1g}%"


def reason(acquisition: str, needs: frozenset[str], q_mean: float, q_std: float) -> str:
    """Why a molecule was picked, in the terms of the pool: exploit (its mean) or explore (its std)."""
    if acquisition == "random":
        return "random pick (the baseline acquisition)"
    mean_part = f"predicted mean in the best {_pct(q_mean)} of the pool"
    if "std" in needs and (q_std < q_mean or "mean" not in needs):
        return f"explore: std in the top {_pct(q_std)} of the pool ({mean_part.replace('predicted ', '')})"
    return f"exploit: {mean_part}"


def batch_frame(
    objective: Objective,
    train: pd.DataFrame,
    cand: dict[str, np.ndarray],
    fps: np.ndarray,
    pick: np.ndarray,
    scan: Scan,
    acquisition: str,
    needs: frozenset[str],
) -> pd.DataFrame:
    """The ranked batch with, per molecule, its nearest measured neighbour and a reason."""
    train_fps = fingerprints(train["smiles"].tolist())[0]
    sim, near = nearest(fps[pick], train_fps) if len(pick) else (np.zeros(0), np.zeros(0, dtype=int))
    values = train[objective.target].to_numpy(dtype=np.float64)
    reasons = []
    for i in pick:
        q_mean, q_std = scan.top_fraction(float(cand["mean"][i]), float(cand["std"][i]))
        reasons.append(reason(acquisition, needs, q_mean, q_std))
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(pick) + 1, dtype=np.int64),
            "smiles": cand["smiles"][pick].astype(str),
            "inchikey": cand["key"][pick].astype(str),
            # back from utility to the target's own units (a minimised target was negated)
            "predicted_mean": objective.utility(cand["mean"][pick]),
            "predicted_std": cand["std"][pick].astype(np.float64),
            "acquisition_score": cand["score"][pick].astype(np.float64),
            "nearest_smiles": train["smiles"].to_numpy()[near].astype(str),
            "nearest_similarity": np.round(sim, 3),
            "nearest_value": values[near],
            "reason": reasons,
            "cost": cand["cost"][pick] if "cost" in cand else np.full(len(pick), np.nan),
            "pool_row": cand["row"][pick].astype(np.int64),
        },
        columns=PROPOSAL_COLUMNS,
    )
