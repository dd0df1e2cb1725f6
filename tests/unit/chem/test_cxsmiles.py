"""CXSMILES (a SMILES, a space, a ``|...|`` extension, as ChemAxon/Marvin and vendors export it)
is read with its extension; any other whitespace inside a SMILES is still refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdkit import Chem
from rdkit.Chem import rdDepictor

from molops.chem.standardize import REASONS, Rejected, Standardized, Standardizer

from .real_sets import smiles_sets


@pytest.fixture(scope="module")
def std() -> Standardizer:
    return Standardizer()


def identity(result: Standardized | Rejected) -> tuple[str, str, int]:
    assert isinstance(result, Standardized), result
    return result.smiles, result.inchikey, result.heavy_atoms


def rejected(result: Standardized | Rejected, reason: str = "unparsable_structure") -> str:
    assert isinstance(result, Rejected) and result.reason == reason, result
    assert reason in REASONS
    return result.detail


@pytest.mark.parametrize(
    ("cxsmiles", "smiles"),
    [
        ("C1CC1 |$R;;$|", "C1CC1"),
        ("C1CC1\t|$R;;$|", "C1CC1"),
        ("  C1CC1   |$R;;$|  ", "C1CC1"),
        ("C1CC1 |$a b;;$|", "C1CC1"),  # a label may hold a space
        ("C[C@H](O)CC |&1:1|", "C[C@H](O)CC"),
        ("CC(=O)[O-].[Na+] |$;;;;;$|", "CC(=O)O"),  # salt stripped as without the extension
        ("C/C=C/C(=O)O |(0,0,;1.3,0.75,;2.6,0,;3.9,0.75,;3.9,2.25,;5.2,0,)|", "C/C=C/C(=O)O"),
    ],
)
def test_a_cxsmiles_has_the_identity_of_its_smiles(std, cxsmiles, smiles) -> None:
    assert identity(std.standardize(cxsmiles)) == identity(std.standardize(smiles))


def test_the_extension_is_applied(std) -> None:
    labelled = std.parse("C1CC1 |$R;;$|")
    assert isinstance(labelled, Chem.Mol) and labelled.GetAtomWithIdx(0).GetProp("atomLabel") == "R"
    racemic = std.parse("C[C@H](O)CC |&1:1|")
    assert isinstance(racemic, Chem.Mol)
    groups = racemic.GetStereoGroups()
    assert [(g.GetGroupType(), [a.GetIdx() for a in g.GetAtoms()]) for g in groups] == [
        (Chem.StereoGroupType.STEREO_AND, [1])
    ]
    # a radical written in the extension is a radical
    assert identity(std.standardize("CC"))
    assert "unpaired" in rejected(std.standardize("CC |^1:0|"), "radical")


def test_coordinates_are_layout_not_identity(std) -> None:
    """InChI reads stereo from coordinates when a molecule has them: a CXSMILES's are dropped, so
    its identity is its SMILES's whatever drawing it came from."""
    parsed = std.parse("CCO |(0,0,;1.3,0.75,;2.6,0,)|")
    assert isinstance(parsed, Chem.Mol) and parsed.GetNumConformers() == 0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("C1CC1 |foo bar|", "RDKit cannot read the CXSMILES extension '|foo bar|' of 'C1CC1'"),
        ("C1CC1 |$R;;|", "RDKit cannot read the CXSMILES extension '|$R;;|'"),  # label never closed
        ("C1C |$R;;$|", "not a valid SMILES"),  # the SMILES itself is broken
    ],
)
def test_an_unreadable_cxsmiles_is_refused_with_its_reason(std, text, fragment) -> None:
    assert fragment in rejected(std.standardize(text))


@pytest.mark.parametrize(
    "text",
    [
        "CCO CCN",
        "C1CC1 |$R;;$| name",  # a name after the extension: not one structure
        "C1CC1 |$R;;$| |$X;;$|",  # two extensions
        "C1CC1 |$R;;$|x|",
        "C1CC1\n|$R;;$|",  # a line break is never a CXSMILES separator
        "|$R;;$| C1CC1",
    ],
)
def test_other_whitespace_is_still_refused(std, text) -> None:
    assert "contains whitespace" in rejected(std.standardize(text))


def _cxsmiles(smiles: str, labelled: int, group: bool) -> str | None:
    """*smiles* as RDKit writes a CXSMILES of it: 2D coordinates, an atom label, and the first
    stereocentre (if any, with *group*) in an AND stereo group."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    mol = Chem.RWMol(mol)
    rdDepictor.Compute2DCoords(mol)
    mol.GetAtomWithIdx(labelled % mol.GetNumAtoms()).SetProp("atomLabel", "L1")
    centres = Chem.FindMolChiralCenters(mol)
    if group and centres:
        mol.SetStereoGroups([Chem.CreateStereoGroup(Chem.StereoGroupType.STEREO_AND, mol, [centres[0][0]])])
    return Chem.MolToCXSmiles(mol)


SETS = smiles_sets()


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(SETS["chembl_samples.csv"] + SETS["chembl_drugs.csv"]),
    st.integers(0, 200),
    st.booleans(),
)
def test_a_cxsmiles_written_by_rdkit_reads_back_to_the_same_identity(smiles, labelled, group) -> None:
    cxsmiles = _cxsmiles(smiles, labelled, group)
    if cxsmiles is None:
        return
    assert " |" in cxsmiles
    std = Standardizer()
    plain, extended = std.standardize(smiles), std.standardize(cxsmiles)
    if isinstance(plain, Rejected):  # e.g. too large: the same verdict either way
        assert isinstance(extended, Rejected) and extended.reason == plain.reason
    else:
        assert identity(extended) == identity(plain)
