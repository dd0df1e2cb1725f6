"""Per-atom explanations of a model bundle's predictions.

Every explanation satisfies, in the user's units::

    prediction = base_value + sum(atom_weights) + remainder

``atom_weights`` has one weight per atom of the standardised parent as RDKit parses its SMILES (the
heavy atoms, in RDKit's atom order; hydrogens only where the parent keeps them explicit). The
methods (:mod:`molops.explain.attribution`) give raw per-atom or per-column numbers; these rules
make them add up exactly:

* ``shap_tree``: a fingerprint column set in the molecule gives its SHAP value to the environments
  that set it (split equally over them, each part equally over its atoms). Columns that cannot be
  traced to atoms (descriptors, MACCS keys, torsions) go to ``remainder``. What is left (columns
  *absent* from the molecule, whose SHAP values say what the molecule as a whole lacks, and float
  rounding) is shared equally by all atoms.
* masking: the weight of atom i is the drop in the prediction when i is masked, plus an equal share
  of the difference between the deviation ``prediction − base_value`` and the sum of the drops
  (interactions between atoms, which no single mask sees). ``remainder`` is 0.

A model with a log target transform is explained on its log scale, and weights and remainder are
rescaled by one factor so they sum to the deviation in the user's units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from rdkit import Chem

from molops.explain.attribution import (
    TREE_MODELS,
    dummy_rows,
    dummy_smiles,
    shap_module,
    shap_tree,
    training_mean,
)
from molops.explain.environments import environments, mappable
from molops.features.base import Featurizer, get_featurizer
from molops.tracking.bundle import ModelBundle
from molops.tracking.preparation import Prepared

Method = Literal["shap_tree", "mask_bits", "mask_dummy_atom"]


@dataclass(frozen=True)
class Explanation:
    """One molecule's explanation (or, with ``error`` set, why it has none)."""

    smiles: str
    canonical_smiles: str | None = None
    inchikey: str | None = None
    prediction: float | None = None
    base_value: float | None = None
    #: one per atom of the parent, RDKit order; base_value + Σ atom_weights + remainder = prediction
    atom_weights: list[float] = field(default_factory=list)
    #: what is not put on atoms: descriptor-like columns of a tree model (0 for masking)
    remainder: float | None = None
    method: Method | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def method_for(bundle: ModelBundle) -> Method:
    """How *bundle*'s predictions are explained (see the module's docstring)."""
    if bundle.info.model in TREE_MODELS:
        return "shap_tree"
    if bundle.info.inputs == "features" and mappable(_featurizer(bundle)):
        return "mask_bits"
    return "mask_dummy_atom"


def explain(
    bundle: ModelBundle, smiles: Sequence[str], prepared: Prepared | None = None
) -> list[Explanation]:
    """Explain *bundle*'s prediction for each SMILES: one :class:`Explanation` per input, in order.

    A molecule that cannot be standardised or featurised gets an explanation with ``error`` set
    (the same sentence prediction gives), never an exception. *prepared* is the batch already
    prepared elsewhere with ``bundle.preparation()`` (a service's child processes); without it the
    molecules are prepared here.
    """
    texts = [str(s) for s in smiles]
    if prepared is None:
        prepared = bundle.preparation(applicability=False).batch(texts)
    results = [
        Explanation(text, parent, key, error=error)
        for text, parent, key, error in zip(
            texts, prepared.parents, prepared.inchikeys, prepared.errors, strict=True
        )
    ]
    if not prepared.good:
        return results
    mols = [Chem.MolFromSmiles(prepared.parents[i] or "") for i in prepared.good]
    method = method_for(bundle)
    if method == "shap_tree":
        raw = _tree(bundle, prepared.values, mols)
    else:
        raw = _masking(bundle, prepared.values, mols, method)
    for i, (prediction, base, weights, remainder) in zip(prepared.good, raw, strict=True):
        pred_u, base_u, weights_u, remainder_u = _user_units(bundle, prediction, base, weights, remainder)
        results[i] = Explanation(
            texts[i],
            prepared.parents[i],
            prepared.inchikeys[i],
            prediction=pred_u,
            base_value=base_u,
            atom_weights=[float(w) for w in weights_u],
            remainder=remainder_u,
            method=method,
        )
    return results


