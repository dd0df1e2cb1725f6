"""Which atoms set which fingerprint columns: the bridge from feature attributions to atoms.

For Morgan/ECFP, FCFP and atom-pair fingerprints RDKit reports every occurrence ("environment")
that set a column: a Morgan environment is a centre atom and the atoms within its radius, an atom
pair is its two atoms. Each occurrence is counted once, as the count fingerprint counts it, so a
column's count is the number of its environments. Other featurizers (RDKit descriptors, MACCS keys,
topological torsions) give no such map: their columns describe the molecule as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator

from molops.features.base import Featurizer
from molops.features.fingerprints import AtomPair, Morgan


@dataclass(frozen=True)
class Environments:
    """The occurrences that set a molecule's fingerprint columns: ``(column, atom indices)`` each."""

    n_atoms: int
    dim: int
    found: tuple[tuple[int, tuple[int, ...]], ...]

    def shares(self) -> np.ndarray:
        """(atoms × columns): the share of each column's attribution that each atom gets.

        A column's attribution is split equally over the environments that set it, and each
        environment's part equally over its atoms, so every column that is set sums to 1 over the
        atoms and every column that is not set to 0.
        """
        counts = np.bincount([column for column, _ in self.found], minlength=self.dim)
        shares = np.zeros((self.n_atoms, self.dim))
        for column, atoms in self.found:
            for atom in atoms:
                shares[atom, column] += 1.0 / (counts[column] * len(atoms))
        return shares

    def masked(self, row: np.ndarray, counts: bool) -> np.ndarray:
        """(atoms × columns): *row* with, in row i, every environment that contains atom i removed.

        Counts lose one per removed environment; a bit stays set only while some environment of
        its column without atom i remains.
        """
        rows = np.repeat(row[None, :], self.n_atoms, axis=0)
        for atom in range(self.n_atoms):
            left: dict[int, int] = {}
            removed: dict[int, int] = {}
            for column, atoms in self.found:
                target = removed if atom in atoms else left
                target[column] = target.get(column, 0) + 1
            for column, n in removed.items():
                if counts:
                    rows[atom, column] = max(int(row[column]) - n, 0)
                else:
                    rows[atom, column] = 1 if left.get(column, 0) else 0
        return rows


def mappable(featurizer: Featurizer | None) -> bool:
    """Whether *featurizer*'s columns can be traced to the atoms that set them."""
    return isinstance(featurizer, Morgan | AtomPair)


def environments(featurizer: Featurizer, mol: Chem.Mol) -> Environments:
    """Every environment of *mol* that sets a column of *featurizer* (a :func:`mappable` one), found
    with the featurizer's own RDKit generator so the columns are exactly its features'."""
    if not isinstance(featurizer, Morgan | AtomPair):
        raise TypeError(f"featurizer {featurizer.name!r} does not say which atoms set its columns")
    output = rdFingerprintGenerator.AdditionalOutput()
    output.AllocateBitInfoMap()
    featurizer.generator.GetCountFingerprintAsNumPy(mol, additionalOutput=output)
    found: list[tuple[int, tuple[int, ...]]] = []
    for column, hits in sorted(output.GetBitInfoMap().items()):
        for hit in hits:
            if isinstance(featurizer, Morgan):
                atoms = _morgan_atoms(mol, int(hit[0]), int(hit[1]))
            else:
                atoms = tuple(sorted({int(a) for a in hit}))
            found.append((int(column), atoms))
    return Environments(mol.GetNumAtoms(), featurizer.dim, tuple(found))


def _morgan_atoms(mol: Chem.Mol, centre: int, radius: int) -> tuple[int, ...]:
    """The atoms of the Morgan environment of *radius* around *centre* (the centre alone at 0)."""
    atoms = {centre}
    if radius > 0:
        for bond in Chem.FindAtomEnvironmentOfRadiusN(mol, radius, centre):
            b = mol.GetBondWithIdx(bond)
            atoms.update((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))
    return tuple(sorted(atoms))
