"""Preparation computes exactly what training computed: the featurizer's rows from the parent
SMILES and the reference fingerprints, for every featurizer; failures are items, never exceptions."""

from __future__ import annotations

import math
import pickle

import datamol as dm
import numpy as np
import pytest

from molops.chem.standardize import StandardizerSettings
from molops.data.validation import standardizer
from molops.features.base import get_featurizer
from molops.models.reference import fingerprints
from molops.tracking.preparation import Preparation, prepare_molecule


@pytest.fixture(scope="module")
def inputs() -> list[str]:
    return dm.data.chembl_samples()["smiles"].tolist()[:300] + dm.data.freesolv()["smiles"].tolist()[:100]


def _training_way(spec: str, inputs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    std = standardizer(StandardizerSettings())
    parents = [r.smiles for r in map(std.standardize, inputs) if hasattr(r, "smiles")]
    return get_featurizer(spec).transform(parents).values, fingerprints(parents)[0]


@pytest.mark.parametrize(
    "spec", ["morgan:counts=true", "morgan:radius=3,counts=true", "morgan", "atompair:counts=true", "maccs"]
)
def test_features_and_fingerprints_are_the_training_ones(spec, inputs):
    prepared = Preparation(StandardizerSettings(), spec).batch(inputs)
    values, fps = _training_way(spec, inputs)
    assert len(prepared.good) == len(values) > 350
    np.testing.assert_array_equal(prepared.values, values)
    np.testing.assert_array_equal(prepared.fingerprints, fps)


def test_a_smiles_model_gets_parents_and_no_fingerprints_without_applicability(inputs):
    prepared = Preparation(StandardizerSettings(), None, applicability=False).batch(inputs[:20])
    assert prepared.fingerprints is None
    assert list(prepared.values) == [prepared.parents[i] for i in prepared.good]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty_structure"),
        (None, "empty_structure"),
        (math.nan, "empty_structure"),
        ("C1CC", "unparsable_structure"),
        ("[Na+].[Cl-]", "inorganic"),
        ("CCO\nCCN", "unparsable_structure: the SMILES 'CCO\\nCCN' contains whitespace"),
        ("CCO ethanol", "unparsable_structure: the SMILES 'CCO ethanol' contains whitespace"),
    ],
)
def test_failures_are_item_errors(text, reason):
    prepared = Preparation(StandardizerSettings(), "morgan:counts=true").batch(["CCO", text, "c1ccccc1"])
    assert prepared.good == [0, 2]
    assert prepared.errors[1].startswith(reason if " " in reason else reason + ":")
    assert prepared.parents[1] is None and prepared.values.shape[0] == 2


def test_it_travels_to_a_child_process_by_pickle():
    preparation = Preparation(StandardizerSettings(), "morgan:counts=true")
    again = pickle.loads(pickle.dumps(preparation))
    assert again == preparation
    item = prepare_molecule(again, "smiles", "OCC")
    assert item.parent == "CCO" and item.error is None and item.features.sum() > 0


def test_surrounding_whitespace_is_stripped():
    prepared = Preparation(StandardizerSettings(), "morgan:counts=true").batch([" CCO ", "\tCCO\r\n", "CCO"])
    assert prepared.good == [0, 1, 2] and prepared.parents == ["CCO"] * 3
    np.testing.assert_array_equal(prepared.values[0], prepared.values[2])
