"""Replicate handling: group measurements per molecule, summarise them, merge into a snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from molops.data.store import CORE_COLUMNS, TARGET_SUFFIXES, snapshot_schema, targets_of

Aggregation = Literal["mean", "median", "min", "max"]


def group_replicates(
    inchikeys: list[str], smiles: list[str], values: list[float], rows: list[int]
) -> pd.DataFrame:
    """One row per molecule (index: InChIKey) with its SMILES, replicate list and first row."""
    table = pa.table(
        {
            "inchikey": pa.array(inchikeys, pa.string()),
            "smiles": pa.array(smiles, pa.string()),
            "value": pa.array(values, pa.float64()),
            "row": pa.array(rows, pa.int64()),
        }
    )
    return group_replicates_table(table)


def group_replicates_table(table: pa.Table) -> pd.DataFrame:
    """:func:`group_replicates` of a table with columns inchikey, smiles, value and row (in input
    order): :func:`group_replicates_arrow` as a frame."""
    return replicates_frame(group_replicates_arrow(table))


def group_replicates_arrow(table: pa.Table) -> pa.Table:
    """One row per molecule (inchikey, smiles, first_row, replicates) in order of first row, of a
    table with columns inchikey, smiles, value and row (in input order): each molecule's first
    SMILES, its smallest row and its values in input order.

    Grouped by dictionary-encoding the InChIKeys (codes in order of first appearance) and one
    stable sort of the codes, not by Arrow's hash aggregation, whose list aggregate held ~400 bytes
    per row at its peak; no Python object per row either.
    """
    n = table.num_rows
    encoded = pc.dictionary_encode(table.column("inchikey").combine_chunks())
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    lengths = np.bincount(codes, minlength=len(encoded.dictionary))
    starts = np.zeros(len(lengths) + 1, dtype="int64")
    np.cumsum(lengths, out=starts[1:])
    order = np.argsort(codes, kind="stable")  # each molecule's rows together, in input order
    del codes
    rows = table.column("row").to_numpy()[order]
    first_row = np.minimum.reduceat(rows, starts[:-1]) if n else rows
    keys: pa.Array = encoded.dictionary
    if n and np.any(np.diff(first_row) < 0):  # rows not ascending in input order: sort molecules
        by_row = np.argsort(first_row, kind="stable")
        sizes = lengths[by_row]
        new_starts = np.zeros_like(starts)
        np.cumsum(sizes, out=new_starts[1:])
        order = order[np.repeat(starts[:-1][by_row] - new_starts[:-1], sizes) + np.arange(n)]
        first_row, starts, keys = first_row[by_row], new_starts, keys.take(pa.array(by_row))
    firsts = order[starts[:-1]]  # each molecule's first row in input order
    values = table.column("value").take(pa.array(order)).combine_chunks()
    return pa.table(
        {
            "inchikey": keys,
            "smiles": table.column("smiles").take(pa.array(firsts)).combine_chunks(),
            "first_row": pa.array(first_row, pa.int64()),
            "replicates": pa.ListArray.from_arrays(pa.array(starts, pa.int32()), values),
        }
    )


def replicates_frame(grouped: pa.Table) -> pd.DataFrame:
    """The frame :func:`merge_measurements` takes, of :func:`group_replicates_arrow`'s table."""
    return pd.DataFrame(
        {
            "smiles": grouped.column("smiles").to_pylist(),
            "first_row": grouped.column("first_row").to_numpy(),
            "replicates": grouped.column("replicates").to_pylist(),
        },
        index=pd.Index(grouped.column("inchikey").to_pylist(), name="inchikey", dtype="object"),
    )


def summarise(replicates: pd.Series, how: Aggregation) -> pd.DataFrame:
    """Aggregate value, sample standard deviation (NaN for one replicate) and count per row."""
    long = replicates.explode().astype("float64")
    grouped = long.groupby(level=0, sort=False)
    return pd.DataFrame({"value": grouped.agg(how), "std": grouped.std(ddof=1), "n": grouped.size()})


@dataclass(frozen=True, slots=True)
class MergeResult:
    snapshot: pd.DataFrame | pa.Table
    added: int
    updated: int
    flagged: int


def _empty_snapshot(target: str) -> pd.DataFrame:
    columns = CORE_COLUMNS + [target] + [target + s for s in TARGET_SUFFIXES]
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns}).set_index("inchikey")


