"""Replicates: grouping, summarising and merging into a dataset snapshot."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from molops.data.replicates import MergeResult, group_replicates, merge_measurements, replicate_stats


def incoming(*molecules):
    """molecules: (inchikey, smiles, [values]) → the table group_replicates would give."""
    keys, smiles, values, rows = [], [], [], []
    for key, smi, vals in molecules:
        for v in vals:
            keys.append(key)
            smiles.append(smi)
            values.append(float(v))
            rows.append(len(rows) + 1)
    return group_replicates(keys, smiles, values, rows)


def merge(current, grouped, **kw):
    """merge_measurements with the snapshots as frames (as a dataset is read), for short checks."""
    kw.setdefault("target", "y")
    kw.setdefault("version", 1)
    kw.setdefault("source", "f.csv")
    if current is not None:
        current = pa.Table.from_pandas(current, preserve_index=False)
    res = merge_measurements(current, grouped, **kw)
    return MergeResult(res.snapshot.to_pandas(), res.added, res.updated, res.flagged)


def row(snapshot, key):
    return snapshot.set_index("inchikey").loc[key]


# -- group_replicates --------------------------------------------------------------------------
def test_group_replicates():
    out = group_replicates(
        ["A", "B", "A", "C"], ["a1", "b", "a2", "c"], [1.0, 2.0, 3.0, 4.0], [10, 11, 12, 13]
    ).to_pydict()
    assert out["inchikey"] == ["A", "B", "C"]
    assert out["smiles"] == ["a1", "b", "c"]  # the first spelling wins
    assert out["replicates"] == [[1.0, 3.0], [2.0], [4.0]]
    assert out["first_row"] == [10, 11, 13]


def test_group_replicates_orders_by_first_row():
    out = group_replicates(["A", "B", "A"], ["a", "b", "a"], [1.0, 2.0, 3.0], [9, 2, 1]).to_pydict()
    assert out["inchikey"] == ["A", "B"]
    assert out["first_row"] == [1, 2]


def test_group_replicates_empty():
    out = group_replicates([], [], [], [])
    assert out.num_rows == 0
    assert {"inchikey", "smiles", "replicates", "first_row"} <= set(out.column_names)


# -- replicate_stats ---------------------------------------------------------------------------
REPS = pa.array([[1.0, 2.0, 6.0], [4.0], [5.0, 5.0]], pa.list_(pa.float64()))


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("mean", [3.0, 4.0, 5.0]),
        ("median", [2.0, 4.0, 5.0]),
        ("min", [1.0, 4.0, 5.0]),
        ("max", [6.0, 4.0, 5.0]),
    ],
)
def test_replicate_stats(how, expected):
    value, _, n = replicate_stats(REPS, how)
    assert value.tolist() == expected
    assert n.tolist() == [3, 1, 2]


def test_replicate_stats_std_is_the_sample_std_and_nan_for_one_replicate():
    _, std, _ = replicate_stats(REPS, "mean")
    assert std[0] == pytest.approx(math.sqrt(7.0))  # ((4 + 1 + 9) / 2) ** 0.5
    assert math.isnan(std[1])
    assert std[2] == 0.0


# -- merge_measurements ------------------------------------------------------------------------
def test_first_merge_adds_everything():
    res = merge(None, incoming(("A", "a", [1, 3]), ("B", "b", [2])))
    assert (res.added, res.updated) == (2, 0)
    snap = res.snapshot
    assert list(snap["inchikey"]) == ["A", "B"]
    assert list(snap["smiles"]) == ["a", "b"]
    assert list(snap["order"]) == [0, 1]
    assert list(snap["first_version"]) == [1, 1]
    assert list(snap["updated_version"]) == [1, 1]
    assert list(snap["source"]) == ["f.csv", "f.csv"]
    assert list(snap["y"]) == [2.0, 2.0]
    assert snap["y_std"][0] == pytest.approx(math.sqrt(2.0))
    assert math.isnan(snap["y_std"][1])
    assert list(snap["y_n"]) == [2, 1]
    assert [list(r) for r in snap["y_replicates"]] == [[1.0, 3.0], [2.0]]
    assert snap["order"].dtype == np.int64
    assert snap["y"].dtype == np.float64
    assert snap["y_n"].dtype == np.int64
    assert snap["y_disagree"].dtype == bool


def test_replace_overwrites_the_replicates_of_known_molecules():
    v1 = merge(None, incoming(("A", "a", [1, 3]), ("B", "b", [2]))).snapshot
    res = merge(v1, incoming(("A", "a-new", [10]), ("C", "c", [7])), version=2, source="g.csv")
    assert (res.added, res.updated) == (1, 1)
    a, b, c = (row(res.snapshot, k) for k in "ABC")
    assert (a["y"], a["y_n"], list(a["y_replicates"])) == (10.0, 1, [10.0])
    assert (a["first_version"], a["updated_version"], a["source"]) == (1, 2, "g.csv")
    assert a["smiles"] == "a"  # a known molecule keeps its SMILES
    assert (b["y"], b["updated_version"], b["source"]) == (2.0, 1, "f.csv")
    assert (c["y"], c["order"], c["first_version"]) == (7.0, 2, 2)


def test_accumulate_adds_to_the_known_replicates():
    v1 = merge(None, incoming(("A", "a", [1, 3]), ("B", "b", [2]))).snapshot
    res = merge(v1, incoming(("A", "a", [5])), version=2, on_existing="accumulate")
    assert (res.added, res.updated) == (0, 1)
    a = row(res.snapshot, "A")
    assert sorted(a["y_replicates"]) == [1.0, 3.0, 5.0]
    assert a["y"] == 3.0
    assert a["y_n"] == 3
    assert a["y_std"] == pytest.approx(2.0)
    assert row(res.snapshot, "B")["y_n"] == 1


def test_accumulate_with_median():
    v1 = merge(None, incoming(("A", "a", [1, 2])), how="median").snapshot
    res = merge(v1, incoming(("A", "a", [100])), version=2, how="median", on_existing="accumulate")
    assert row(res.snapshot, "A")["y"] == 2.0


def test_unchanged_merge_adds_and_updates_nothing():
    first = merge(None, incoming(("A", "a", [1, 3]), ("B", "b", [2])))
    # the same replicates in another order are the same results
    again = merge(
        first.snapshot, incoming(("A", "a", [3, 1]), ("B", "b", [2])), version=2, on_existing="replace"
    )
    assert (again.added, again.updated, again.flagged) == (0, 0, 0)
    pd.testing.assert_frame_equal(again.snapshot, first.snapshot)


def test_empty_incoming_changes_nothing():
    first = merge(None, incoming(("A", "a", [1])))
    res = merge(first.snapshot, incoming(), version=2)
    assert (res.added, res.updated) == (0, 0)
    pd.testing.assert_frame_equal(res.snapshot, first.snapshot)


def test_merge_leaves_the_current_frame_alone():
    first = merge(None, incoming(("A", "a", [1])))
    before = first.snapshot.copy(deep=True)
    merge(first.snapshot, incoming(("A", "a", [9]), ("B", "b", [2])), version=2)
    pd.testing.assert_frame_equal(first.snapshot, before)


def test_disagree_with_an_absolute_tolerance():
    res = merge(
        None, incoming(("A", "a", [1.0, 3.0]), ("B", "b", [2.0]), ("C", "c", [5.0, 5.2])), tolerance=0.5
    )
    snap = res.snapshot.set_index("inchikey")
    assert snap["y_disagree"].to_dict() == {"A": True, "B": False, "C": False}
    assert res.flagged == 1


def test_disagree_relative_to_the_spread_of_the_dataset():
    molecules = (("A", "a", [0.0, 0.2]), ("B", "b", [10.0]))
    # spread = population std of the values [0.1, 10.0] = 4.95; A's std is 0.141
    loose = merge(None, incoming(*molecules), relative_tolerance=0.5)
    assert not loose.snapshot["y_disagree"].any()
    assert loose.flagged == 0
    strict = merge(None, incoming(*molecules), relative_tolerance=0.01)
    assert strict.snapshot.set_index("inchikey")["y_disagree"].to_dict() == {"A": True, "B": False}
    assert strict.flagged == 1


def test_disagree_when_there_is_no_spread():
    # a single molecule: no spread to compare with, so any disagreement between replicates counts
    res = merge(None, incoming(("A", "a", [1.0, 1.5])))
    assert bool(res.snapshot["y_disagree"][0]) is True
    same = merge(None, incoming(("A", "a", [1.0, 1.0])))
    assert bool(same.snapshot["y_disagree"][0]) is False


def test_a_second_target_joins_the_same_molecules():
    v1 = merge(None, incoming(("A", "a", [1]), ("B", "b", [2]))).snapshot
    res = merge(v1, incoming(("A", "a", [7]), ("C", "c", [8])), target="z", version=2)
    assert (res.added, res.updated) == (1, 1)
    snap = res.snapshot.set_index("inchikey")
    assert snap.loc["A", "y"] == 1.0 and snap.loc["A", "z"] == 7.0
    assert math.isnan(snap.loc["B", "z"]) and snap.loc["B", "z_n"] == 0
    assert snap.loc["B", "z_replicates"] is None
    assert not snap.loc["B", "z_disagree"]
    assert math.isnan(snap.loc["C", "y"]) and snap.loc["C", "y_n"] == 0
    assert snap.loc["C", "order"] == 2
    assert snap["z_n"].dtype == np.int64 and snap["y_n"].dtype == np.int64


# -- first_version: the Arrow build of a new dataset's snapshot ---------------------------------
@pytest.mark.parametrize(
    ("how", "tolerance"), [("mean", None), ("median", None), ("min", 0.3), ("max", None)]
)
def test_first_version_equals_a_merge_into_an_empty_dataset(how, tolerance):
    """The columnar build of version 1 writes exactly the table the general merge writes into a
    dataset with no molecules: two code paths, one answer."""
    from molops.data.replicates import first_version, group_replicates_arrow
    from molops.data.store import snapshot_schema

    rng = np.random.default_rng(7)
    keys = [f"K{k:03d}" for k in rng.integers(0, 300, size=1000)]  # replicates, 1 to ~10 each
    values = (rng.normal(size=1000) * rng.choice([1e-3, 1.0, 1e6], size=1000)).tolist()
    smiles = [f"{k}-{i % 3}" for i, k in enumerate(keys)]  # spellings differ: the first one wins
    rows = (rng.permutation(1000) + 1).tolist()
    table = pa.table(
        {
            "inchikey": pa.array(keys, pa.string()),
            "smiles": pa.array(smiles, pa.string()),
            "value": pa.array(values, pa.float64()),
            "row": pa.array(rows, pa.int64()),
        }
    )
    kw = {"target": "y", "version": 1, "source": "f.csv", "how": how, "tolerance": tolerance}
    schema = snapshot_schema(["y"])
    general = merge_measurements(schema.empty_table(), group_replicates_arrow(table), **kw)
    new = first_version(group_replicates_arrow(table), **kw)
    assert new.snapshot.cast(schema).equals(general.snapshot.cast(schema))
    assert (new.added, new.updated, new.flagged) == (general.added, general.updated, general.flagged)
    assert new.flagged > 0 and new.snapshot.column("y_std").null_count > 0  # both cases covered


def test_first_version_of_nothing():
    from molops.data.replicates import first_version, group_replicates_arrow
    from molops.data.store import snapshot_schema

    empty = pa.table(
        {
            "inchikey": pa.array([], pa.string()),
            "smiles": pa.array([], pa.string()),
            "value": pa.array([], pa.float64()),
            "row": pa.array([], pa.int64()),
        }
    )
    out = first_version(group_replicates_arrow(empty), target="y", version=1, source="f")
    assert out.snapshot.num_rows == 0 and out.snapshot.schema.names == snapshot_schema(["y"]).names


@pytest.mark.parametrize("rows_ascending", [True, False])
def test_group_replicates_arrow_equals_a_hash_aggregation(rows_ascending):
    """The dictionary-code grouping gives what Arrow's single-threaded group_by gives."""
    from molops.data.replicates import group_replicates_arrow

    rng = np.random.default_rng(3)
    n = 5000
    keys = [f"K{k:04d}" for k in rng.integers(0, 1500, size=n)]
    rows = np.arange(1, n + 1) if rows_ascending else rng.permutation(n) + 1
    table = pa.table(
        {
            "inchikey": pa.array(keys, pa.string()),
            "smiles": pa.array([f"s{i}" for i in range(n)], pa.string()),
            "value": pa.array(rng.normal(size=n)),
            "row": pa.array(rows, pa.int64()),
        }
    )
    ref = table.group_by("inchikey", use_threads=False).aggregate(
        [("smiles", "first"), ("row", "min"), ("value", "list")]
    )
    ref = ref.take(pc.sort_indices(ref.column("row_min")))
    out = group_replicates_arrow(table)
    assert out.column("inchikey").to_pylist() == ref.column("inchikey").to_pylist()
    assert out.column("smiles").to_pylist() == ref.column("smiles_first").to_pylist()
    assert out.column("first_row").to_pylist() == ref.column("row_min").to_pylist()
    assert out.column("replicates").to_pylist() == ref.column("value_list").to_pylist()
    assert max(len(r) for r in out.column("replicates").to_pylist()) > 1


