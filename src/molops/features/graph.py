"""The graph featurizer: SMILES → molecular graphs for graph neural networks (chemprop's).

A graph is not a fixed-width vector: it holds a row of atom features per atom, a row of bond
features per directed bond, and the edge index. Graphs are the D-MPNN's inputs (its data loader
builds them with this featurizer), built where a model loads its data, batch by batch, and never
stored in the feature cache: building one costs about what reading it back would. ``features
build --dataset D --featurizer graph`` checks that every molecule has a graph and reports those
that do not; for a pool it standardises the file (its identity table), since the pool's graphs
are built when it is scored. Needs the ``gnn`` extra (chemprop); without it the featurizer is
listed, and building a graph says what to install.

:func:`batch_graphs` builds a batch of graphs with RDKit and numpy alone, equal to chemprop's
featuriser with its defaults: the D-MPNN's prediction loader and the ONNX runtime (which has
neither torch nor chemprop) both use it. It lives here, below both, because it is this
featurizer's graphs built faster, not a model's concern.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from rdkit import Chem
from rdkit.Chem.rdchem import Atom, Bond, BondType, HybridizationType

from molops.features.base import (
    FEATURIZERS,
    GRAPH,
    FeatureKind,
    FeatureMatrix,
    Featurizer,
    InvalidSpecError,
)


def chemprop_version() -> str | None:
    """The installed chemprop's version, or None (the ``gnn`` extra is not installed)."""
    try:
        return importlib.metadata.version("chemprop")
    except importlib.metadata.PackageNotFoundError:
        return None


@FEATURIZERS.register(GRAPH)
class GraphFeaturizer(Featurizer):
    """Molecular graphs for graph models (chemprop v2); dim is an atom's feature width."""

    name: ClassVar[str] = GRAPH
    kind: ClassVar[FeatureKind] = "graph"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._featurizer: Any = None

    def chemprop_featurizer(self) -> Any:
        """chemprop's molecule featurizer, for chemprop's own datasets (imported on first use: torch
        is heavy)."""
        if self._featurizer is None:
            if chemprop_version() is None:
                raise InvalidSpecError(
                    "featurizer 'graph' needs chemprop, which is not installed; "
                    "install the gnn extra: pip install 'molops[gnn]'"
                )
            from chemprop.featurizers import SimpleMoleculeMolGraphFeaturizer

            self._featurizer = SimpleMoleculeMolGraphFeaturizer()
        return self._featurizer

    @property
    def dim(self) -> int:
        """Width of an atom's feature vector (a bond's is ``bond_dim``)."""
        return int(self.chemprop_featurizer().atom_fdim)

    @property
    def bond_dim(self) -> int:
        return int(self.chemprop_featurizer().bond_fdim)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(object)

    def library_versions(self) -> dict[str, str]:
        return super().library_versions() | {"chemprop": chemprop_version() or "not installed"}

    def graph(self, mol: Chem.Mol) -> Any:
        """The graph (chemprop ``MolGraph``: ``V``, ``E``, ``edge_index``, ``rev_edge_index``) of a
        sanitised molecule."""
        return self.chemprop_featurizer()(mol)

    def featurize_mol(self, mol: Chem.Mol, out: np.ndarray) -> None:
        raise TypeError("featurizer 'graph' makes graphs, not feature vectors; use graph(mol) or transform()")

    def transform(self, smiles: Any) -> FeatureMatrix:
        """One graph per SMILES (an object array); an unparsable SMILES gives an error for its row."""
        values = np.empty(len(smiles), dtype=object)
        errors: dict[int, str] = {}
        for i, text in enumerate(smiles):
            mol = Chem.MolFromSmiles(text) if text else None
            if mol is None or mol.GetNumAtoms() == 0:
                errors[i] = f"cannot parse SMILES {text[:60]!r}" if text else "empty SMILES"
                continue
            try:
                values[i] = self.graph(mol)
            except InvalidSpecError:
                raise
            except Exception as exc:  # chemprop's featurizer on an unusual molecule
                errors[i] = f"graph failed: {exc}"
        return FeatureMatrix(values, errors)


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
ATOM_DIM = sum(len(group) + 1 for group in _ATOM_GROUPS) + 2
#: chemprop's default bond choices: null?, 4 bond types, conjugated?, in ring?, 6 stereos + other
BOND_TYPES = (BondType.SINGLE, BondType.DOUBLE, BondType.TRIPLE, BondType.AROMATIC)
STEREOS = tuple(range(6))
BOND_DIM = 1 + len(BOND_TYPES) + 2 + len(STEREOS) + 1
_CONJUGATED_AT = 1 + len(BOND_TYPES)
_STEREO_AT = _CONJUGATED_AT + 2
#: what the ONNX export calls this featurisation (an exported graph's metadata)
NAME = "chemprop-v2-multihot"
#: the graph inputs of an exported D-MPNN, in order
GRAPH_INPUTS = ("V", "E", "edge_index", "rev_edge_index", "batch", "atoms")


def _lookup(choices: Sequence[int], size: int) -> np.ndarray:
    """Column within its group of each raw RDKit value 0..size-1 (the "other" slot if unlisted)."""
    table = np.full(size, len(choices), dtype=np.int64)
    table[[int(c) for c in choices]] = np.arange(len(choices))
    return table


_STARTS = np.cumsum([0] + [len(group) + 1 for group in _ATOM_GROUPS])
#: atomic number (0..255) → its column in V
_Z_COLUMN = _lookup(ATOMIC_NUMS, 256) + _STARTS[0]
#: formal charge + 8 (clipped to 0..16) → its column
_CHARGE_COLUMN = _lookup([c + 8 for c in FORMAL_CHARGES], 17) + _STARTS[2]
#: hybridisation (0..15) → its column
_HYBRID_COLUMN = _lookup([int(h) for h in HYBRIDISATIONS], 16) + _STARTS[5]
#: bond type (0..63) → its column in a bond's row: an unknown type sets slot 5 (see batch_graphs)
_BOND_TYPE_COLUMN = _lookup([int(t) for t in BOND_TYPES], 64) + 1


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


