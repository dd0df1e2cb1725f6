"""The training reference a model carries: what its training set looked like.

Serving asks "is this molecule like anything the model was trained on?" (applicability domain) and
monitoring asks "do today's molecules look like the training set?" (drift). Both need the training
set's fingerprints and a few interpretable descriptors, kept with the model so the answer never
depends on a dataset that may have changed since. The fingerprints are Morgan radius 2, 2048 bits,
whatever featurizer the model itself uses, so similarities mean the same thing for every model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from rdkit import Chem
from rdkit.Chem import Lipinski, rdMolDescriptors

from molops._types import StrPath
from molops.chem.properties import MolProperty, h_bond_acceptors, h_bond_donors, logp, mol_weight
from molops.features.base import get_featurizer

#: The fingerprint every applicability-domain and drift similarity is computed on.
REFERENCE_FINGERPRINT = "morgan:radius=2,length=2048"

#: Interpretable descriptors kept per training molecule (for drift tests and reports).
DESCRIPTORS: dict[str, MolProperty] = {
    "mol_weight": mol_weight,
    "logp": logp,
    "tpsa": rdMolDescriptors.CalcTPSA,
    "hbd": h_bond_donors,
    "hba": h_bond_acceptors,
    "rotatable_bonds": rdMolDescriptors.CalcNumRotatableBonds,
    "rings": rdMolDescriptors.CalcNumRings,
    "aromatic_rings": rdMolDescriptors.CalcNumAromaticRings,
    "heavy_atoms": Lipinski.HeavyAtomCount,
    "fraction_csp3": rdMolDescriptors.CalcFractionCSP3,
}

#: Bytes of the (queries × training molecules × words) block one similarity step may use.
_BLOCK_BYTES = 32 << 20


def fingerprints(smiles: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Packed reference fingerprints (n × 256 uint8) and a mask of the rows that parsed."""
    matrix = get_featurizer(REFERENCE_FINGERPRINT).transform(list(smiles))
    return np.packbits(matrix.values, axis=1), matrix.valid


