"""Seeded, recorded train/valid/test splits: random, scaffold, time, k-fold, and subsampling.

Every split is a :class:`Split` value holding integer index arrays plus what made it (kind, seed,
fractions), so a training run can log exactly which rows it saw: :meth:`Split.to_record` gives a
compact JSON record (sizes and a hash of the indices), ``model_dump_json`` the indices themselves.

Part sizes follow one rule everywhere: valid and test get ``round(n * fraction)`` rows, at least one
when their fraction is positive, and train gets the remainder. Scaffold splits keep whole Bemis–Murcko
scaffold groups on one side, so their sizes only approximate the fractions (see :func:`scaffold_split`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)
from rdkit import Chem
from rdkit.rdBase import BlockLogs

from molops.errors import MolopsError

SplitKind = Literal["random", "scaffold", "time"]
SPLIT_KINDS: tuple[str, ...] = ("random", "scaffold", "time")
Fractions = tuple[float, float, float]
DEFAULT_FRACTIONS: Fractions = (0.8, 0.1, 0.1)
_PARTS = ("train", "valid", "test")


class SplitError(MolopsError):
    """A split cannot be made: bad fractions, too few rows or scaffolds, or a missing column."""

    exit_code = 2


def _index_array(value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.size == 0:
        arr = arr.reshape(0).astype(np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError("indices must be a one-dimensional array of integers")
    arr = np.array(arr, dtype=np.int64)  # an own copy, read-only, so a Split stays immutable
    arr.setflags(write=False)
    return arr


IndexArray = Annotated[
    np.ndarray,
    BeforeValidator(_index_array),
    PlainSerializer(lambda a: a.tolist(), return_type=list[int]),
    WithJsonSchema({"type": "array", "items": {"type": "integer"}}),
]


class Split(BaseModel):
    """Disjoint row indices for train, valid and test, with how they were made."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    seed: int | None
    fractions: Fractions
    train: IndexArray
    valid: IndexArray
    test: IndexArray
    fold: int | None = None
    n_folds: int | None = None

    @model_validator(mode="after")
    def _disjoint(self) -> Split:
        every = np.concatenate([self.train, self.valid, self.test])
        if every.size and (every.min() < 0 or np.unique(every).size != every.size):
            raise ValueError("split indices must be non-negative and each row in at most one part")
        return self

    @property
    def sizes(self) -> dict[str, int]:
        return {part: int(getattr(self, part).size) for part in _PARTS}

    def digest(self) -> str:
        """A short hash of the indices: two runs with equal digests trained and tested on the same rows."""
        h = hashlib.sha256()
        for part in _PARTS:
            h.update(part.encode())
            h.update(getattr(self, part).astype("<i8").tobytes())
        return h.hexdigest()[:16]

    def to_record(self) -> dict[str, Any]:
        """What a run log needs: kind, seed, fractions, sizes and the index hash (not the indices)."""
        record: dict[str, Any] = {
            "name": self.name,
            "seed": self.seed,
            "fractions": list(self.fractions),
            "sizes": self.sizes,
            "n": sum(self.sizes.values()),
            "hash": self.digest(),
        }
        if self.fold is not None:
            record |= {"fold": self.fold, "n_folds": self.n_folds}
        return record

    def remap(self, rows: np.ndarray) -> Split:
        """The same split with each index *i* replaced by ``rows[i]`` (positions in a larger table)."""
        rows = np.asarray(rows, dtype=np.int64)
        return self.model_copy(update={p: _index_array(rows[getattr(self, p)]) for p in _PARTS})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Split):
            return NotImplemented
        return self.to_record() == other.to_record() and all(
            np.array_equal(getattr(self, p), getattr(other, p)) for p in _PARTS
        )

    def __hash__(self) -> int:
        return hash((self.name, self.seed, self.fold, self.digest()))


# -- validation and sizes ---------------------------------------------------------------------------
def _fmt(fractions: Sequence[float]) -> str:
    return "(" + ", ".join(f"{f:g}" for f in fractions) + ")"


