"""What a model bundle does to each molecule before its model sees it.

Standardise the input to its parent (with the settings the training data had), featurise the
parent, and fingerprint it for the applicability domain. The parent SMILES is parsed once for both
(it is the SMILES the training features were computed from, so serving computes exactly what
training did). A :class:`Preparation` is small and picklable and works one molecule at a time, so
a service can run it in child processes with a time budget per molecule
(:mod:`molops.compute.isolated`) while the model itself stays in the serving process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from rdkit import Chem

from molops.chem.standardize import Rejected, StandardizerSettings, StructureFormat
from molops.data.validation import standardizer
from molops.features.base import Featurizer, get_featurizer
from molops.models.reference import REFERENCE_FINGERPRINT


class PreparedMolecule(NamedTuple):
    """One input after preparation: its parent and identity, or why it cannot be predicted."""

    parent: str | None
    inchikey: str | None
    error: str | None
    features: np.ndarray | None = None  # a feature row (None for models that read SMILES)
    fingerprint: np.ndarray | None = None  # packed reference fingerprint bits


@dataclass(frozen=True)
class Prepared:
    """A batch after preparation, in input order, ready for the model."""

    parents: list[str | None]
    inchikeys: list[str | None]
    errors: list[str | None]
    #: positions of the inputs the model can predict (standardised and featurised)
    good: list[int]
    #: the model's input for ``good``: feature rows, or parent SMILES for models that read SMILES
    values: np.ndarray
    #: packed reference fingerprints for ``good`` (None when applicability was not asked for)
    fingerprints: np.ndarray | None

    @classmethod
    def of(cls, items: Sequence[PreparedMolecule], preparation: Preparation) -> Prepared:
        good = [i for i, item in enumerate(items) if item.error is None]
        if preparation.featurizer is None:
            values = np.asarray([items[i].parent for i in good], dtype=object)
        else:
            featurizer = _tools(preparation)[1]
            assert featurizer is not None
            values = np.zeros((len(good), featurizer.dim), dtype=featurizer.dtype)
            for row, i in enumerate(good):
                values[row] = items[i].features
        fingerprints = None
        if preparation.applicability:
            fingerprints = np.zeros((len(good), _REFERENCE_BYTES), dtype=np.uint8)
            for row, i in enumerate(good):
                fingerprint = items[i].fingerprint
                assert fingerprint is not None  # molecule() fingerprints every good item when asked
                fingerprints[row] = fingerprint
        return cls(
            parents=[item.parent for item in items],
            inchikeys=[item.inchikey for item in items],
            errors=[item.error for item in items],
            good=good,
            values=values,
            fingerprints=fingerprints,
        )


_REFERENCE_BYTES = get_featurizer(REFERENCE_FINGERPRINT).dim // 8


def is_missing(value: Any) -> bool:
    """None, NaN or pd.NA: how a missing cell of a table arrives (not echoed as 'nan' or '<NA>')."""
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


@dataclass(frozen=True)
class Preparation:
    """How one bundle prepares molecules: its standardiser settings, featurizer and whether the
    applicability-domain fingerprint is wanted."""

    settings: StandardizerSettings
    featurizer: str | None  # None: the model reads parent SMILES itself
    applicability: bool = True

    def molecule(self, text: Any, fmt: StructureFormat = "smiles") -> PreparedMolecule:
        """Prepare one input; every failure becomes the item's ``error``, never an exception."""
        if is_missing(text) or not str(text).strip():
            return PreparedMolecule(None, None, "empty_structure: the SMILES is empty")
        std, featurizer, reference = _tools(self)
        result = std.standardize(str(text), fmt)  # it strips a SMILES and refuses inner whitespace
        if isinstance(result, Rejected):
            return PreparedMolecule(None, None, f"{result.reason}: {result.detail}")
        parent, key = result.smiles, result.inchikey
        if featurizer is None and not self.applicability:
            return PreparedMolecule(parent, key, None)
        mol = Chem.MolFromSmiles(parent)
        if mol is None:
            return PreparedMolecule(parent, key, f"featurization_failed: cannot parse SMILES {parent[:60]!r}")
        features = None
        if featurizer is not None:
            features = np.zeros(featurizer.dim, dtype=featurizer.dtype)
            try:
                featurizer.featurize_mol(mol, features)
            except Exception as exc:  # RDKit descriptor code raises many kinds of errors
                return PreparedMolecule(parent, key, f"featurization_failed: {featurizer.name} failed: {exc}")
        fingerprint = None
        if self.applicability and features is not None and _counts_of_reference(featurizer):
            fingerprint = np.packbits(features > 0)  # the same hashing: bits are the nonzero counts
        elif self.applicability:
            bits = np.zeros(reference.dim, dtype=reference.dtype)
            try:
                reference.featurize_mol(mol, bits)
            except Exception:  # no fingerprint: similarity 0, reported as out of domain
                bits[:] = 0
            fingerprint = np.packbits(bits)
        return PreparedMolecule(parent, key, None, features, fingerprint)

    def batch(self, inputs: Sequence[Any], fmt: StructureFormat = "smiles") -> Prepared:
        """Prepare a batch in this process."""
        return Prepared.of([self.molecule(text, fmt) for text in inputs], self)


@lru_cache(maxsize=16)
def _tools(preparation: Preparation) -> tuple[Any, Featurizer | None, Featurizer]:
    """The RDKit helpers a preparation uses, built once per process (and per child process)."""
    featurizer = None if preparation.featurizer is None else get_featurizer(preparation.featurizer)
    return standardizer(preparation.settings), featurizer, get_featurizer(REFERENCE_FINGERPRINT)


@lru_cache(maxsize=16)
def _counts_of_reference(featurizer: Featurizer | None) -> bool:
    """True when *featurizer* counts exactly the substructures the reference fingerprint sets
    bits for (the default Morgan counts): the reference bits are then its nonzero entries."""
    if featurizer is None or featurizer.name != "morgan" or featurizer.kind != "counts":
        return False
    reference = get_featurizer(REFERENCE_FINGERPRINT).params.model_dump()
    return {**featurizer.params.model_dump(), "counts": False} == reference


def prepare_molecule(preparation: Preparation, fmt: StructureFormat, text: Any) -> PreparedMolecule:
    """:meth:`Preparation.molecule` as a module-level function (what child processes run)."""
    return preparation.molecule(text, fmt)
