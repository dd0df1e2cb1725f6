"""Replicate handling: group measurements per molecule, summarise them, merge into a snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from molops.data.store import snapshot_schema, targets_of

Aggregation = Literal["mean", "median", "min", "max"]


def group_replicates(
    inchikeys: list[str], smiles: list[str], values: list[float], rows: list[int]
) -> pa.Table:
    """:func:`group_replicates_arrow` of plain lists (one entry per accepted row)."""
    table = pa.table(
        {
            "inchikey": pa.array(inchikeys, pa.string()),
            "smiles": pa.array(smiles, pa.string()),
            "value": pa.array(values, pa.float64()),
            "row": pa.array(rows, pa.int64()),
        }
    )
    return group_replicates_arrow(table)


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


def replicate_stats(replicates: pa.Array, how: Aggregation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per list of *replicates*: the aggregate value, the sample standard deviation (NaN for one
    replicate) and the count, computed by pandas over the flat values (no Python list per row)."""
    n = len(replicates)
    lengths = pc.list_value_length(replicates).fill_null(0).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(replicates).to_numpy(zero_copy_only=False).astype("float64")
    groups = pd.Series(flat, index=np.repeat(np.arange(n), lengths)).groupby(level=0, sort=False)
    rows = pd.RangeIndex(n)
    value = groups.agg(how).reindex(rows).to_numpy(dtype="float64")
    std = groups.std(ddof=1).reindex(rows).to_numpy(dtype="float64")
    return value, std, lengths.astype("int64")


@dataclass(frozen=True, slots=True)
class MergeResult:
    snapshot: pa.Table
    added: int
    updated: int
    flagged: int


def _disagree(
    std: np.ndarray, values: np.ndarray, tolerance: float | None, relative_tolerance: float
) -> np.ndarray:
    """Replicates that disagree: a standard deviation above *tolerance*, or above
    *relative_tolerance* × the spread of the whole target (any spread at all when it has none)."""
    spread = float(np.nanstd(values)) if len(values) > 1 and not np.isnan(values).all() else 0.0
    limit = tolerance if tolerance is not None else relative_tolerance * spread
    result: np.ndarray = np.nan_to_num(std, nan=0.0) > (limit if limit > 0 else 0.0)
    return result


