"""The featurizer interface, its parameterised specs and their stable hashes.

A featurizer is named by a SPEC such as ``morgan`` or ``morgan:radius=3,length=1024``. The spec is
parsed into a featurizer instance whose parameters are validated (pydantic), and whose *hash*
covers the name, every parameter (defaults included) and the versions of the libraries that
change its output, so a cache entry can never be served for a different computation.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, cast

import numpy as np
import rdkit
from pydantic import BaseModel, ConfigDict
from rdkit import Chem, rdBase
from typing_extensions import TypeVar  # TypeVar defaults (PEP 696) need Python 3.13's typing

from molops.chem.standardize import STANDARDIZER_VERSION
from molops.errors import MolopsError
from molops.registry import Registry, build_params

rdBase.DisableLog("rdApp.*")

FeatureKind = Literal["bits", "counts", "dense", "graph"]


class FeaturizerParams(BaseModel):
    """Base of every featurizer's parameters: unknown parameters are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


#: Covariant: parameters are frozen, so a model of a subclass's parameters is one of the base's; the
#: default makes a bare ``Featurizer`` mean "any parameters".
ParamsT = TypeVar("ParamsT", bound=FeaturizerParams, covariant=True, default=FeaturizerParams)


class InvalidSpecError(MolopsError):
    """A featurizer SPEC names an unknown featurizer or an invalid parameter."""

    exit_code = 2


@dataclass(slots=True)
class FeatureMatrix:
    """Features of a batch: one row per input, and the reason for every row that failed.

    Failed rows are zero in ``values`` and listed in ``errors``; ``valid`` says which are which,
    so a failure can never pass for a molecule without features.
    """

    values: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def valid(self) -> np.ndarray:
        mask = np.ones(len(self.values), dtype=bool)
        mask[list(self.errors)] = False
        return mask

    def __len__(self) -> int:
        return len(self.values)

    def sparse(self) -> Any:
        """The values as a SciPy CSR matrix (fingerprints are mostly zeros)."""
        from scipy import sparse

        return sparse.csr_matrix(self.values)


class Featurizer(ABC, Generic[ParamsT]):
    """SMILES (or RDKit molecules) → a fixed-width numeric vector per molecule.

    Generic in its parameters' class, so a featurizer reads ``self.params.radius`` with its own type.
    """

    name: ClassVar[str]
    Params: ClassVar[type[FeaturizerParams]] = FeaturizerParams
    #: bits: 0/1 (stored packed); counts: non-negative integers; dense: real numbers; graph: one
    #: molecular graph per molecule (``features/graph.py``; never cached).
    kind: ClassVar[FeatureKind]

    def __init__(self, **params: Any) -> None:
        # Params is ParamsT's class at run time; a ClassVar cannot name a type variable, hence the cast.
        self.params: ParamsT = cast(
            ParamsT, build_params(self.Params, "featurizer", self.name, params, InvalidSpecError)
        )

    # -- identity ------------------------------------------------------------------------------
    @property
    @abstractmethod
    def dim(self) -> int:
        """Width of a feature vector."""

    @property
    def dtype(self) -> np.dtype:
        return np.dtype({"bits": np.uint8, "counts": np.uint16, "dense": np.float32}[self.kind])

    def library_versions(self) -> dict[str, str]:
        """Versions of the libraries whose changes would change this featurizer's output."""
        return {"rdkit": rdkit.__version__}

    @property
    def spec(self) -> str:
        """Canonical spec: the name and every parameter, sorted."""
        params = self.params.model_dump()
        if not params:
            return self.name
        return self.name + ":" + ",".join(f"{k}={_fmt(v)}" for k, v in sorted(params.items()))

    @property
    def cache_name(self) -> str:
        """The folder of this featurizer's cache: its hash and the standardiser version. The cache is
        keyed by InChIKey, and which molecule a key names is the standardiser's rule: when a rule
        changes (version 4 read E/Z from SMILES), a vector cached under a key may be another
        molecule's. The features of a molecule do not change, so models keep their hash."""
        return f"{self.hash}-s{STANDARDIZER_VERSION}"

    @property
    def hash(self) -> str:
        payload = {
            "name": self.name,
            "params": self.params.model_dump(),
            "kind": self.kind,
            "versions": self.library_versions(),
            "format": 1,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "hash": self.hash,
            "kind": self.kind,
            "dim": self.dim,
            "dtype": str(self.dtype),
            "versions": self.library_versions(),
        }

    # -- computing -----------------------------------------------------------------------------
    @abstractmethod
    def featurize_mol(self, mol: Chem.Mol, out: np.ndarray) -> None:
        """Write the features of one sanitised molecule into the row *out*."""

    def transform(self, smiles: Sequence[str]) -> FeatureMatrix:
        """Features of a batch of SMILES; an unparsable SMILES gives an error for its row."""
        values = np.zeros((len(smiles), self.dim), dtype=self.dtype)
        errors: dict[int, str] = {}
        for i, text in enumerate(smiles):
            mol = Chem.MolFromSmiles(text) if text else None
            if mol is None:
                errors[i] = f"cannot parse SMILES {text[:60]!r}" if text else "empty SMILES"
                continue
            self._featurize_row(mol, values, i, errors)
        return FeatureMatrix(values, errors)

    @property
    def accepts_parent_mol(self) -> bool:
        """Whether features of the standardiser's parent molecule are bit-identical to those of
        its canonical SMILES parsed again, so a pool build may skip that parse. False unless a
        featurizer shows it: float descriptors sum in atom order, and even the topological-torsion
        fingerprint differs with atom order on small rings."""
        return False

    def transform_mols(self, mols: Sequence[Chem.Mol]) -> FeatureMatrix:
        """Features of already parsed, sanitised molecules (the same as :meth:`transform` of their
        canonical SMILES only for featurizers that :attr:`accepts_parent_mol`)."""
        values = np.zeros((len(mols), self.dim), dtype=self.dtype)
        errors: dict[int, str] = {}
        for i, mol in enumerate(mols):
            self._featurize_row(mol, values, i, errors)
        return FeatureMatrix(values, errors)

    def _featurize_row(self, mol: Chem.Mol, values: np.ndarray, i: int, errors: dict[int, str]) -> None:
        try:
            self.featurize_mol(mol, values[i])
        except Exception as exc:  # RDKit descriptor code raises many kinds of errors
            values[i] = 0
            errors[i] = f"{self.name} failed: {exc}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec}>"


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


FEATURIZERS: Registry[type[Featurizer]] = Registry("featurizer")

#: The pseudo-featurizer of models that take SMILES and build their own graph features (the D-MPNN).
GRAPH = "graph"


def _coerce(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text.strip()


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``name:key=value,key=value`` → (name, params)."""
    name, _, rest = spec.strip().partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise InvalidSpecError(f"featurizer spec {spec!r}: expected key=value, got {item!r}")
        params[key.strip()] = _coerce(value)
    return name.strip(), params


def get_featurizer(spec: str) -> Featurizer:
    """The featurizer a SPEC names, e.g. ``morgan`` or ``morgan:radius=3,length=1024``."""
    name, params = parse_spec(spec)
    if name not in FEATURIZERS:
        raise InvalidSpecError(f"unknown featurizer {name!r}; expected one of: {', '.join(FEATURIZERS)}")
    return FEATURIZERS.get(name)(**params)