def check_fractions(fractions: Sequence[float]) -> Fractions:
    """(train, valid, test) fractions that are finite, non-negative and sum to 1; train, test > 0."""
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3:
        raise SplitError(f"fractions must be three numbers (train, valid, test); got {len(fr)}: {_fmt(fr)}")
    if not all(np.isfinite(f) and f >= 0 for f in fr):
        raise SplitError(f"fractions must be finite and non-negative; got {_fmt(fr)}")
    if abs(sum(fr) - 1.0) > 1e-6:
        raise SplitError(f"fractions {_fmt(fr)} sum to {sum(fr):g}; they must sum to 1")
    if fr[0] <= 0 or fr[2] <= 0:
        raise SplitError(f"train and test fractions must be positive; got {_fmt(fr)}")
    return fr[0], fr[1], fr[2]


def _part_sizes(n: int, fractions: Fractions, what: str) -> tuple[int, int, int]:
    _, f_valid, f_test = fractions
    n_valid = max(1, round(n * f_valid)) if f_valid > 0 else 0
    n_test = max(1, round(n * f_test))
    while n - n_valid - n_test < 1 and max(n_valid, n_test) > 1:
        if n_valid > n_test:
            n_valid -= 1
        else:
            n_test -= 1
    if n - n_valid - n_test < 1:
        need = 3 if f_valid > 0 else 2
        raise SplitError(
            f"a {what} split with fractions {_fmt(fractions)} needs at least {need} rows; got {n}"
        )
    return n - n_valid - n_test, n_valid, n_test


def _parts(order: np.ndarray, sizes: tuple[int, int, int]) -> dict[str, np.ndarray]:
    n_train, n_valid, _ = sizes
    cuts = np.split(order, [n_train, n_train + n_valid])
    return {p: np.sort(c) for p, c in zip(_PARTS, cuts, strict=True)}


def _split(name: str, seed: int | None, fractions: Fractions, parts: dict[str, np.ndarray]) -> Split:
    return Split(
        name=name,
        seed=seed,
        fractions=fractions,
        train=parts["train"],
        valid=parts["valid"],
        test=parts["test"],
    )


def _check_k(n: int, k: int, what: str) -> None:
    if k < 2:
        raise SplitError(f"{what} needs k >= 2 folds; got k={k}")
    if n < k:
        raise SplitError(f"{what} with k={k} needs at least {k} rows; got {n}")


# -- the splits ------------------------------------------------------------------------------------
def random_split(n: int, fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0) -> Split:
    """Rows 0..n-1 shuffled with *seed* and cut into train, valid, test."""
    fr = check_fractions(fractions)
    sizes = _part_sizes(n, fr, "random")
    order = np.random.default_rng(seed).permutation(n)
    return _split("random", seed, fr, _parts(order, sizes))


def time_split(order: Sequence[Any] | np.ndarray, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> Split:
    """Oldest rows (smallest *order*, e.g. first-seen ingest order) train, newest test.

    A forward-in-time check: the model is scored on molecules that arrived after those it learned from.
    """
    fr = check_fractions(fractions)
    keys = np.asarray(order)
    if keys.ndim != 1:
        raise SplitError(f"a time split needs one order value per row; got an array of shape {keys.shape}")
    if keys.dtype.kind == "f" and np.isnan(keys).any():
        missing = int(np.isnan(keys).sum())
        raise SplitError(f"a time split needs an order for every row; {missing} are missing")
    sizes = _part_sizes(len(keys), fr, "time")
    return _split("time", None, fr, _parts(np.argsort(keys, kind="stable"), sizes))


def scaffolds(smiles: Sequence[str] | np.ndarray) -> list[str]:
    """Bemis–Murcko scaffold SMILES of each molecule (no chirality); acyclic molecules give ``""``.

    Dataset snapshots hold standardised SMILES, so the scaffold is that of the standardised parent.
    """
    from rdkit.Chem.Scaffolds import MurckoScaffold  # only scaffold splits need it

    out: list[str] = []
    _quiet = BlockLogs()  # RDKit would print parse errors on stderr; we raise instead
    for i, smi in enumerate(smiles):
        mol = Chem.MolFromSmiles(smi) if isinstance(smi, str) and smi else None
        if mol is None:
            raise SplitError(f"row {i}: cannot compute the scaffold of SMILES {smi!r}; RDKit cannot parse it")
        out.append(MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False))
    del _quiet
    return out