def merge_measurements(
    current: pd.DataFrame | None,
    incoming: pd.DataFrame,
    *,
    target: str,
    version: int,
    source: str,
    how: Aggregation = "mean",
    on_existing: Literal["replace", "accumulate"] = "replace",
    tolerance: float | None = None,
    relative_tolerance: float = 0.5,
) -> MergeResult:
    """Merge *incoming* (from :func:`group_replicates`) into *current* as *version*.

    Molecules whose replicate multiset does not change are left untouched, so an ingest that
    repeats known results yields ``added == updated == 0``.
    """
    snap = _empty_snapshot(target) if current is None else current.set_index("inchikey")
    for col, default in (
        (target, np.nan),
        (f"{target}_std", np.nan),
        (f"{target}_n", 0),
        (f"{target}_replicates", None),
        (f"{target}_disagree", False),
    ):
        if col not in snap.columns:
            snap[col] = default
    rep_col = f"{target}_replicates"
    known = incoming.index.isin(snap.index)
    new_reps = incoming["replicates"].copy()
    if on_existing == "accumulate" and known.any():
        old = snap.loc[incoming.index[known], rep_col]
        new_reps[known] = [
            list(o if o is not None else []) + list(n) for o, n in zip(old, new_reps[known], strict=True)
        ]
    changed = np.ones(len(incoming), dtype=bool)
    if known.any():
        old = snap.loc[incoming.index[known], rep_col]
        changed[known] = [
            o is None or sorted(o) != sorted(n) for o, n in zip(old, new_reps[known], strict=True)
        ]
    touched = incoming.index[changed]
    added_keys = incoming.index[~known]
    if len(touched) == 0:
        return MergeResult(snap.reset_index(), 0, 0, 0)

    stats = summarise(new_reps[changed], how)
    next_order = int(snap["order"].max()) + 1 if len(snap) else 0
    new_rows = pd.DataFrame(index=added_keys)
    new_rows["smiles"] = incoming.loc[added_keys, "smiles"]
    new_rows["order"] = np.arange(next_order, next_order + len(added_keys), dtype="int64")
    new_rows["first_version"] = version
    snap = pd.concat([snap, new_rows.reindex(columns=snap.columns)]) if len(added_keys) else snap
    snap.loc[touched, target] = stats["value"].to_numpy()
    snap.loc[touched, f"{target}_std"] = stats["std"].to_numpy()
    snap.loc[touched, f"{target}_n"] = stats["n"].to_numpy()
    snap[rep_col] = snap[rep_col].astype("object")
    snap.loc[touched, rep_col] = pd.Series(
        [list(map(float, r)) for r in new_reps[changed]], index=touched, dtype="object"
    )
    snap.loc[touched, "updated_version"] = version
    snap.loc[touched, "source"] = source
    spread = float(np.nanstd(snap[target].to_numpy(dtype="float64"))) if len(snap) > 1 else 0.0
    limit = tolerance if tolerance is not None else relative_tolerance * spread
    disagree = (stats["std"].fillna(0.0) > limit) if limit > 0 else stats["std"].fillna(0.0) > 0
    snap.loc[touched, f"{target}_disagree"] = disagree.to_numpy()
    snap = _normalise_dtypes(snap.reset_index())
    return MergeResult(snap, len(added_keys), len(touched) - len(added_keys), int(disagree.sum()))


def first_version(
    grouped: pa.Table,
    *,
    target: str,
    version: int,
    source: str,
    how: Aggregation = "mean",
    tolerance: float | None = None,
    relative_tolerance: float = 0.5,
) -> MergeResult:
    """:func:`merge_measurements` into no current version, as an Arrow table built column by column
    from :func:`group_replicates_arrow`'s: the same values (the same pandas aggregations over the
    same replicates in the same order), without a Python object per molecule, which made the
    snapshot of a million-molecule file about 1 KB per molecule."""
    n = grouped.num_rows
    reps = grouped.column("replicates").combine_chunks()
    lengths = pc.list_value_length(reps).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(reps).to_numpy(zero_copy_only=False).astype("float64")
    groups = pd.Series(flat, index=np.repeat(np.arange(n), lengths)).groupby(level=0, sort=False)
    value = groups.agg(how).to_numpy(dtype="float64")
    std = groups.std(ddof=1).to_numpy(dtype="float64")
    spread = float(np.nanstd(value)) if n > 1 else 0.0
    limit = tolerance if tolerance is not None else relative_tolerance * spread
    disagree = np.nan_to_num(std, nan=0.0) > (limit if limit > 0 else 0.0)
    schema = snapshot_schema([target])
    snapshot = pa.table(
        [
            grouped.column("inchikey"),
            grouped.column("smiles"),
            pa.array(np.arange(n, dtype="int64")),
            pa.array(np.full(n, version, dtype="int64")),
            pa.array(np.full(n, version, dtype="int64")),
            pa.repeat(pa.scalar(source, pa.string()), n),
            pa.array(value, from_pandas=True),  # NaN as null, as from a frame
            pa.array(std, from_pandas=True),
            pa.array(groups.size().to_numpy(dtype="int64")),
            reps,
            pa.array(disagree),
        ],
        schema=schema,
    )
    return MergeResult(snapshot, n, 0, int(disagree.sum()))


def _normalise_dtypes(snap: pd.DataFrame) -> pd.DataFrame:
    for col in ("order", "first_version", "updated_version"):
        snap[col] = snap[col].astype("int64")
    for t in targets_of(list(snap.columns)):
        snap[t] = snap[t].astype("float64")
        snap[f"{t}_std"] = snap[f"{t}_std"].astype("float64")
        snap[f"{t}_n"] = snap[f"{t}_n"].fillna(0).astype("int64")
        snap[f"{t}_disagree"] = snap[f"{t}_disagree"].fillna(False).astype("bool")
    return snap
