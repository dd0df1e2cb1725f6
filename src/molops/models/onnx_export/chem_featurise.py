"""Molecular graphs for an exported D-MPNN, from RDKit and numpy alone (no torch, no chemprop).

It reproduces chemprop 2's ``SimpleMoleculeMolGraphFeaturizer`` with its defaults, the featuriser the
D-MPNN trains on (:class:`molops.features.graph.GraphFeaturizer`): ``MultiHotAtomFeaturizer.v2``
atoms (72 features) and ``MultiHotBondFeaturizer`` bonds (14), each bond as two directed edges in
bond order, and chemprop's batching (atom and edge offsets, one batch index per atom). A test checks
equality with chemprop's output on real molecules; :func:`matches_chemprop` lets an export refuse a
featuriser configured otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from rdkit import Chem
from rdkit.Chem.rdchem import BondType, HybridizationType

#: chemprop's v2 atom choices; every group but the last two (aromatic, mass) has an "other" slot
ATOMIC_NUMS = (*range(1, 37), 53)
DEGREES = tuple(range(6))
FORMAL_CHARGES = (-1, -2, 1, 2, 0)
CHIRAL_TAGS = tuple(range(4))
NUM_HS = tuple(range(5))
HYBRIDISATIONS = (
    HybridizationType.S,
    HybridizationType.SP,
    HybridizationType.SP2,
    HybridizationType.SP2D,
    HybridizationType.SP3,
    HybridizationType.SP3D,
    HybridizationType.SP3D2,
)
_ATOM_GROUPS = (ATOMIC_NUMS, DEGREES, FORMAL_CHARGES, CHIRAL_TAGS, NUM_HS, HYBRIDISATIONS)
_ATOM_LOOKUPS = tuple({value: i for i, value in enumerate(group)} for group in _ATOM_GROUPS)
ATOM_DIM = sum(len(group) + 1 for group in _ATOM_GROUPS) + 2
#: chemprop's default bond choices: null?, 4 bond types, conjugated?, in ring?, 6 stereos + other
BOND_TYPES = (BondType.SINGLE, BondType.DOUBLE, BondType.TRIPLE, BondType.AROMATIC)
STEREOS = tuple(range(6))
BOND_DIM = 1 + len(BOND_TYPES) + 2 + len(STEREOS) + 1
_CONJUGATED_AT = 1 + len(BOND_TYPES)
_STEREO_AT = _CONJUGATED_AT + 2
#: what :func:`matches_chemprop` and an exported graph's metadata call this featurisation
NAME = "chemprop-v2-multihot"


@dataclass(frozen=True)
class GraphBatch:
    """Molecular graphs batched as chemprop's ``BatchMolGraph``: the inputs of an exported D-MPNN."""

    V: np.ndarray  # (n_atoms, 72) float32
    E: np.ndarray  # (n_edges, 14) float32, two directed edges per bond
    edge_index: np.ndarray  # (2, n_edges) int64: source and target atom of each edge
    rev_edge_index: np.ndarray  # (n_edges,) int64: the edge in the opposite direction
    batch: np.ndarray  # (n_atoms,) int64: the molecule of each atom
    atoms: np.ndarray  # (n_mols,) float32: atoms per molecule (the mean pooling's divisor)

    def feeds(self) -> dict[str, np.ndarray]:
        """The batch as an exported graph's named inputs."""
        return {name: getattr(self, name) for name in GRAPH_INPUTS}


#: the graph inputs of an exported D-MPNN, in order
GRAPH_INPUTS = ("V", "E", "edge_index", "rev_edge_index", "batch", "atoms")