def _groups(keys: Sequence[str]) -> list[np.ndarray]:
    """Row indices per distinct key, in order of first appearance."""
    by_key: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        by_key.setdefault(key, []).append(i)
    return [np.asarray(rows, dtype=np.int64) for rows in by_key.values()]


def scaffold_split(
    smiles: Sequence[str] | np.ndarray, fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0
) -> Split:
    """Whole scaffold groups go to one side, so test molecules have scaffolds train never saw.

    The rule (chemprop's balanced scaffold split): target sizes come from the fractions as for a
    random split. "Big" groups — more than half the size of the smaller of valid/test — are placed
    first, largest first; then the small groups in a random order drawn from *seed*. Each group goes
    to train if it still fits there, else to valid if it fits, else to test. Big groups thus land in
    train and the many small ones balance valid and test; sizes approximate the fractions. Acyclic
    molecules share the empty scaffold and so form one group.
    """
    fr = check_fractions(fractions)
    sizes = _part_sizes(len(smiles), fr, "scaffold")
    groups = _groups(scaffolds(smiles))
    cut = min(s for s in sizes[1:] if s > 0) / 2
    big = sorted((g for g in groups if len(g) > cut), key=lambda g: (-len(g), g[0]))
    small = [g for g in groups if len(g) <= cut]
    rng = np.random.default_rng(seed)
    ordered = big + [small[i] for i in rng.permutation(len(small))]
    placed: dict[str, list[np.ndarray]] = {p: [] for p in _PARTS}
    filled = dict.fromkeys(_PARTS, 0)
    for group in ordered:
        part = next(
            (p for p, size in zip(_PARTS[:2], sizes[:2], strict=True) if filled[p] + len(group) <= size),
            "test",
        )
        placed[part].append(group)
        filled[part] += len(group)
    for part, size in zip(_PARTS, sizes, strict=True):
        if size > 0 and filled[part] == 0:
            raise SplitError(
                f"a scaffold split of {len(smiles)} molecules in {len(groups)} scaffold groups "
                f"leaves {part} empty with fractions {_fmt(fr)}; use a random split"
            )
    parts = {p: np.sort(np.concatenate(placed[p])) if placed[p] else np.empty(0, np.int64) for p in _PARTS}
    return _split("scaffold", seed, fr, parts)


def _folds(name: str, folds: list[np.ndarray], seed: int) -> Iterator[Split]:
    k = len(folds)
    fr = ((k - 1) / k, 0.0, 1 / k)
    for i, test in enumerate(folds):
        train = np.concatenate([f for j, f in enumerate(folds) if j != i])
        yield Split(
            name=name,
            seed=seed,
            fractions=fr,
            train=np.sort(train),
            valid=np.empty(0, np.int64),
            test=np.sort(test),
            fold=i,
            n_folds=k,
        )


def kfold(n: int, k: int = 5, seed: int = 0) -> Iterator[Split]:
    """k train/test splits of shuffled rows; each row is in exactly one test fold; valid is empty."""
    _check_k(n, k, "k-fold")
    perm = np.random.default_rng(seed).permutation(n)
    return _folds("kfold", [np.asarray(f) for f in np.array_split(perm, k)], seed)


