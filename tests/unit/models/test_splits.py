"""Splits: sizes, disjointness, coverage, determinism, scaffold integrity on FreeSolv, records."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold

from molops.data.builtin import BUILTINS
from molops.errors import MolopsError
from molops.models.splits import (
    Split,
    SplitError,
    kfold,
    make_split,
    random_split,
    scaffold_kfold,
    scaffold_split,
    scaffolds,
    stratified_subsample,
    time_split,
)


@pytest.fixture(scope="module")
def freesolv() -> pd.DataFrame:
    return pd.read_csv(BUILTINS["freesolv"].path())


def _scaffold(smi: str) -> str:
    return MurckoScaffold.MurckoScaffoldSmiles(mol=Chem.MolFromSmiles(smi), includeChirality=False)


def _check_partition(split: Split, n: int) -> None:
    parts = [split.train, split.valid, split.test]
    every = np.concatenate(parts)
    assert np.array_equal(np.sort(every), np.arange(n)), "every row in exactly one part"
    for part in parts:
        assert part.dtype == np.int64
        assert np.all(np.diff(part) > 0), "indices sorted and unique"


# -- random ----------------------------------------------------------------------------------------
def test_random_split_sizes_disjoint_and_covering():
    split = random_split(100, (0.8, 0.1, 0.1), seed=3)
    assert split.sizes == {"train": 80, "valid": 10, "test": 10}
    assert split.name == "random" and split.seed == 3 and split.fractions == (0.8, 0.1, 0.1)
    _check_partition(split, 100)


def test_random_split_is_deterministic_per_seed():
    assert random_split(50, seed=1) == random_split(50, seed=1)
    assert random_split(50, seed=1).digest() == random_split(50, seed=1).digest()
    assert random_split(50, seed=1) != random_split(50, seed=2)
    assert random_split(50, seed=1).digest() != random_split(50, seed=2).digest()


def test_random_split_without_valid():
    split = random_split(10, (0.7, 0.0, 0.3), seed=0)
    assert split.sizes == {"train": 7, "valid": 0, "test": 3}
    _check_partition(split, 10)


def test_tiny_splits_keep_one_row_per_part():
    assert random_split(3, seed=0).sizes == {"train": 1, "valid": 1, "test": 1}
    assert random_split(4, (0.1, 0.45, 0.45), seed=0).sizes["train"] == 1


@pytest.mark.parametrize(
    ("fractions", "match"),
    [
        ((0.8, 0.1), "three numbers"),
        ((0.8, 0.1, 0.2), "sum to 1.1"),
        ((0.9, -0.1, 0.2), "non-negative"),
        ((1.0, 0.0, 0.0), "positive"),
        ((0.5, float("nan"), 0.5), "finite"),
    ],
)
def test_bad_fractions_are_clear_errors(fractions, match):
    with pytest.raises(SplitError, match=match):
        random_split(100, fractions)


def test_too_few_rows_names_the_numbers():
    with pytest.raises(SplitError, match=r"needs at least 3 rows; got 2"):
        random_split(2)
    with pytest.raises(SplitError, match=r"needs at least 2 rows; got 1"):
        random_split(1, (0.5, 0.0, 0.5))
    assert issubclass(SplitError, MolopsError)


# -- records ---------------------------------------------------------------------------------------
def test_split_round_trips_through_json_and_records_are_small():
    split = random_split(30, seed=4)
    again = Split.model_validate_json(split.model_dump_json())
    assert again == split
    record = split.to_record()
    assert json.loads(json.dumps(record)) == record
    assert record["sizes"] == split.sizes and record["n"] == 30
    assert record["hash"] == split.digest() and len(record["hash"]) == 16
    assert "train" not in record


def test_split_is_immutable_and_rejects_overlap():
    split = random_split(10, seed=0)
    with pytest.raises(ValueError, match="read-only"):
        split.train[0] = 5
    with pytest.raises(ValueError, match="at most one part"):
        Split(name="x", seed=0, fractions=(0.5, 0.0, 0.5), train=[0, 1], valid=[], test=[1, 2])
    assert hash(split) == hash(random_split(10, seed=0))


# -- time ------------------------------------------------------------------------------------------
def test_time_split_puts_oldest_in_train_and_newest_in_test():
    order = np.random.default_rng(0).permutation(200) + 1000
    split = time_split(order, (0.7, 0.1, 0.2))
    _check_partition(split, 200)
    assert split.sizes == {"train": 140, "valid": 20, "test": 40}
    assert order[split.train].max() < order[split.valid].min()
    assert order[split.valid].max() < order[split.test].min()
    assert split.seed is None


def test_time_split_rejects_missing_order():
    with pytest.raises(SplitError, match="1 are missing"):
        time_split(np.array([1.0, np.nan, 3.0, 4.0]))


# -- scaffold --------------------------------------------------------------------------------------
def test_scaffolds_of_acyclic_molecules_are_empty():
    assert scaffolds(["CCO", "CCCC", "c1ccccc1CC"]) == ["", "", "c1ccccc1"]


def test_scaffold_split_never_splits_a_scaffold(freesolv):
    smiles = freesolv["smiles"].tolist()
    split = scaffold_split(smiles, (0.8, 0.1, 0.1), seed=0)
    _check_partition(split, len(smiles))
    sides = {}
    for part in ("train", "valid", "test"):
        for i in getattr(split, part):
            sides.setdefault(_scaffold(smiles[i]), set()).add(part)
    assert all(len(s) == 1 for s in sides.values())
    assert "train" in sides[""], "the big acyclic group goes to train first"
    sizes = split.sizes
    assert abs(sizes["train"] - 0.8 * len(smiles)) <= 0.05 * len(smiles)
    assert sizes["valid"] > 0 and sizes["test"] > 0


def test_scaffold_split_is_seeded(freesolv):
    smiles = freesolv["smiles"].tolist()
    assert scaffold_split(smiles, seed=5) == scaffold_split(smiles, seed=5)
    assert scaffold_split(smiles, seed=5).digest() != scaffold_split(smiles, seed=6).digest()


def test_scaffold_split_with_one_scaffold_fails_clearly():
    with pytest.raises(SplitError, match=r"4 molecules in 1 scaffold groups leaves train empty"):
        scaffold_split(["CCO", "CCC", "CCCC", "CCN"], seed=0)


def test_scaffold_split_rejects_unparsable_smiles():
    with pytest.raises(SplitError, match=r"row 1: .*'not a smiles'"):
        scaffold_split(["CCO", "not a smiles", "c1ccccc1"])


# -- k-fold ----------------------------------------------------------------------------------------
def test_kfold_covers_every_index_once_as_test():
    folds = list(kfold(23, k=5, seed=1))
    assert [f.fold for f in folds] == list(range(5)) and {f.n_folds for f in folds} == {5}
    tests = np.concatenate([f.test for f in folds])
    assert np.array_equal(np.sort(tests), np.arange(23))
    for f in folds:
        _check_partition(f, 23)
        assert f.valid.size == 0 and f.test.size in (4, 5)
    assert [f.digest() for f in kfold(23, 5, seed=1)] == [f.digest() for f in folds]


def test_kfold_validates_eagerly():
    with pytest.raises(SplitError, match="k >= 2"):
        kfold(10, k=1)
    with pytest.raises(SplitError, match="at least 5 rows; got 3"):
        kfold(3, k=5)


def test_scaffold_kfold_keeps_scaffolds_whole(freesolv):
    smiles = freesolv["smiles"].tolist()[:300]
    folds = list(scaffold_kfold(smiles, k=4, seed=0))
    tests = np.concatenate([f.test for f in folds])
    assert np.array_equal(np.sort(tests), np.arange(len(smiles)))
    fold_of = {}
    for f in folds:
        for i in f.test:
            fold_of.setdefault(_scaffold(smiles[i]), set()).add(f.fold)
    assert all(len(s) == 1 for s in fold_of.values())
    with pytest.raises(SplitError, match="distinct scaffolds"):
        scaffold_kfold(["CCO", "CCC", "c1ccccc1"], k=3)


# -- stratified subsample --------------------------------------------------------------------------
def test_stratified_subsample_size_and_range():
    y = np.random.default_rng(0).lognormal(size=2000)
    idx = stratified_subsample(y, 0.05, seed=0)
    assert idx.size == 100 and np.unique(idx).size == 100 and np.all(np.diff(idx) > 0)
    q10, q90 = np.quantile(y, [0.1, 0.9])
    assert y[idx].min() <= q10 and y[idx].max() >= q90
    counts = np.histogram(y[idx], bins=np.quantile(y, np.linspace(0, 1, 11)))[0]
    assert counts.min() >= 9 and counts.max() <= 11
    assert np.array_equal(idx, stratified_subsample(y, 0.05, seed=0))
    assert not np.array_equal(idx, stratified_subsample(y, 0.05, seed=1))


def test_stratified_subsample_covers_every_bin_when_it_can():
    for seed in range(5):
        y = np.concatenate([np.zeros(95), np.arange(5) + 10.0])  # ties and a thin upper tail
        idx = stratified_subsample(y, 0.1, seed=seed, bins=5)
        assert idx.size == 10 and y[idx].max() >= 10
        y = np.concatenate([np.arange(5) - 10.0, np.zeros(95)])  # the same at the lower end
        idx = stratified_subsample(y, 0.1, seed=seed, bins=5)
        assert idx.size == 10 and y[idx].min() <= -6


def test_stratified_subsample_edges():
    assert np.array_equal(stratified_subsample([1.0, 2.0, 3.0], 1.0), np.arange(3))
    with pytest.raises(SplitError, match=r"\(0, 1\]"):
        stratified_subsample([1.0, 2.0], 0.0)
    with pytest.raises(SplitError, match="1 are NaN"):
        stratified_subsample([1.0, np.nan], 0.5)


# -- make_split ------------------------------------------------------------------------------------
@pytest.fixture
def snapshot(freesolv) -> pd.DataFrame:
    frame = freesolv.head(200).rename(columns={"expt": "hydration"})[["smiles", "hydration"]].copy()
    frame["order"] = np.arange(len(frame))[::-1]  # newest rows first in the table
    frame.loc[frame.index[::10], "hydration"] = np.nan  # rows without this target
    return frame


@pytest.mark.parametrize("kind", ["random", "scaffold", "time"])
def test_make_split_uses_only_labelled_rows(snapshot, kind):
    split = make_split(kind, snapshot, "hydration", (0.8, 0.1, 0.1), seed=0)
    labelled = np.flatnonzero(snapshot["hydration"].notna())
    every = np.concatenate([split.train, split.valid, split.test])
    assert np.array_equal(np.sort(every), labelled)
    assert split.name == kind
    if kind == "time":
        order = snapshot["order"].to_numpy()
        assert order[split.train].max() < order[split.test].min()


def test_make_split_errors(snapshot):
    with pytest.raises(SplitError, match="unknown split kind 'cluster'"):
        make_split("cluster", snapshot)
    with pytest.raises(SplitError, match="column 'order'"):
        make_split("time", snapshot.drop(columns="order"))
    with pytest.raises(SplitError, match="column 'logS'"):
        make_split("random", snapshot, "logS")
