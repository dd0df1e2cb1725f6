"""Fingerprint columns traced to the atoms that set them."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from molops.explain.environments import environments, mappable
from molops.features import get_featurizer

from .conftest import parents

SPECS = [
    "morgan",
    "morgan:counts=true",
    "morgan:radius=3,counts=true",
    "fcfp:counts=true",
    "atompair:counts=true",
]


@pytest.mark.parametrize("spec", SPECS)
def test_environments_account_for_every_count(spec):
    featurizer = get_featurizer(spec)
    for smiles in parents()[0][:60]:
        mol = Chem.MolFromSmiles(smiles)
        row = featurizer.transform([smiles]).values[0]
        found = environments(featurizer, mol)
        counts = np.bincount([column for column, _ in found.found], minlength=featurizer.dim)
        expected = row if featurizer.kind == "counts" else (row > 0)
        assert np.array_equal(counts if featurizer.kind == "counts" else counts > 0, expected)
        shares = found.shares()
        assert np.allclose(shares.sum(axis=0), row > 0)


def test_only_fingerprints_with_environments_are_mappable():
    assert mappable(get_featurizer("morgan")) and mappable(get_featurizer("atompair"))
    for spec in ("rdkit2d", "maccs", "torsion"):
        assert not mappable(get_featurizer(spec))


def test_masking_an_atom_removes_every_environment_that_contains_it():
    featurizer = get_featurizer("morgan:counts=true")
    mol = Chem.MolFromSmiles("CO")
    found = environments(featurizer, mol)
    row = featurizer.transform(["CO"]).values[0]
    masked = found.masked(row, counts=True)
    # without O only the carbon's radius-0 environment is left, and the other way round
    for atom, other in ((1, 0), (0, 1)):
        (left,) = np.flatnonzero(masked[atom])
        assert masked[atom, left] == 1 and (left, (other,)) in found.found
    bits = get_featurizer("morgan")
    masked_bits = environments(bits, mol).masked(bits.transform(["CO"]).values[0], counts=False)
    assert masked_bits.sum(axis=1).tolist() == [1, 1]
