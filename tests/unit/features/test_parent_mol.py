"""Pool builds featurize the standardiser's parent molecules directly (issue 19) only where that
gives the very features of the parent SMILES parsed again, as the dataset path computes them."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from molops.chem.standardize import Standardizer
from molops.features import get_featurizer

from ..chem.real_sets import molblocks, smiles_sets

ACCEPTING = ["morgan", "morgan:counts=true", "morgan:radius=3,length=1024", "fcfp"]


@pytest.fixture(scope="module")
def parents() -> tuple[list[object], list[str]]:
    """(parent molecules, their canonical SMILES) of real SMILES and mol blocks."""
    std = Standardizer()
    mols: list[object] = []
    smiles: list[str] = []
    inputs = [(s, "smiles") for items in smiles_sets().values() for s in items[:1500]]
    inputs += [(b, "molblock") for b in molblocks()]
    for text, fmt in inputs:
        result = std.standardize_with_parent(text, fmt)
        if isinstance(result, tuple):
            smiles.append(result[0].smiles)
            mols.append(result[1])
    return mols, smiles


@pytest.mark.parametrize("spec", ACCEPTING)
def test_accepting_featurizers_give_the_features_of_the_parent_smiles(parents, spec):
    featurizer = get_featurizer(spec)
    assert featurizer.accepts_parent_mol
    mols, smiles = parents
    direct, parsed = featurizer.transform_mols(mols), featurizer.transform(smiles)
    differ = np.flatnonzero((direct.values != parsed.values).any(axis=1))
    assert [smiles[i] for i in differ[:5]] == []
    assert direct.errors == parsed.errors


@pytest.mark.parametrize(
    "spec", ["morgan:chirality=true", "torsion", "atompair", "maccs", "rdkit2d", "graph"]
)
def test_other_featurizers_parse_the_parent_smiles(spec):
    """Chiral Morgan bits and torsions differ with stereo perception and atom order (seen on
    ChEMBL molecules and small rings of the solubility SDFs); descriptors sum in atom order."""
    assert not get_featurizer(spec).accepts_parent_mol


def test_a_pool_build_stores_the_features_of_its_parent_smiles(ws, write):
    texts = smiles_sets()["chembl_drugs.csv"][:400]
    path = write("drugs.smi", "smiles\n" + "\n".join(texts) + "\n")
    report = ws.features.build_pool(path, "morgan", workers=1)
    assert report.computed > 300
    (table,) = (ws.root / "pools").glob("*/identity.parquet")
    identity = pq.read_table(table).to_pylist()
    keys = list(dict.fromkeys(r["inchikey"] for r in identity if r["inchikey"] is not None))
    first_smiles = {}
    for r in identity:
        if r["inchikey"] is not None:
            first_smiles.setdefault(r["inchikey"], r["smiles"])
    stored, valid = ws.features.get("morgan", keys)
    expected = get_featurizer("morgan").transform([first_smiles[k] for k in keys])
    assert valid.all()
    assert np.array_equal(stored.astype(bool), expected.values.astype(bool))