def _words(packed: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(packed).view(np.uint64)


def bit_counts(packed: np.ndarray) -> np.ndarray:
    """The number of set bits in each packed fingerprint (a row of :func:`fingerprints`)."""
    counts: np.ndarray = np.bitwise_count(_words(packed)).sum(axis=1, dtype=np.int32)
    return counts


def max_similarity(
    query: np.ndarray,
    reference: np.ndarray,
    *,
    exclude_self: bool = False,
    reference_bits: np.ndarray | None = None,
) -> np.ndarray:
    """Each query's Tanimoto similarity to its nearest reference fingerprint (both packed bits)."""
    return nearest(query, reference, exclude_self=exclude_self, reference_bits=reference_bits)[0]


def nearest(
    query: np.ndarray,
    reference: np.ndarray,
    *,
    exclude_self: bool = False,
    reference_bits: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's nearest reference fingerprint: (Tanimoto similarity, row index; -1 if none).

    With *exclude_self* the query set is the reference set and a molecule's own row is skipped
    (its nearest *other* training molecule). Computed in blocks with NumPy's popcount, so memory
    stays bounded for any number of queries. *reference_bits* (:func:`bit_counts` of *reference*)
    saves recounting a reference that is queried again and again, as a served model's is.
    """
    q, r = _words(query), _words(reference)
    best = np.zeros(len(q))
    index = np.full(len(q), -1, dtype=np.int64)
    if len(r) == 0 or len(q) == 0:
        return best, index
    r_bits = bit_counts(reference) if reference_bits is None else reference_bits
    q_bits = bit_counts(query)
    step = max(1, _BLOCK_BYTES // max(1, r.nbytes))
    for start in range(0, len(q), step):
        block = q[start : start + step]
        common = np.bitwise_count(block[:, None, :] & r[None, :, :]).sum(axis=2, dtype=np.int32)
        union = q_bits[start : start + step, None] + r_bits[None, :] - common
        sim = np.where(union > 0, common / np.maximum(union, 1), 1.0)
        if exclude_self:
            rows = np.arange(len(block))
            sim[rows, start + rows] = -1.0
        arg = sim.argmax(axis=1)
        index[start : start + step] = arg
        best[start : start + step] = sim[np.arange(len(block)), arg]
    if exclude_self and len(r) == 1:
        index[:] = -1
    return np.clip(best, 0.0, 1.0), index


def descriptor_table(smiles: Sequence[str]) -> np.ndarray:
    """The :data:`DESCRIPTORS` of each molecule (n × d float32); NaN where RDKit fails."""
    out = np.full((len(smiles), len(DESCRIPTORS)), np.nan, dtype=np.float32)
    for i, text in enumerate(smiles):
        mol = Chem.MolFromSmiles(text) if text else None
        if mol is None:
            continue
        for j, fn in enumerate(DESCRIPTORS.values()):
            try:
                out[i, j] = float(fn(mol))
            except Exception:  # RDKit raises many kinds; a missing value is reported as NaN
                continue
    return out


def scaffold_of(smiles: str) -> str:
    """Bemis–Murcko scaffold SMILES ('' for acyclic molecules or unparsable input)."""
    from rdkit.Chem.Scaffolds import MurckoScaffold  # only the scaffold check needs it

    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None:
        return ""
    return str(MurckoScaffold.MurckoScaffoldSmiles(mol=mol))


@dataclass(frozen=True)
class TrainingReference:
    """Fingerprints, descriptors, scaffolds and targets of the molecules a model was fitted on."""

    inchikeys: np.ndarray
    smiles: np.ndarray
    y: np.ndarray
    fingerprints: np.ndarray  # packed bits, n × 256
    descriptors: np.ndarray  # n × len(DESCRIPTORS)
    scaffolds: np.ndarray
    neighbour_similarity: np.ndarray  # each training molecule's nearest other training molecule
    domain_threshold: float
    domain_quantile: float

    @classmethod
    def build(
        cls,
        inchikeys: Sequence[str],
        smiles: Sequence[str],
        y: Sequence[float],
        domain_quantile: float = 0.05,
    ) -> TrainingReference:
        """The reference of a training set; the domain threshold is a quantile of its own
        nearest-neighbour similarities (so it adapts to how diverse the training set is)."""
        smiles = [str(s) for s in smiles]
        fps, _ = fingerprints(smiles)
        nn = max_similarity(fps, fps, exclude_self=True) if len(fps) > 1 else np.ones(len(fps))
        return cls(
            inchikeys=np.asarray(inchikeys, dtype=str),
            smiles=np.asarray(smiles, dtype=str),
            y=np.asarray(y, dtype=np.float64),
            fingerprints=fps,
            descriptors=descriptor_table(smiles),
            scaffolds=np.asarray([scaffold_of(s) for s in smiles], dtype=str),
            neighbour_similarity=nn,
            domain_threshold=float(np.quantile(nn, domain_quantile)) if len(nn) else 0.0,
            domain_quantile=domain_quantile,
        )

    def __len__(self) -> int:
        return len(self.inchikeys)

    @cached_property
    def _fingerprint_bits(self) -> np.ndarray:
        return bit_counts(self.fingerprints)

    def similarity(self, packed: np.ndarray) -> np.ndarray:
        """Nearest-neighbour similarity of packed query fingerprints to the training set."""
        return max_similarity(packed, self.fingerprints, reference_bits=self._fingerprint_bits)

    def save(self, path: StrPath) -> Path:
        path = Path(path)
        np.savez_compressed(
            path,
            inchikeys=self.inchikeys,
            smiles=self.smiles,
            y=self.y,
            fingerprints=self.fingerprints,
            descriptors=self.descriptors,
            descriptor_names=np.asarray(list(DESCRIPTORS), dtype=str),
            scaffolds=self.scaffolds,
            neighbour_similarity=self.neighbour_similarity,
            domain=np.asarray([self.domain_threshold, self.domain_quantile]),
        )
        return path

    @classmethod
    def load(cls, path: StrPath) -> TrainingReference:
        with np.load(Path(path), allow_pickle=False) as data:
            threshold, quantile = (float(v) for v in data["domain"])
            return cls(
                inchikeys=data["inchikeys"],
                smiles=data["smiles"],
                y=data["y"],
                fingerprints=data["fingerprints"],
                descriptors=data["descriptors"],
                scaffolds=data["scaffolds"],
                neighbour_similarity=data["neighbour_similarity"],
                domain_threshold=threshold,
                domain_quantile=quantile,
            )
