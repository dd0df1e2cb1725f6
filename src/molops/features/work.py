"""The functions a feature build runs in its worker processes, in a module of their own.

A worker imports this module, not :mod:`molops.features.build`: the build's reading, cache and
identity-table code pulls in pyarrow and pandas (≈ 0.5 CPU-seconds of imports), which a worker,
started once per build from the fork server, never uses. Only RDKit, the standardiser and the
featurizers are imported here.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from molops.chem.standardize import Rejected, Standardized, StandardizerSettings, StructureFormat
from molops.data.validation import standardizer
from molops.features.base import GRAPH, Featurizer, get_featurizer


@lru_cache(maxsize=16)
def _featurizer(spec: str) -> Featurizer:
    return get_featurizer(spec)


def featurize_smiles(spec: str, smiles: list[str]) -> tuple[np.ndarray, dict[int, str]]:
    """Worker: features of *smiles* in cache storage form (bits packed), with per-row errors."""
    featurizer = _featurizer(spec)
    matrix = featurizer.transform(smiles)
    data = np.packbits(matrix.values, axis=1) if featurizer.kind == "bits" else matrix.values
    return data, matrix.errors


def graph_errors(smiles: list[str]) -> dict[int, str]:
    """Worker: the rows of *smiles* that have no molecular graph, with the reason."""
    return _featurizer(GRAPH).transform(smiles).errors


def identify_and_featurize(
    spec: str | None,
    settings: StandardizerSettings,
    structures: list[str | None],
    read_errors: dict[int, tuple[str, str]],
    fmt: StructureFormat,
) -> dict[str, Any]:
    """Worker: standardise pool rows (identity) and featurize the parents in one pass (*spec*
    None: the identity only).

    A featurizer that accepts the parent molecules the standardiser made (fingerprints) takes
    them; others parse the parent SMILES again, as the dataset path does, so a molecule gets the
    same features whichever path computed them.
    """
    std = standardizer(settings)
    featurizer = None if spec is None else _featurizer(spec)
    reuse = featurizer is not None and featurizer.accepts_parent_mol
    keys: list[str | None] = []
    smiles: list[str | None] = []
    errors: list[str | None] = []
    mols: list[Any] = []
    for pos, text in enumerate(structures):
        if pos in read_errors:
            result: tuple[Standardized, Any] | Rejected = Rejected(*read_errors[pos])
        elif text is None:
            result = Rejected("empty_structure", "the structure field is empty")
        else:
            result = std.standardize_with_parent(text, fmt)
        if isinstance(result, Rejected):
            keys.append(None)
            smiles.append(None)
            errors.append(f"{result.reason}: {result.detail}")
        else:
            keys.append(result[0].inchikey)
            smiles.append(result[0].smiles)
            errors.append(None)
            if reuse:
                mols.append(result[1])
    valid = [i for i, k in enumerate(keys) if k is not None]
    feat_errors: dict[int, str] = {}
    data: np.ndarray
    if featurizer is None:
        data = np.zeros((len(valid), 0), dtype=np.float32)
    elif reuse:
        matrix = featurizer.transform_mols(mols)
        data = np.packbits(matrix.values, axis=1) if featurizer.kind == "bits" else matrix.values
        feat_errors = matrix.errors
    else:
        parents = [text for text in (smiles[i] for i in valid) if text is not None]  # all: valid
        data, feat_errors = featurize_smiles(featurizer.spec, parents)
    return {
        "keys": keys,
        "smiles": smiles,
        "errors": errors,
        "valid": valid,
        "data": data,
        "feature_errors": feat_errors,
    }
