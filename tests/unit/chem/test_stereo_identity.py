"""Stereo is part of a molecule's identity, whichever format it arrives in: cis/trans (E/Z) and R/S
isomers get different InChIKeys, and a SMILES and the mol block of the same molecule get the same
parent SMILES and InChIKey (a SMILES's E/Z used to be dropped from its key)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from rdkit import Chem
from rdkit.Chem import rdDistGeom

from molops.chem.standardize import _INCHI_OPTIONS, Rejected, Standardized, Standardizer

from .real_sets import smiles_sets

#: Pairs of stereoisomers, each written as a SMILES with its stereo.
ISOMERS = [
    ("C/C=C/C(=O)O", "C/C=C\\C(=O)O"),  # crotonic / isocrotonic acid
    ("c1ccc(/C=C/c2ccccc2)cc1", "c1ccc(/C=C\\c2ccccc2)cc1"),  # E / Z stilbene
    ("C/C(=N/O)c1ccccc1", "C/C(=N\\O)c1ccccc1"),  # oxime E / Z (a C=N bond)
    ("OC(=O)/C=C/C(=O)O", "OC(=O)/C=C\\C(=O)O"),  # fumaric / maleic acid
    ("C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O"),  # L / D alanine
    ("C[C@H](O)CC", "C[C@@H](O)CC"),
    ("C/C=C/[C@H](N)CC", "C/C=C\\[C@H](N)CC"),  # both kinds: the double bond differs
    ("C/C=C/[C@H](N)CC", "C/C=C/[C@@H](N)CC"),  # both kinds: the centre differs
]


def _molblock_2d(smiles: str) -> str:
    """A 2D drawing, as a sketcher would save it: stereo in wedges and in the drawn geometry."""
    return str(Chem.MolToMolBlock(Chem.MolFromSmiles(smiles)))


def _molblock_3d(smiles: str) -> str:
    """A 3D conformer with its hydrogens, as a docking or conformer tool writes it."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert rdDistGeom.EmbedMolecule(mol, randomSeed=7) == 0
    return str(Chem.MolToMolBlock(mol))


def _reversed(smiles: str) -> str:
    """Another spelling: the canonical SMILES rooted at its last atom."""
    mol = Chem.MolFromSmiles(smiles)
    return str(Chem.MolToSmiles(mol, rootedAtAtom=mol.GetNumAtoms() - 1))


def identity(result: Standardized | Rejected) -> tuple[str, str]:
    assert isinstance(result, Standardized), result
    return result.smiles, result.inchikey


def _forms(std: Standardizer, smiles: str) -> dict[str, tuple[str, str]]:
    return {
        "smiles": identity(std.standardize(smiles)),
        "other spelling": identity(std.standardize(_reversed(smiles))),
        "salt": identity(std.standardize(smiles + ".[Na+].[Cl-]")),
        "2D mol block": identity(std.standardize(_molblock_2d(smiles), "molblock")),
        "3D mol block": identity(std.standardize(_molblock_3d(smiles), "molblock")),
    }


@pytest.mark.parametrize(("first", "second"), ISOMERS)
def test_isomers_keep_their_identity_in_every_format(first, second) -> None:
    std = Standardizer()  # one standardiser: its InChIKey memo sees both isomers
    one, other = _forms(std, first), _forms(std, second)
    assert len(set(one.values())) == 1, one
    assert len(set(other.values())) == 1, other
    (smiles_one, key_one), (smiles_other, key_other) = one["smiles"], other["smiles"]
    assert smiles_one != smiles_other
    assert key_one != key_other
    assert key_one[:14] == key_other[:14]  # one skeleton: only the stereo layer differs