Raw = tuple[float, float, np.ndarray, float]  # prediction, base, atom weights, remainder (model scale)


def _featurizer(bundle: ModelBundle) -> Featurizer:
    return get_featurizer(bundle.info.featurizer)


def _shared(deviation: float, weights: np.ndarray, remainder: float) -> np.ndarray:
    """*weights* plus an equal share each of what they and *remainder* leave of *deviation*."""
    if len(weights) == 0:
        return weights
    return weights + (deviation - float(weights.sum()) - remainder) / len(weights)


def _tree(bundle: ModelBundle, X: np.ndarray, mols: list[Chem.Mol]) -> list[Raw]:
    featurizer = _featurizer(bundle)
    values, base = shap_tree(bundle.surrogate, X)
    predictions = bundle.surrogate.predict(X)[0]
    traced = mappable(featurizer)
    raw: list[Raw] = []
    for phi, prediction, mol in zip(values, predictions, mols, strict=True):
        if traced:
            weights, remainder = environments(featurizer, mol).shares() @ phi, 0.0
        else:
            weights, remainder = np.zeros(mol.GetNumAtoms()), float(phi.sum())
        deviation = float(prediction) - base
        raw.append((float(prediction), base, _shared(deviation, weights, remainder), remainder))
    return raw


def _masking(bundle: ModelBundle, X: np.ndarray, mols: list[Chem.Mol], method: Method) -> list[Raw]:
    surrogate = bundle.surrogate
    base = training_mean(surrogate)
    if bundle.info.inputs == "smiles":
        blocks: list[np.ndarray] = [
            np.asarray([dummy_smiles(mol, a) for a in range(mol.GetNumAtoms())], dtype=object) for mol in mols
        ]
    else:
        featurizer = _featurizer(bundle)
        counts = featurizer.kind == "counts"
        blocks = [
            environments(featurizer, mol).masked(row, counts)
            if method == "mask_bits"
            else dummy_rows(featurizer, mol, row)
            for mol, row in zip(mols, X, strict=True)
        ]
    # one call for the molecules and every masked variant: a graph model batches them together
    everything = np.concatenate([X, *blocks]) if blocks else X
    predicted = surrogate.predict(everything)[0]
    predictions, masked = predicted[: len(X)], predicted[len(X) :]
    raw: list[Raw] = []
    start = 0
    for prediction, block in zip(predictions, blocks, strict=True):
        drops = float(prediction) - masked[start : start + len(block)]
        start += len(block)
        raw.append((float(prediction), base, _shared(float(prediction) - base, drops, 0.0), 0.0))
    return raw


def _user_units(
    bundle: ModelBundle, prediction: float, base: float, weights: np.ndarray, remainder: float
) -> tuple[float, float, np.ndarray, float]:
    """Prediction, base, weights and remainder in the user's units: a linear transform scales them
    all; a log transform rescales weights and remainder by one factor, keeping the sum exact."""
    transform = bundle.info.transform
    (pred_u, base_u), _ = transform.inverse(np.array([prediction, base]), np.zeros(2))
    if transform.kind in ("log", "log-standardize"):
        deviation = prediction - base
        factor = (pred_u - base_u) / deviation if deviation != 0 else pred_u * transform.scale
    else:
        factor = transform.scale
    return float(pred_u), float(base_u), weights * factor, float(remainder * factor)


def check_explainable(bundle: ModelBundle) -> None:
    """Raise :class:`ExplainError` now, before any molecule, when *bundle* cannot be explained (shap
    is missing for a tree model; a model keeps no training mean)."""
    if method_for(bundle) == "shap_tree":
        shap_module()
    else:
        training_mean(bundle.surrogate)
