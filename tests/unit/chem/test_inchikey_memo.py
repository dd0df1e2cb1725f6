"""A standardiser reuses the InChIKey of a canonical parent SMILES it has seen (issue 19): every
spelling of a molecule, stereo included, must still get the key computed from its own parent."""

from __future__ import annotations

import random

from rdkit import Chem

from molops.chem.standardize import _INCHI_OPTIONS, Standardized, Standardizer

from .real_sets import smiles_sets

STEREO = [
    "C[C@H](N)C(=O)O",
    "C[C@@H](N)C(=O)O",
    "CC(N)C(=O)O",
    "C/C=C/C(=O)O",
    "C/C=C\\C(=O)O",
    "[2H]C([2H])([2H])O",
    "[13CH3]CO",
    "OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O",
    "C[N+](C)(C)CC(=O)[O-]",
    "[H]OC",
]


def _spellings(smiles: str, rng: random.Random, n: int = 3) -> list[str]:
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return [smiles]
    return [smiles] + [Chem.MolToSmiles(mol, doRandom=True) for _ in range(n)] + [smiles + ".[Na+].[Cl-]"]


def test_every_spelling_gets_the_key_of_its_own_parent():
    rng = random.Random(7)
    Chem.rdBase.SeedRandomNumberGenerator(7)
    texts = [t for s in smiles_sets()["chembl_samples.csv"][:150] + STEREO for t in _spellings(s, rng)]
    rng.shuffle(texts)
    std = Standardizer()
    identified = 0
    for text in texts:
        result = std.standardize_with_parent(text)
        if isinstance(result, tuple):
            got, parent = result
            assert isinstance(got, Standardized)
            assert got.inchikey == Chem.MolToInchiKey(parent, options=_INCHI_OPTIONS), text
            identified += 1
    assert identified > len(texts) // 2


def test_stereoisomers_keep_their_own_keys():
    std = Standardizer()
    keys = [std.standardize(s).inchikey for s in ("C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O", "CC(N)C(=O)O")]
    assert len(set(keys)) == 3
    assert std.standardize("N[C@@H](C)C(=O)O").inchikey == keys[0]
