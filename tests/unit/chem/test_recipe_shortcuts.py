"""The shortcuts of issue 19 give the very results of the plain recipe, on real structures.

The gated normaliser, the C++ element/carbon/radical queries and the InChI call without AuxInfo
are compared, structure by structure, with :mod:`reference_recipe` (the recipe before them).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdkit import Chem
from rdkit.Chem.MolStandardize import rdMolStandardize

from molops.chem.normalize import NEUTRAL_PATTERNS, GatedNormalizer, rules
from molops.chem.standardize import Rejected, Standardized, Standardizer, StandardizerSettings

from .real_sets import molblocks, smiles_sets
from .reference_recipe import ReferenceStandardizer


def outcome(result: Standardized | Rejected) -> tuple[object, ...]:
    """A result as comparable values (the weight rounded: a sum whose order may differ)."""
    if isinstance(result, Rejected):
        return (result.reason, result.detail)
    return (result.smiles, result.inchikey, result.heavy_atoms, round(result.molecular_weight, 9))


@pytest.fixture(scope="module")
def fast() -> Standardizer:
    return Standardizer()


@pytest.fixture(scope="module")
def plain() -> ReferenceStandardizer:
    return ReferenceStandardizer()


@pytest.mark.parametrize("name", sorted(smiles_sets()))
def test_every_real_smiles_gets_the_plain_recipes_result(fast, plain, name):
    items = smiles_sets()[name][:3000]
    differ = [s for s in items if outcome(fast.standardize(s)) != outcome(plain.standardize(s))]
    assert differ == [], f"{len(differ)} of {len(items)} differ, e.g. {differ[:3]}"


def test_every_real_molblock_gets_the_plain_recipes_result(fast, plain):
    items = molblocks()
    assert len(items) > 1000
    differ = [
        b.splitlines()[0]
        for b in items
        if outcome(fast.standardize(b, "molblock")) != outcome(plain.standardize(b, "molblock"))
    ]
    assert differ == []


@pytest.mark.parametrize(
    "text",
    [
        "CN(=O)=O",  # nitro, uncharged: sanitisation charge-separates it
        "CP(=O)=O",  # a P(=O)=O the nitro rule rewrites
        "O=n1ccccc1",  # pyridine oxide drawn with a double bond
        "CN=N#N",  # azide, uncharged pentavalent N
        "C=N#N",  # diazo
        "CS(C)=O",  # sulfoxide: the common one
        "CS(=O)c1ccccc1",
        "C[N+](=O)[O-]",
        "[O-][n+]1ccccc1",
        "CC(=O)[O-].[Na+]",
        "C[N+](C)(C)C",
        "NC(N)=[NH2+]",
        "[O-]C1=CC=[N+](C)C=C1",
        "C[S+](C)[O-]",
        "OP(=O)([O-])[O-]",
        "CCO",
        "c1ccccc1",
    ],
)
def test_each_rule_family_gives_the_plain_result(fast, plain, text):
    assert outcome(fast.standardize(text)) == outcome(plain.standardize(text))


def test_the_rules_are_rdkits_defaults():
    """molops' copy of the rules normalises real structures exactly as RDKit's built-in list."""
    ours = GatedNormalizer()._normalizer
    rdkit = rdMolStandardize.Normalizer()
    for name, items in smiles_sets().items():
        for text in items[:2000]:
            mol = Chem.MolFromSmiles(text)
            if mol is None:
                continue
            assert Chem.MolToSmiles(ours.normalize(mol)) == Chem.MolToSmiles(rdkit.normalize(mol)), (
                name,
                text,
            )


def test_a_skipped_molecule_is_one_the_normaliser_leaves_alone():
    gate = GatedNormalizer()
    rdkit = rdMolStandardize.Normalizer()
    skipped = 0
    for items in smiles_sets().values():
        for text in items[:2000]:
            mol = Chem.MolFromSmiles(text)
            if mol is None or gate.applies(mol):
                continue
            skipped += 1
            assert Chem.MolToSmiles(rdkit.normalize(mol)) == Chem.MolToSmiles(mol), text
    assert skipped > 1000


def test_neutral_patterns_match_what_their_rules_match():
    """Each rewritten pattern matches the same molecules as its rule's reactant pattern."""
    named = dict(rules())
    probes = [Chem.MolFromSmiles(s) for s in ("CS(C)=O", "CP(=O)=O", "CCO", "c1ccccc1", "CS(=O)(=O)C")]
    for items in smiles_sets().values():
        probes += [m for m in (Chem.MolFromSmiles(s) for s in items[:500]) if m is not None]
    for name, pattern in NEUTRAL_PATTERNS.items():
        ours = Chem.MolFromSmarts(pattern)
        theirs = Chem.MolFromSmarts(named[name].split(">>")[0])
        assert [m.HasSubstructMatch(ours) for m in probes] == [m.HasSubstructMatch(theirs) for m in probes]