#: the RDKit properties read for every atom and bond (a total degree is counted, not read)
_ATOM_GETTERS: tuple[Callable[[Atom], Any], ...] = (
    Atom.GetAtomicNum,
    Atom.GetFormalCharge,
    Atom.GetChiralTag,
    Atom.GetTotalNumHs,
    Atom.GetHybridization,
    Atom.GetIsAromatic,
)
_BOND_GETTERS: tuple[Callable[[Bond], Any], ...] = (
    Bond.GetBeginAtomIdx,
    Bond.GetEndAtomIdx,
    Bond.GetBondType,
    Bond.GetStereo,
    Bond.GetIsConjugated,
    Bond.IsInRing,
)


def batch_graphs(mols: Sequence[Chem.Mol]) -> GraphBatch:
    """The graphs of *mols* (sanitised RDKit molecules, at least one atom each), batched: exactly
    chemprop's ``SimpleMoleculeMolGraphFeaturizer`` then ``BatchMolGraph``.

    Each RDKit property is read with one ``map`` per molecule into a flat list of ints for the
    batch, then turned into columns by lookup tables and set with one flat ``np.put``: what is left
    per atom and bond is RDKit's own Python calls. A molecule's atoms and bonds are dropped before
    the next one's are made, so the garbage collector never walks a batch's worth of them (holding
    them all costs twice the time). An atom's total degree is its bonds, counted from the bond
    list, plus its hydrogens, as RDKit defines it. A bond of a type chemprop does not know (dative,
    say) sets its slot 5, which the conjugation flag then overwrites: reproduced as is, since the
    trained network saw exactly that.
    """
    atom_values: list[list[Any]] = [[] for _ in _ATOM_GETTERS]
    bond_values: list[list[Any]] = [[] for _ in _BOND_GETTERS]
    masses: list[float] = []
    n_atoms = np.empty(len(mols), dtype=np.int64)
    n_bonds = np.empty(len(mols), dtype=np.int64)
    for i, mol in enumerate(mols):
        n_atoms[i], n_bonds[i] = atom_count, bond_count = mol.GetNumAtoms(), mol.GetNumBonds()
        atoms = list(map(mol.GetAtomWithIdx, range(atom_count)))
        for values, getter in zip(atom_values, _ATOM_GETTERS, strict=True):
            values += map(getter, atoms)
        masses += map(Atom.GetMass, atoms)
        bonds = list(map(mol.GetBondWithIdx, range(bond_count)))
        for values, getter in zip(bond_values, _BOND_GETTERS, strict=True):
            values += map(getter, bonds)
    z, charge, chiral, hs, hybrid, aromatic = (np.array(v, dtype=np.int64) for v in atom_values)
    begin, end, kind, stereo, conjugated, ring = (np.array(v, dtype=np.int64) for v in bond_values)
    total, n_bond = len(z), len(begin)
    # bond ends, offset by the atoms of the molecules before
    atom_offset = np.repeat(np.cumsum(n_atoms) - n_atoms, n_bonds)
    begin += atom_offset
    end += atom_offset
    degree = np.bincount(begin, minlength=total) + np.bincount(end, minlength=total) + hs
    columns = np.empty((total, len(_ATOM_GROUPS)), dtype=np.int64)
    columns[:, 0] = _Z_COLUMN[z]
    columns[:, 1] = np.minimum(degree, len(DEGREES)) + _STARTS[1]
    columns[:, 2] = _CHARGE_COLUMN[np.clip(charge + 8, 0, 16)]
    columns[:, 3] = np.minimum(chiral, len(CHIRAL_TAGS)) + _STARTS[3]
    columns[:, 4] = np.minimum(hs, len(NUM_HS)) + _STARTS[4]
    columns[:, 5] = _HYBRID_COLUMN[np.minimum(hybrid, 15)]
    V = np.zeros((total, ATOM_DIM), dtype=np.float32)
    np.put(V, columns + (np.arange(total) * ATOM_DIM)[:, None], 1)
    V[:, ATOM_DIM - 2] = aromatic
    V[:, ATOM_DIM - 1] = 0.01 * np.array(masses, dtype=np.float64)  # float64 product, then float32

    B = np.zeros((n_bond, BOND_DIM), dtype=np.float32)
    rows = np.arange(n_bond) * BOND_DIM
    kinds = np.minimum(kind, 63)
    np.put(B, rows + _BOND_TYPE_COLUMN[kinds], 1)  # slot 5 for an unknown type, overwritten next
    B[:, _CONJUGATED_AT] = conjugated
    B[:, _CONJUGATED_AT + 1] = ring
    np.put(B, rows + _STEREO_AT + np.minimum(stereo, len(STEREOS)), 1)
    E = np.repeat(B, 2, axis=0)  # each bond as u→v then v→u
    edge_index = np.empty((2, 2 * n_bond), dtype=np.int64)
    edge_index[0, 0::2], edge_index[0, 1::2] = begin, end
    edge_index[1, 0::2], edge_index[1, 1::2] = end, begin
    # edges come in pairs, each the other's reverse (offsets across molecules included)
    rev_edge_index = np.arange(2 * n_bond, dtype=np.int64).reshape(-1, 2)[:, ::-1].ravel()
    batch = np.repeat(np.arange(len(mols), dtype=np.int64), n_atoms)
    return GraphBatch(V, E, edge_index, rev_edge_index, batch, n_atoms.astype(np.float32))


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