@pytest.mark.parametrize("smiles", ["C/C=C/C(=O)O", "C[C@H](N)C(=O)O"])
def test_stereo_is_in_the_key(smiles) -> None:
    """A structure drawn with its stereo is not the one drawn without it (unspecified stereo)."""
    std = Standardizer()
    flat = Chem.MolToSmiles(Chem.MolFromSmiles(smiles), isomericSmiles=False)
    key, flat_key = identity(std.standardize(smiles))[1], identity(std.standardize(flat))[1]
    assert flat_key.endswith("-UHFFFAOYSA-N")  # the standard layer of "no stereo"
    assert key != flat_key and key[:14] == flat_key[:14]


def test_an_imaginary_centre_is_not_kept() -> None:
    """A @ on an atom with two equal neighbours is no stereocentre: the parent is the plain molecule."""
    std = Standardizer()
    assert identity(std.standardize("C[C@H](C)O")) == identity(std.standardize("CC(C)O"))
    assert identity(std.standardize("C/C=C(/C)C")) == identity(std.standardize("CC=C(C)C"))


SETS = smiles_sets()
#: ChEMBL molecules written with stereo (R/S and E/Z): about 1,500, a quarter of them with E/Z.
STEREO = [s for s in SETS["chembl_samples.csv"] + SETS["chembl_drugs.csv"] if any(c in s for c in "@/\\")]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(STEREO))
def test_a_smiles_and_its_mol_block_are_one_molecule(smiles) -> None:
    mol = Chem.MolFromSmiles(smiles)
    assume(mol is not None)
    block = Chem.MolToMolBlock(mol)
    # RDKit cannot always draw a cage's stereo as wedges; such a mol block is another molecule
    assume(Chem.MolToSmiles(Chem.MolFromMolBlock(block)) == Chem.MolToSmiles(mol))
    std = Standardizer()
    from_smiles, from_block = std.standardize(smiles), std.standardize(block, "molblock")
    if isinstance(from_smiles, Rejected):  # e.g. too large: the same verdict either way
        assert isinstance(from_block, Rejected) and from_block.reason == from_smiles.reason
    else:
        assert identity(from_block) == identity(from_smiles)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([s for texts in SETS.values() for s in texts]))
def test_a_smiles_is_read_as_rdkits_own_reader_reads_it(smiles) -> None:
    """Parsing perceives stereo only where the SMILES marks some (@, / or \\); whatever it skips,
    the parent is the one RDKit's default reader (sanitise, remove hydrogens, stereo) leads to."""
    mol = Chem.MolFromSmiles(smiles)
    assume(mol is not None)
    std = Standardizer()
    got = std.standardize(smiles)
    assume(isinstance(got, Standardized))
    parent = std.parent(mol)
    assert identity(got) == (Chem.MolToSmiles(parent), Chem.MolToInchiKey(parent, options=_INCHI_OPTIONS))


@pytest.mark.parametrize(
    ("cxsmiles", "smiles"),
    [
        ("CC=CC(=O)O |t:1|", "C/C=C/C(=O)O"),  # cis/trans marks in the extension
        ("CC=CC(=O)O |c:1|", "C/C=C\\C(=O)O"),
        ("C1CCCCCC=CCCCC1 |c:6|", "C1CCCCC/C=C\\CCCC1"),  # a ring double bond, as Marvin marks it
        ("C/C=C/C(=O)O |$;;;;;$|", "C/C=C/C(=O)O"),
        ("C/C=C/C(=O)O |w:1.0|", "CC=CC(=O)O"),  # a wavy bond: either isomer
    ],
)
def test_a_cxsmiles_keeps_the_double_bond_stereo_it_marks(cxsmiles, smiles) -> None:
    std = Standardizer()
    assert identity(std.standardize(cxsmiles)) == identity(std.standardize(smiles))


def test_an_unsanitisable_cxsmiles_says_why() -> None:
    result = Standardizer().standardize("C1=CC=CC=C1C(C)(C)(C)(C)C |$;;;;;;;;;;;$|")
    assert isinstance(result, Rejected) and result.reason == "unparsable_structure"
    assert result.detail.startswith("sanitisation failed: Explicit valence")