def scaffold_kfold(smiles: Sequence[str] | np.ndarray, k: int = 5, seed: int = 0) -> Iterator[Split]:
    """k folds of whole scaffold groups: largest groups first, each to the currently smallest fold.

    *seed* orders groups of equal size, so it changes which fold the many small groups join. A
    scaffold holding more than n/k molecules (often the acyclic one) makes its fold larger.
    """
    _check_k(len(smiles), k, "scaffold k-fold")
    groups = _groups(scaffolds(smiles))
    if len(groups) < k:
        raise SplitError(
            f"scaffold k-fold with k={k} needs at least {k} distinct scaffolds; "
            f"the {len(smiles)} molecules have {len(groups)}"
        )
    shuffled = [groups[i] for i in np.random.default_rng(seed).permutation(len(groups))]
    members: list[list[np.ndarray]] = [[] for _ in range(k)]
    filled = np.zeros(k, dtype=np.int64)
    for group in sorted(shuffled, key=len, reverse=True):  # stable: equal sizes keep the shuffled order
        fold = int(np.argmin(filled))
        members[fold].append(group)
        filled[fold] += len(group)
    return _folds("scaffold_kfold", [np.concatenate(m) for m in members], seed)


def stratified_subsample(
    y: Sequence[float] | np.ndarray, fraction: float, seed: int = 0, bins: int = 10
) -> np.ndarray:
    """Sorted indices of about ``fraction * n`` rows, stratified on quantile bins of *y*.

    For tuning on a downscaled set that still spans the target's range: each bin contributes in
    proportion to its size (largest remainder, seeded ties), and every bin gets at least one row
    when the subsample has room for that.
    """
    values = np.asarray(y, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise SplitError(f"a stratified subsample needs a non-empty 1-d target; got shape {values.shape}")
    if not np.isfinite(values).all():
        raise SplitError(
            f"a stratified subsample needs finite targets; {int((~np.isfinite(values)).sum())} "
            "are NaN or infinite"
        )
    if not 0 < fraction <= 1:
        raise SplitError(f"subsample fraction must be in (0, 1]; got {fraction:g}")
    if bins < 1:
        raise SplitError(f"a stratified subsample needs bins >= 1; got {bins}")
    n = values.size
    m = max(1, round(fraction * n))
    if m >= n:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    edges = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
    # a value equal to several edges (ties) goes to the middle of the bins it spans, so heavy ties at
    # either end of the range do not swallow the values beyond them
    bin_of = (np.searchsorted(edges, values, side="left") + np.searchsorted(edges, values, side="right")) // 2
    labels, counts = np.unique(bin_of, return_counts=True)
    quota = counts * m / n
    take = np.floor(quota).astype(np.int64)
    rest = m - int(take.sum())
    if rest:
        take[np.lexsort((rng.random(len(labels)), -(quota - take)))[:rest]] += 1
    if m >= len(labels):
        for b in np.flatnonzero(take == 0):
            take[int(np.argmax(take))] -= 1
            take[b] += 1
    chosen = [
        rng.choice(np.flatnonzero(bin_of == lab), size=int(t), replace=False)
        for lab, t in zip(labels, take, strict=True)
        if t > 0
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def make_split(
    kind: str,
    frame: pd.DataFrame,
    target: str | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> Split:
    """Split a dataset snapshot; indices are positions in *frame* (use ``frame.iloc[split.train]``).

    With *target*, only rows that have a value for it are split; the others are in no part.
    ``scaffold`` uses the ``smiles`` column and ``time`` the ``order`` column.
    """
    if kind not in SPLIT_KINDS:
        raise SplitError(f"unknown split kind {kind!r}; expected one of: {', '.join(SPLIT_KINDS)}")
    column = {"scaffold": "smiles", "time": "order"}.get(kind)
    for col in (c for c in (column, target) if c is not None):
        if col not in frame.columns:
            raise SplitError(f"a {kind} split needs column {col!r}, which the table does not have")
    rows = np.arange(len(frame)) if target is None else np.flatnonzero(frame[target].notna().to_numpy())
    if kind == "random":
        split = random_split(len(rows), fractions, seed)
    elif kind == "scaffold":
        split = scaffold_split(frame["smiles"].to_numpy()[rows], fractions, seed)
    else:
        split = time_split(frame["order"].to_numpy()[rows], fractions)
    return split.remap(rows)