_batches = st.lists(
    st.tuples(st.sampled_from("ABCDEFGH"), st.sampled_from([1.0, 2.0, 2.5, -4.0])), max_size=12
)


@settings(max_examples=150, deadline=None)
@given(first=_batches, second=_batches, on_existing=st.sampled_from(["replace", "accumulate"]))
def test_a_merge_touches_only_the_batch_and_keeps_every_known_row_in_place(first, second, on_existing):
    """Against a plain-Python model of a merge: each molecule's replicates after two batches, the
    rows' order, and which molecules the second batch added or updated."""

    def grouped(batch):
        keys = [k for k, _ in batch]
        return group_replicates(
            keys, [k.lower() for k in keys], [v for _, v in batch], list(range(1, len(batch) + 1))
        )

    v1 = merge_measurements(None, grouped(first), target="y", version=1, source="a")
    v2 = merge_measurements(
        v1.snapshot, grouped(second), target="y", version=2, source="b", on_existing=on_existing
    )
    expected: dict[str, list[float]] = {}
    for k, v in first:
        expected.setdefault(k, []).append(v)
    before = {k: sorted(v) for k, v in expected.items()}
    incoming: dict[str, list[float]] = {}
    for k, v in second:
        incoming.setdefault(k, []).append(v)
    for k, values in incoming.items():
        expected[k] = (expected.get(k, []) if on_existing == "accumulate" else []) + values
    snap = v2.snapshot.to_pydict()
    assert snap["inchikey"] == list(expected)  # known molecules in place, new ones in batch order
    assert snap["order"] == list(range(len(expected)))
    for i, key in enumerate(snap["inchikey"]):
        assert sorted(snap["y_replicates"][i]) == sorted(expected[key])
        assert snap["y_n"][i] == len(expected[key])
        assert snap["y"][i] == pytest.approx(float(np.mean(expected[key])))
        changed = key in incoming and sorted(expected[key]) != before.get(key)
        assert snap["updated_version"][i] == (2 if changed else 1)
        assert snap["source"][i] == ("b" if changed else "a")
        assert snap["first_version"][i] == (1 if key in before else 2)
    assert v2.added == len(set(incoming) - set(before))
    assert v2.added + v2.updated == sum(sorted(expected[k]) != before.get(k) for k in incoming)