def batch_graphs(mols: Sequence[Chem.Mol]) -> GraphBatch:
    """The graphs of *mols* (sanitised RDKit molecules, at least one atom each), batched.

    Features are set by index for the whole batch at once rather than a vector per atom. A bond of
    a type chemprop does not know (dative, say) sets its slot 5, which the conjugation flag then
    overwrites: reproduced as is, since the trained network saw exactly that.
    """
    atom_hot: list[int] = []  # six one-hot columns per atom
    aromatic: list[int] = []
    mass: list[float] = []
    bond_hot: list[int] = []  # bond type, conjugated?, in ring?, stereo: four columns per bond
    edges: list[int] = []  # begin and end atom of each bond
    n_atoms: list[int] = []
    offset = 0
    for mol in mols:
        for atom in mol.GetAtoms():
            values = (
                atom.GetAtomicNum(),
                atom.GetTotalDegree(),
                atom.GetFormalCharge(),
                int(atom.GetChiralTag()),
                int(atom.GetTotalNumHs()),
                atom.GetHybridization(),
            )
            at = 0
            for value, lookup in zip(values, _ATOM_LOOKUPS, strict=True):
                atom_hot.append(at + lookup.get(value, len(lookup)))
                at += len(lookup) + 1
            aromatic.append(int(atom.GetIsAromatic()))
            mass.append(0.01 * atom.GetMass())
        for bond in mol.GetBonds():
            kind, stereo = bond.GetBondType(), int(bond.GetStereo())
            type_bit = 1 + (BOND_TYPES.index(kind) if kind in BOND_TYPES else len(BOND_TYPES))
            stereo_bit = _STEREO_AT + (STEREOS.index(stereo) if stereo in STEREOS else len(STEREOS))
            bond_hot += (type_bit, int(bond.GetIsConjugated()), int(bond.IsInRing()), stereo_bit)
            edges += (offset + bond.GetBeginAtomIdx(), offset + bond.GetEndAtomIdx())
        n_atoms.append(mol.GetNumAtoms())
        offset += n_atoms[-1]
    V = np.zeros((offset, ATOM_DIM), dtype=np.float32)
    V[np.repeat(np.arange(offset), len(_ATOM_LOOKUPS)), atom_hot] = 1
    V[:, ATOM_DIM - 2] = aromatic
    V[:, ATOM_DIM - 1] = np.asarray(mass, dtype=np.float64)  # float64 product, then float32 as chemprop
    n_bonds = len(edges) // 2
    flags = np.asarray(bond_hot, dtype=np.int64).reshape(n_bonds, 4)
    B = np.zeros((n_bonds, BOND_DIM), dtype=np.float32)
    rows = np.arange(n_bonds)
    B[rows, flags[:, 0]] = 1  # an unknown type sets slot 5, overwritten next as chemprop does
    B[:, _CONJUGATED_AT] = flags[:, 1]
    B[:, _CONJUGATED_AT + 1] = flags[:, 2]
    B[rows, flags[:, 3]] = 1
    E = np.repeat(B, 2, axis=0)  # each bond as u→v then v→u
    ends = np.asarray(edges, dtype=np.int64).reshape(n_bonds, 2)
    edge_index = np.stack([ends.ravel(), ends[:, ::-1].ravel()])
    # edges come in pairs, each the other's reverse (offsets across molecules included)
    rev_edge_index = np.arange(len(E), dtype=np.int64).reshape(-1, 2)[:, ::-1].ravel()
    counts = np.asarray(n_atoms, dtype=np.int64)
    batch = np.repeat(np.arange(len(mols), dtype=np.int64), counts)
    return GraphBatch(V, E, edge_index, rev_edge_index, batch, counts.astype(np.float32))


def matches_chemprop(featurizer: Any) -> str | None:
    """None when chemprop's molecule *featurizer* computes what :func:`batch_graphs` does; else why
    not, in a phrase naming it."""
    from chemprop.featurizers import MultiHotAtomFeaturizer, MultiHotBondFeaturizer
    from chemprop.featurizers.molgraph.molecule import SimpleMoleculeMolGraphFeaturizer

    name = type(featurizer).__name__
    if type(featurizer) is not SimpleMoleculeMolGraphFeaturizer:
        return f"its graph featuriser is chemprop's {name}, not SimpleMoleculeMolGraphFeaturizer"
    atoms, bonds = featurizer.atom_featurizer, featurizer.bond_featurizer
    reference = MultiHotAtomFeaturizer.v2()
    if type(atoms) is not MultiHotAtomFeaturizer or atoms._subfeats != reference._subfeats:
        return f"its atom featuriser ({type(atoms).__name__}) is not chemprop's MultiHotAtomFeaturizer.v2"
    if (
        type(bonds) is not MultiHotBondFeaturizer
        or list(bonds.bond_types) != list(BOND_TYPES)
        or list(bonds.stereo) != list(STEREOS)
    ):
        return (
            f"its bond featuriser ({type(bonds).__name__}) is not chemprop's default MultiHotBondFeaturizer"
        )
    if featurizer.shape != (ATOM_DIM, BOND_DIM):
        return f"its graphs have {featurizer.shape} atom and bond features, not ({ATOM_DIM}, {BOND_DIM})"
    return None
