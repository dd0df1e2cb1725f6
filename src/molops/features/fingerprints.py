"""Hashed fingerprints from RDKit's fingerprint generators: Morgan/ECFP, FCFP, atom pairs,
topological torsions, and MACCS keys."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import numpy as np
from pydantic import Field
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator as fpgen
from rdkit.Chem import rdMolDescriptors

from molops.features.base import FEATURIZERS, FeatureKind, Featurizer, FeaturizerParams

_COUNT_MAX = np.iinfo(np.uint16).max


class HashedParams(FeaturizerParams):
    length: int = Field(2048, ge=8, le=1 << 20, description="vector length (bits or counters)")
    counts: bool = Field(False, description="count occurrences instead of setting bits")


class MorganParams(HashedParams):
    radius: int = Field(2, ge=0, le=8)
    chirality: bool = False


HashedT = TypeVar("HashedT", bound=HashedParams)


class _Generated(Featurizer[HashedT]):
    """A featurizer backed by an RDKit fingerprint generator (built lazily, not pickled)."""

    Params: ClassVar[type[FeaturizerParams]] = HashedParams
    _generator: Any = None

    # The base declares kind a class constant; a hashed fingerprint's depends on its ``counts``.
    @property
    def kind(self) -> FeatureKind:  # type: ignore[override]  # a property where the base has a ClassVar
        return "counts" if self.params.counts else "bits"

    @property
    def dim(self) -> int:
        return int(self.params.length)

    def _make_generator(self) -> Any:
        raise TypeError  # overridden by every concrete class

    @property
    def generator(self) -> Any:
        if self._generator is None:
            self._generator = self._make_generator()
        return self._generator

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_generator", None)
        return state

    def featurize_mol(self, mol: Chem.Mol, out: np.ndarray) -> None:
        if self.params.counts:
            np.minimum(self.generator.GetCountFingerprintAsNumPy(mol), _COUNT_MAX, out=out, casting="unsafe")
        else:
            out[:] = self.generator.GetFingerprintAsNumPy(mol)


@FEATURIZERS.register("morgan")
class Morgan(_Generated[MorganParams]):
    """Extended-connectivity fingerprint (ECFP) of the given radius (ECFP4 = radius 2)."""

    name = "morgan"
    Params = MorganParams

    def _atom_invariants(self) -> Any:
        return None  # RDKit's default: ECFP connectivity invariants

    @property
    def accepts_parent_mol(self) -> bool:
        # ECFP/FCFP bits come from atom invariants hashed over sorted neighbourhoods, which do not
        # depend on atom order (tests/unit/features/test_parent_mol.py checks real sets); with
        # chirality they depend on how stereo was perceived, which a fresh parse of the canonical
        # SMILES does differently for some double bonds (ChEMBL molecules)
        return not self.params.chirality

    def _make_generator(self) -> Any:
        p = self.params
        return fpgen.GetMorganGenerator(
            radius=p.radius,
            fpSize=p.length,
            includeChirality=p.chirality,
            atomInvariantsGenerator=self._atom_invariants(),
        )


@FEATURIZERS.register("fcfp")
class FeatureMorgan(Morgan):
    """Functional-class Morgan fingerprint (FCFP): atoms typed by pharmacophoric role."""

    name = "fcfp"

    def _atom_invariants(self) -> Any:
        return fpgen.GetMorganFeatureAtomInvGen()


class AtomPairParams(HashedParams):
    min_distance: int = Field(1, ge=1)
    max_distance: int = Field(30, ge=1)


@FEATURIZERS.register("atompair")
class AtomPair(_Generated[AtomPairParams]):
    """Hashed atom-pair fingerprint (atom types and their topological distance)."""

    name = "atompair"
    Params = AtomPairParams

    def _make_generator(self) -> Any:
        p = self.params
        return fpgen.GetAtomPairGenerator(
            minDistance=p.min_distance,
            maxDistance=p.max_distance,
            fpSize=p.length,
        )


class TorsionParams(HashedParams):
    torsion_atoms: int = Field(4, ge=2, le=8)


@FEATURIZERS.register("torsion")
class TopologicalTorsion(_Generated[TorsionParams]):
    """Hashed topological-torsion fingerprint (paths of four bonded atoms by default)."""

    name = "torsion"
    Params = TorsionParams

    def _make_generator(self) -> Any:
        p = self.params
        return fpgen.GetTopologicalTorsionGenerator(
            torsionAtomCount=p.torsion_atoms,
            fpSize=p.length,
        )


@FEATURIZERS.register("maccs")
class Maccs(Featurizer[FeaturizerParams]):
    """The 166 MACCS structural keys (167 bits; bit 0 is unused by definition)."""

    name = "maccs"
    kind = "bits"

    @property
    def dim(self) -> int:
        return 167

    def featurize_mol(self, mol: Chem.Mol, out: np.ndarray) -> None:
        DataStructs.ConvertToNumpyArray(rdMolDescriptors.GetMACCSKeysFingerprint(mol), out)
