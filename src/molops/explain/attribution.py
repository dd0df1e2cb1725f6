"""The two ways a prediction is attributed to atoms, both on the model's own (transformed) scale.

* ``shap_tree`` (``rf``, ``lightgbm``): exact TreeSHAP values of the features (shap's
  ``TreeExplainer``, path-dependent, so no background set is needed); the base value is the model's
  expected prediction over its training molecules. An ensemble's values and base are its members'
  averages, as its prediction is.
* ``mask_bits`` / ``mask_dummy_atom`` (every other model): each atom's weight starts as the drop in
  the prediction when that atom is masked. For a fingerprint that says which atoms set its columns
  (Morgan, FCFP, atom pairs) masking removes every environment that contains the atom; otherwise
  (graph models, descriptors, MACCS keys, torsions) the atom becomes a dummy atom (``*``, element 0,
  bonds kept) and the molecule is featurised again. The base value is the mean of the training
  targets, which these models predict for a molecule they know nothing about.

How each method's numbers become weights that sum exactly is in :mod:`molops.explain.core`.
"""

from __future__ import annotations

import threading
import warnings
import weakref
from typing import Any

import numpy as np
from rdkit import Chem

from molops.errors import MolopsError
from molops.features.base import Featurizer
from molops.models.base import Surrogate
from molops.models.zoo.boosting import LightGBMEnsemble
from molops.models.zoo.forest import RandomForest


class ExplainError(MolopsError):
    """A model or molecule cannot be explained (a missing library, an unsupported model)."""

    exit_code = 2


#: The model kinds explained by TreeSHAP; every other kind by masking.
TREE_MODELS = frozenset({"rf", "lightgbm"})

_explainers: weakref.WeakKeyDictionary[Surrogate, list[Any]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def shap_module() -> Any:
    """The shap module. Its import builds matplotlib colour maps with calls matplotlib has marked
    for deprecation; that warning is shap's business, not the caller's, so it is silenced here."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="The set_(bad|over|under) function", category=PendingDeprecationWarning
            )
            import shap
    except ImportError:
        raise ExplainError(
            "explaining a tree model needs the shap library, which is not installed; "
            "install the explain extra: pip install 'molops[explain]'"
        ) from None
    return shap


def _tree_explainers(surrogate: Surrogate) -> list[Any]:
    """One TreeExplainer per tree model of *surrogate* (built once per fitted model)."""
    with _lock:
        found = _explainers.get(surrogate)
        if found is not None:
            return found
        shap = shap_module()
        # the zoo keeps its fitted estimators private; explaining is the one reader outside it
        if isinstance(surrogate, RandomForest):
            trees: list[Any] = [surrogate._forest]
        elif isinstance(surrogate, LightGBMEnsemble):
            trees = [member.booster_ for member in surrogate._members]
        else:
            raise ExplainError(f"model {surrogate.name!r} is not a tree model TreeSHAP can explain")
        found = [shap.TreeExplainer(t, feature_perturbation="tree_path_dependent") for t in trees]
        _explainers[surrogate] = found
        return found


def shap_tree(surrogate: Surrogate, X: np.ndarray) -> tuple[np.ndarray, float]:
    """SHAP values (rows × columns) of feature rows *X* and the base value, model scale."""
    surrogate.check_fitted()
    explainers = _tree_explainers(surrogate)
    Xf = np.ascontiguousarray(X, dtype=np.float32)
    # additivity is enforced by the caller's rule on the exact prediction, not checked twice
    values = np.mean([np.asarray(e.shap_values(Xf, check_additivity=False)) for e in explainers], axis=0)
    base = float(np.mean([np.ravel(e.expected_value)[0] for e in explainers]))
    return values.astype(np.float64), base


def training_mean(surrogate: Surrogate) -> float:
    """The mean training target on the model's scale: the base value of a masking attribution.

    The GP, the MLP ensemble and the D-MPNN centre their targets and keep that centre (``_y_mean``).
    """
    value = getattr(surrogate, "_y_mean", None)
    if value is None:
        raise ExplainError(
            f"model {surrogate.name!r} keeps no training mean to explain its predictions against; "
            "retrain it with this molops"
        )
    return float(value)


def dummy_smiles(mol: Chem.Mol, atom: int) -> str:
    """*mol* with *atom* replaced by a dummy atom (element 0, no hydrogens, no charge), as SMILES.

    Kekulised first, so an aromatic ring with a dummy in it is written with explicit double bonds
    and parses again whatever RDKit's aromaticity model makes of it.
    """
    masked = Chem.RWMol(mol)
    Chem.Kekulize(masked, clearAromaticFlags=True)
    dummy = masked.GetAtomWithIdx(atom)
    dummy.SetAtomicNum(0)
    dummy.SetFormalCharge(0)
    dummy.SetIsotope(0)
    dummy.SetNoImplicit(True)
    dummy.SetNumExplicitHs(0)
    dummy.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
    return str(Chem.MolToSmiles(masked))


def dummy_rows(featurizer: Featurizer, mol: Chem.Mol, row: np.ndarray) -> np.ndarray:
    """(atoms × columns): *row* recomputed with each atom in turn a dummy atom. A masked molecule
    the featurizer cannot compute keeps the unmasked row, so that atom's drop is zero; so does a
    descriptor RDKit cannot compute for it (NaN), which no model would take."""
    variants = [dummy_smiles(mol, atom) for atom in range(mol.GetNumAtoms())]
    matrix = featurizer.transform(variants)
    values = np.asarray(matrix.values, dtype=row.dtype)
    for failed in matrix.errors:
        values[failed] = row
    if values.dtype.kind == "f":
        values = np.where(np.isnan(values), row[None, :], values)
    return values