def _concat_lists(first: pa.Array, second: pa.Array) -> pa.Array:
    """Row by row, *first*'s list (a null as empty) followed by *second*'s."""
    la = pc.list_value_length(first).fill_null(0).to_numpy(zero_copy_only=False).astype("int64")
    lb = pc.list_value_length(second).fill_null(0).to_numpy(zero_copy_only=False).astype("int64")
    fa, fb = pc.list_flatten(first), pc.list_flatten(second)
    seg_start = np.empty(2 * len(la), dtype="int64")
    seg_start[0::2] = np.cumsum(la) - la
    seg_start[1::2] = len(fa) + np.cumsum(lb) - lb
    seg_len = np.empty_like(seg_start)
    seg_len[0::2], seg_len[1::2] = la, lb
    out_start = np.cumsum(seg_len) - seg_len
    take = np.repeat(seg_start - out_start, seg_len) + np.arange(int(seg_len.sum()))
    values = pa.concat_arrays([fa, fb]).take(pa.array(take))
    offsets = np.zeros(len(la) + 1, dtype="int32")
    np.cumsum(la + lb, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _same_multisets(old: pa.Array, new: pa.Array) -> np.ndarray:
    """Per row, whether *old* (null: never the same) holds the same values as *new* in any order."""
    la = pc.list_value_length(old).fill_null(-1).to_numpy(zero_copy_only=False)
    lb = pc.list_value_length(new).to_numpy(zero_copy_only=False)
    same: np.ndarray = la == lb
    rows = np.flatnonzero(same)
    if len(rows) == 0:
        return same
    lengths = lb[rows]
    row_ids = np.repeat(np.arange(len(rows)), lengths)
    sorted_values = []
    for lists in (old, new):
        flat = pc.list_flatten(lists.take(pa.array(rows))).to_numpy(zero_copy_only=False)
        sorted_values.append(flat[np.lexsort((flat, row_ids))])
    differs = np.bincount(row_ids[sorted_values[0] != sorted_values[1]], minlength=len(rows)) > 0
    same[rows[differs]] = False
    return same


def _empty_target(n: int, target: str) -> dict[str, pa.Array]:
    """*target*'s columns for *n* molecules without a measurement of it."""
    return {
        target: pa.nulls(n, pa.float64()),
        f"{target}_std": pa.nulls(n, pa.float64()),
        f"{target}_n": pa.array(np.zeros(n, dtype="int64")),
        f"{target}_replicates": pa.nulls(n, pa.list_(pa.float64())),
        f"{target}_disagree": pa.array(np.zeros(n, dtype=bool)),
    }


def _with_target(snapshot: pa.Table, target: str) -> pa.Table:
    """*snapshot* with *target*'s columns, empty where it had none."""
    for name, column in _empty_target(snapshot.num_rows, target).items():
        if name not in snapshot.column_names:
            snapshot = snapshot.append_column(name, column)
    return snapshot


def _replace_rows(table: pa.Table, name: str, rows: np.ndarray, values: pa.Array) -> pa.Table:
    """*table* with column *name*'s entries at *rows* replaced by *values* (one per row, in order)."""
    column = table.column(name)
    take = np.arange(len(column))
    take[rows] = len(column) + np.arange(len(rows))
    replaced = pa.concat_arrays([column.combine_chunks(), values.cast(column.type)]).take(pa.array(take))
    return table.set_column(table.column_names.index(name), name, replaced)


def merge_measurements(
    current: pa.Table | None,
    incoming: pa.Table,
    *,
    target: str,
    version: int,
    source: str,
    how: Aggregation = "mean",
    on_existing: Literal["replace", "accumulate"] = "replace",
    tolerance: float | None = None,
    relative_tolerance: float = 0.5,
) -> MergeResult:
    """Merge *incoming* (from :func:`group_replicates_arrow`) into the snapshot *current* (rows in
    ``order``) as *version*; known molecules keep their SMILES and place, new ones follow in
    *incoming*'s order.

    Molecules whose replicate multiset does not change are left untouched, so an ingest that
    repeats known results yields ``added == updated == 0``. Built column by column in Arrow: the
    rows that do not change never become Python objects, so adding a batch to a large dataset
    costs little more than reading and writing it.
    """
    if current is None:
        return first_version(
            incoming,
            target=target,
            version=version,
            source=source,
            how=how,
            tolerance=tolerance,
            relative_tolerance=relative_tolerance,
        )
    current = _with_target(current, target)
    keys = current.column("inchikey").combine_chunks()
    position = pc.index_in(incoming.column("inchikey").combine_chunks(), value_set=keys)
    old = current.column(f"{target}_replicates").combine_chunks().take(position)  # null: not known
    replicates = incoming.column("replicates").combine_chunks()
    if on_existing == "accumulate":
        replicates = _concat_lists(old, replicates)
    touched = np.flatnonzero(~_same_multisets(old, replicates))
    if len(touched) == 0:
        return MergeResult(current, 0, 0, 0)

    known = position.is_valid().to_numpy(zero_copy_only=False)
    added = pa.array(np.flatnonzero(~known))
    next_order = int(pc.max(current.column("order")).as_py()) + 1 if current.num_rows else 0
    new_rows: dict[str, pa.Array] = {
        "inchikey": incoming.column("inchikey").take(added),
        "smiles": incoming.column("smiles").take(added),
        "order": pa.array(np.arange(next_order, next_order + len(added), dtype="int64")),
        "first_version": pa.array(np.full(len(added), version, dtype="int64")),
        "updated_version": pa.array(np.full(len(added), version, dtype="int64")),
        "source": pa.nulls(len(added), pa.string()),
    }
    for t in targets_of(current.column_names):
        new_rows.update(_empty_target(len(added), t))
    snapshot = pa.concat_tables(
        [current, pa.table({c: new_rows[c] for c in current.column_names}).cast(current.schema)]
    )
    # each touched molecule's row: where it is known, else its place among the added ones
    rows = np.where(
        known, position.fill_null(0).to_numpy(zero_copy_only=False), current.num_rows + np.cumsum(~known) - 1
    )[touched]
    changed = replicates.take(pa.array(touched))
    value, std, n = replicate_stats(changed, how)
    updates = {
        target: pa.array(value, from_pandas=True),  # NaN as null, as from a frame
        f"{target}_std": pa.array(std, from_pandas=True),
        f"{target}_n": pa.array(n),
        f"{target}_replicates": changed,
        "updated_version": pa.array(np.full(len(touched), version, dtype="int64")),
        "source": pa.repeat(pa.scalar(source, pa.string()), len(touched)),
    }
    for name, values in updates.items():
        snapshot = _replace_rows(snapshot, name, rows, values)
    all_values = snapshot.column(target).to_numpy().astype("float64")
    disagree = _disagree(std, all_values, tolerance, relative_tolerance)
    snapshot = _replace_rows(snapshot, f"{target}_disagree", rows, pa.array(disagree))
    return MergeResult(snapshot, len(added), len(touched) - len(added), int(disagree.sum()))


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
    value, std, count = replicate_stats(reps, how)
    disagree = _disagree(std, value, tolerance, relative_tolerance)
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
            pa.array(count),
            reps,
            pa.array(disagree),
        ],
        schema=schema,
    )
    return MergeResult(snapshot, n, 0, int(disagree.sum()))