def _demands_charge(description: str) -> bool:
    """Whether an atom query (RDKit's DescribeQuery tree) demands a non-zero formal charge: a
    ``AtomFormalCharge k = val`` node, k != 0, reached from the root through AND nodes only."""
    path: list[str] = []
    for line in description.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip())) // 2
        node = line.strip()
        del path[depth:]
        if (
            node.startswith("AtomFormalCharge ")
            and node.endswith(" = val")
            and int(node.split()[1]) != 0
            and all(p == "AtomAnd" for p in path)
        ):
            return True
        path.append(node)
    return False


def test_rules_outside_the_gate_need_a_charged_atom():
    """Each rule the charge query stands for has a reactant atom that must carry a charge, so a
    molecule without charged atoms cannot match it; each gated rule has none."""
    for name, smirks in rules():
        reactant = Chem.MolFromSmarts(smirks.split(">>")[0])
        charged = any(_demands_charge(atom.DescribeQuery()) for atom in reactant.GetAtoms())
        assert charged == (name not in NEUTRAL_PATTERNS), name


@pytest.mark.parametrize(
    "allowed", [None, frozenset({"C", "N", "O", "Cl"}), frozenset({"C", "N", "O", "Xx"})]
)
def test_element_checks_match_the_plain_loops(allowed):
    settings_ = StandardizerSettings() if allowed is None else StandardizerSettings(allowed_elements=allowed)
    fast, plain = Standardizer(settings_), ReferenceStandardizer()
    plain.settings = settings_
    texts = [
        "C[Si](C)(C)C",
        "[CH3]",
        "[CH2]C",
        "O=[Se]=O",
        "c1cc[se]c1",
        "CB(O)O",
        "C[C@H](N)O",
        "*C",
        "[Na+].[Cl-]",
    ]
    texts += smiles_sets()["chembl_drugs.csv"][:300]
    for text in texts:
        assert outcome(fast.standardize(text)) == outcome(plain.standardize(text)), text


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6))
def test_any_spelling_of_a_real_molecule_gets_the_plain_result(fast, plain, seed):
    rng = random.Random(seed)
    pool = smiles_sets()["chembl_drugs.csv"]
    mol = Chem.MolFromSmiles(pool[rng.randrange(len(pool))])
    if mol is None:
        return
    text = Chem.MolToSmiles(mol, doRandom=True, kekuleSmiles=rng.random() < 0.5)
    assert outcome(fast.standardize(text)) == outcome(plain.standardize(text))


@pytest.mark.parametrize("text", ["*C", "*c1ccccc1", "C*C"])
def test_a_dummy_atom_is_a_disallowed_element(fast, text):
    """``*`` needs no brackets, so the bracket-free text shortcut once passed it on to InChI
    (``no_identity``) instead of naming the element."""
    result = fast.standardize(text)
    assert isinstance(result, Rejected)
    assert (result.reason, result.detail) == ("disallowed_element", "contains *")
