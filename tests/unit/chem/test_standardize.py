"""Standardisation: parent molecule, identity, and every rejection reason."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdkit import Chem

from molops.chem.standardize import (
    REASONS,
    Rejected,
    Standardized,
    Standardizer,
    StandardizerSettings,
)

from .real_sets import smiles_sets

ETHANOL = "LFQSCWFLJHTTHZ-UHFFFAOYSA-N"
BENZOIC_ACID = "WPYMKLBDIGXBTP-UHFFFAOYSA-N"
ACETIC_ACID = "QTBSBXVTEAMEQO-UHFFFAOYSA-N"
TOLUENE = "YXFVVABEGXRONW-UHFFFAOYSA-N"
INCHIKEY = re.compile(r"^[A-Z]{14}-[A-Z]{10}-[A-Z]$")


@pytest.fixture(scope="module")
def std():
    return Standardizer()


def ok(result) -> Standardized:
    assert isinstance(result, Standardized), result
    return result


def same(a, b) -> bool:
    """Same parent: identical SMILES, InChIKey and size; weights equal up to summation order."""
    a, b = ok(a), ok(b)
    return (a.smiles, a.inchikey, a.heavy_atoms) == (b.smiles, b.inchikey, b.heavy_atoms) and (
        a.molecular_weight == pytest.approx(b.molecular_weight, rel=1e-12)
    )


def rejected(result, reason: str) -> Rejected:
    assert isinstance(result, Rejected), result
    assert result.reason == reason, result
    assert result.reason in REASONS
    return result


# -- identity ----------------------------------------------------------------------------------
@pytest.mark.parametrize("spelling", ["OCC", "C(O)C", "CCO", "C(C)O", " CCO ", "[CH3][CH2][OH]"])
def test_spellings_of_ethanol_are_one_molecule(std, spelling):
    result = ok(std.standardize(spelling))
    assert result.smiles == "CCO"
    assert result.inchikey == ETHANOL
    assert result.heavy_atoms == 3
    assert result.molecular_weight == pytest.approx(46.069, abs=1e-3)


@pytest.mark.parametrize(
    ("spelling", "plain"),
    [
        ("[H]OC([H])([H])C", "CCO"),
        ("[H]N([H])c1ccccc1", "Nc1ccccc1"),
        ("[H]C(=O)O", "OC=O"),
        ("C[C@@]([H])(F)Cl", "C[C@@H](F)Cl"),  # the stereo the H's position gave stays
        ("[H]/C(F)=C(/[H])Cl", "F/C=C/Cl"),
        ("[H:1]OC", "OC"),
    ],
)
def test_hydrogens_drawn_as_atoms_give_the_plain_parent(std, spelling, plain):
    # the same InChIKey either way, and the same parent SMILES (which the features are computed
    # from): before, "[H]OC([H])([H])C" kept its hydrogens in its parent SMILES
    assert same(ok(std.standardize(spelling)), ok(std.standardize(plain)))


def test_isotopic_hydrogens_stay_atoms(std):
    result = ok(std.standardize("[2H]C([2H])([2H])O"))
    assert result.smiles == "[2H]C([2H])([2H])O"
    assert result.inchikey != ok(std.standardize("CO")).inchikey


@given(st.sampled_from(smiles_sets()["chembl_samples.csv"]))
@settings(max_examples=60, deadline=None)
def test_any_molecule_with_all_its_hydrogens_drawn_is_the_same_parent(smiles):
    std = Standardizer()
    mol = Chem.MolFromSmiles(smiles)
    explicit = Chem.MolToSmiles(Chem.AddHs(mol))
    assert "[H]" in explicit
    drawn, plain = std.standardize(explicit), std.standardize(smiles)
    if isinstance(plain, Rejected):  # e.g. too large: the same verdict either way
        assert drawn == plain
    else:
        assert same(ok(drawn), plain)


@pytest.mark.parametrize(
    "spelling", ["Cc1ccccc1", "c1ccccc1C", "CC1=CC=CC=C1", "C1=CC=C(C)C=C1", "C1=CC(C)=CC=C1"]
)
def test_kekule_and_aromatic_forms_are_one_molecule(std, spelling):
    result = ok(std.standardize(spelling))
    assert result.smiles == "Cc1ccccc1"
    assert result.inchikey == TOLUENE


def test_different_molecules_have_different_identities(std):
    keys = {ok(std.standardize(s)).inchikey for s in ("CCO", "COC", "CCCO", "OCCO", "c1ccccc1")}
    assert len(keys) == 5
    assert all(INCHIKEY.match(k) for k in keys)


# -- parent: salts, solvents, charges ----------------------------------------------------------
@pytest.mark.parametrize(
    ("salt", "smiles", "inchikey"),
    [
        ("[Na+].[O-]C(=O)c1ccccc1", "O=C(O)c1ccccc1", BENZOIC_ACID),
        ("OC(=O)c1ccccc1.[K+].[Cl-]", "O=C(O)c1ccccc1", BENZOIC_ACID),
        ("CC(=O)[O-].[Na+]", "CC(=O)O", ACETIC_ACID),
        ("CCO.O", "CCO", ETHANOL),  # solvent (water) stripped
        ("CCO.OCC", "CCO", ETHANOL),
    ],
)
def test_salts_and_solvents_are_stripped(std, salt, smiles, inchikey):
    result = ok(std.standardize(salt))
    assert (result.smiles, result.inchikey) == (smiles, inchikey)


def test_hydrochloride_is_the_free_base(std):
    assert same(std.standardize("CCN.Cl"), std.standardize("CCN"))
    assert ok(std.standardize("c1ccncc1.Cl")).smiles == "c1ccncc1"


@pytest.mark.parametrize(
    ("charged", "neutral"),
    [("CC(=O)[O-]", "CC(=O)O"), ("C[NH3+]", "CN"), ("[O-]c1ccccc1", "Oc1ccccc1"), ("CC[NH+](C)C", "CCN(C)C")],
)
def test_charges_are_neutralised(std, charged, neutral):
    assert same(std.standardize(charged), std.standardize(neutral))
    assert ok(std.standardize(charged)).smiles == neutral


def test_quaternary_ammonium_keeps_its_charge(std):
    # a permanent charge cannot be neutralised; the counter-ion still goes
    assert ok(std.standardize("CC[N+](C)(C)C.[Cl-]")).smiles == "CC[N+](C)(C)C"


def test_functional_groups_are_normalised(std):
    # the pentavalent-nitrogen nitro spelling becomes the charge-separated one
    assert same(std.standardize("CN(=O)=O"), std.standardize("C[N+](=O)[O-]"))
    assert ok(std.standardize("CN(=O)=O")).smiles == "C[N+](=O)[O-]"


# -- rejections --------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", " ", "\t\n"])
def test_empty(std, text):
    assert rejected(std.standardize(text), "empty_structure").detail == "the structure field is empty"


@pytest.mark.parametrize("text", ["notasmiles", "C1CC", "C(C", "CC)", "Xx", "C%", "[Foo]"])
def test_unparsable(std, text):
    assert rejected(std.standardize(text), "unparsable_structure").detail == "not a valid SMILES"


# RDKit reads a SMILES up to its first space (the rest is a name), so each of these was ethanol
@pytest.mark.parametrize(
    "text",
    ["CCO\nCCN", "CCO CCN", "CCO\tethanol", "CCO\r\nCCN", " CCO N ", "C C", "CCO\u00a0x", "not a smiles"],
)
def test_whitespace_inside_a_smiles_is_refused(std, text):
    detail = rejected(std.standardize(text), "unparsable_structure").detail
    assert "contains whitespace" in detail and repr(text.strip()) in detail


def test_a_long_smiles_with_whitespace_is_shortened_in_the_detail(std):
    detail = rejected(std.standardize("C" * 100 + " CCN"), "unparsable_structure").detail
    assert "contains whitespace" in detail and "C" * 37 + "..." in detail and "C" * 38 not in detail


@pytest.mark.parametrize("text", [" CCO", "CCO ", "\tCCO\n", "CCO\r\n", "\u00a0OCC\u2003"])
def test_surrounding_whitespace_is_stripped(std, text):
    assert same(std.standardize(text), std.standardize("CCO"))


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["CC(=O)Oc1ccccc1C(=O)O", "c1ccc2[nH]ccc2c1", "OCC", "CN1CCC[C@H]1c1cccnc1"]),
    st.data(),
    st.text(st.characters(categories=["Zs", "Cc"], include_characters=" \t\n\r"), min_size=1, max_size=3),
)
def test_any_whitespace_inside_any_smiles_is_refused(smiles, data, gap):
    """Wherever whitespace splits a valid SMILES, the molecule is refused, never its first part."""
    if not any(c.isspace() for c in gap):
        gap += " "
    cut = data.draw(st.integers(1, len(smiles) - 1))
    result = Standardizer().standardize(smiles[:cut] + gap + smiles[cut:])
    assert "contains whitespace" in rejected(result, "unparsable_structure").detail


@pytest.mark.parametrize(("text", "why"), [("c1cccc1", "kekulize"), ("C(C)(C)(C)(C)C", "valence")])
def test_unsanitisable(std, text, why):
    detail = rejected(std.standardize(text), "unparsable_structure").detail
    assert detail.startswith("sanitisation failed: ")
    assert why in detail


@pytest.mark.parametrize("text", ["O", "N", "[Na+].[Cl-]", "Cl", "O=S(=O)(O)O", "[Cu]"])
def test_inorganic(std, text):
    result = std.standardize(text)
    # a metal atom alone is outside the default elements; everything else here is inorganic
    assert isinstance(result, Rejected)
    assert result.reason == ("disallowed_element" if text == "[Cu]" else "inorganic")


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("C[Te]C", "contains Te"),
        ("C[Hg]C", "contains Hg"),
        ("C[Sn](C)(C)C", "contains Sn"),
    ],
)
def test_disallowed_element(std, text, detail):
    assert rejected(std.standardize(text), "disallowed_element").detail == detail


@pytest.mark.parametrize(
    ("text", "parent"), [("CC(=O)O[Na]", "CC(=O)O"), ("[Na]OC(=O)c1ccccc1", "O=C(O)c1ccccc1")]
)
def test_covalently_drawn_salts_lose_the_metal(std, text, parent):
    assert std.standardize(text).smiles == parent


def test_allowed_elements_are_configurable():
    no_chlorine = Standardizer(StandardizerSettings(allowed_elements=frozenset({"C", "H", "O"})))
    assert rejected(no_chlorine.standardize("CCCl"), "disallowed_element").detail == "contains Cl"
    assert rejected(no_chlorine.standardize("CCN"), "disallowed_element").detail == "contains N"
    assert ok(no_chlorine.standardize("CCO")).inchikey == ETHANOL
    with_tellurium = Standardizer(StandardizerSettings(allowed_elements=frozenset({"C", "H", "Te"})))
    assert ok(with_tellurium.standardize("C[Te]C")).smiles == "C[Te]C"


@pytest.mark.parametrize("text", ["[CH3]", "C[CH2]", "CC[O]"])
def test_radical(std, text):
    assert rejected(std.standardize(text), "radical").detail == "the parent has unpaired electrons"


def test_radicals_may_be_allowed():
    lenient = Standardizer(StandardizerSettings(reject_radicals=False))
    assert ok(lenient.standardize("[CH3]")).heavy_atoms == 1


def test_inorganic_may_be_allowed():
    lenient = Standardizer(StandardizerSettings(reject_inorganic=False))
    assert ok(lenient.standardize("O")).smiles == "O"
    assert ok(lenient.standardize("N")).inchikey == "QGZKDVFQNNGYKY-UHFFFAOYSA-N"


def test_too_large_by_heavy_atoms():
    small = Standardizer(StandardizerSettings(max_heavy_atoms=5))
    assert rejected(small.standardize("CCCCCC"), "too_large").detail == "6 heavy atoms (max 5)"
    assert ok(small.standardize("CCCCC")).heavy_atoms == 5


def test_too_large_by_weight():
    light = Standardizer(StandardizerSettings(max_molecular_weight=50.0))
    assert rejected(light.standardize("CCCCC"), "too_large").detail == ("molecular weight 72.2 (max 50)")
    assert ok(light.standardize("CCO")).molecular_weight < 50


def test_too_large_by_default(std):
    assert rejected(std.standardize("C" * 101), "too_large").detail == "101 heavy atoms (max 100)"


def test_too_small():
    picky = Standardizer(StandardizerSettings(min_heavy_atoms=3))
    assert rejected(picky.standardize("CC"), "too_small").detail == "2 heavy atoms (min 3)"
    assert ok(picky.standardize("CCC")).heavy_atoms == 3


def test_size_is_judged_on_the_parent_not_the_salt():
    small = Standardizer(StandardizerSettings(max_heavy_atoms=4))
    # 4 heavy atoms in acetate + Na+: the parent has 4, so it is accepted
    assert ok(small.standardize("CC(=O)[O-].[Na+]")).heavy_atoms == 4


def test_every_reason_is_documented():
    assert set(REASONS) == {
        "empty_structure",
        "unparsable_structure",
        "inorganic",
        "disallowed_element",
        "radical",
        "too_large",
        "too_small",
        "no_identity",
    }
    assert all(REASONS.values())


# -- fast path of check() agrees with the per-atom checks --------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "CCO",
        "O",
        "ClCl",
        "BrCCl",
        "c1ccccc1",
        "CCCl",
        "C1CC1",
        "ICI",
        "B(O)O",
        "OB(O)c1ccccc1",
        "P",
        "S",
        "NC(N)=O",
        "C" * 8,
        "FC(F)(F)F",
        "c1ccsc1",
        "N#N",
        "O=O",
        "OO",
    ],
)
def test_text_shortcut_matches_atom_checks(std, text):
    mol = std.parent(std.parse(text))
    smiles = Chem.MolToSmiles(mol)
    assert "[" not in smiles
    assert std.check(mol, smiles) == std.check(mol, None)


# -- molblock input ----------------------------------------------------------------------------
def test_molblock_gives_the_same_identity_as_smiles(std):
    block = Chem.MolToMolBlock(Chem.MolFromSmiles("OCC"))
    result = ok(std.standardize(block, "molblock"))
    assert same(result, std.standardize("CCO"))


def test_molblock_with_explicit_hydrogens(std):
    block = Chem.MolToMolBlock(Chem.AddHs(Chem.MolFromSmiles("Cc1ccccc1")))
    result = ok(std.standardize(block, "molblock"))
    assert result.smiles == "Cc1ccccc1"
    assert result.inchikey == TOLUENE
    assert result.heavy_atoms == 7


def test_molblock_of_a_salt_is_stripped(std):
    block = Chem.MolToMolBlock(Chem.MolFromSmiles("[Na+].[O-]C(=O)c1ccccc1"))
    assert ok(std.standardize(block, "molblock")).inchikey == BENZOIC_ACID


def test_molblock_rejections(std):
    assert rejected(std.standardize("", "molblock"), "empty_structure")
    assert (
        rejected(std.standardize("this is\nnot a\nmol block\n", "molblock"), "unparsable_structure").detail
        == "not a valid mol block"
    )
    empty = Chem.MolToMolBlock(Chem.Mol())
    assert (
        rejected(std.standardize(empty, "molblock"), "empty_structure").detail == "the structure has no atoms"
    )
    water = Chem.MolToMolBlock(Chem.MolFromSmiles("O"))
    assert rejected(std.standardize(water, "molblock"), "inorganic")


def test_a_smiles_is_not_a_molblock(std):
    assert rejected(std.standardize("CCO", "molblock"), "unparsable_structure")


def test_an_instance_is_reusable_and_deterministic(std):
    first = [std.standardize(s) for s in ("CCO", "xyz", "O", "CC(=O)[O-].[Na+]")]
    second = [std.standardize(s) for s in ("CCO", "xyz", "O", "CC(=O)[O-].[Na+]")]
    assert first == second


# -- property: any atom order and bond spelling gives the same parent --------------------------
MOLECULES = [
    "CC(=O)Oc1ccccc1C(=O)O",
    "c1ccc2[nH]ccc2c1",
    "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
    "O=C(O)c1ccccc1",
    "CN1CCC[C@H]1c1cccnc1",
    "C/C=C/C(=O)O",
    "OC[C@H]1OC(O)[C@H](O)[C@@H]1O",
]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(MOLECULES), st.randoms(use_true_random=False), st.booleans())
def test_identity_does_not_depend_on_the_spelling(smiles, rng, kekule):
    std = Standardizer()
    mol = Chem.MolFromSmiles(smiles)
    order = list(range(mol.GetNumAtoms()))
    rng.shuffle(order)
    shuffled = Chem.RenumberAtoms(mol, order)
    if kekule:
        Chem.Kekulize(shuffled, clearAromaticFlags=True)
    spelling = Chem.MolToSmiles(shuffled, canonical=False, kekuleSmiles=kekule)
    assert same(std.standardize(spelling), std.standardize(smiles))


#: 100 aromatic carbons on a random 3-regular graph: RDKit sanitises it, but InChI's own
#: kekulisation fails (it raised out of the standardiser before, and took an ingest worker with it).
INCHI_CANNOT_KEKULIZE = (
    "c12c3c4c5c6c7c8c9c%10c1c1c%11c%12c%13c%14c%15c%16c%17c%18c%19c%20c%21c%22c%23c%24c%25c8c7c"
    "%15c%12c7c8c%12c%15c%26c%27c%24c(c14)c(c2%17)c1c2c(c4c%17c%24c%28c%29c%30c%31c(c4c%20c%30c"
    "4c%20c%30c%32c(c%33c%34c(c8c%20c%10%34)c%14c3c%33c%13c2c2c(c9c%12c(c3c%23c%22c%293)c%27c%1"
    "6c3c4c4c(c%15c4c(c%18%24)c%28%30)c%11c53)c2c%31%32)c6c7c%261)c%17%25)c%19%21"
)


def test_a_structure_inchi_cannot_take_is_rejected_not_raised(std):
    result = std.standardize(INCHI_CANNOT_KEKULIZE)
    assert isinstance(result, Rejected) and result.reason == "no_identity"
    assert "InChIKey" in result.detail
