"""Small bundles of every model kind, trained on FreeSolv to count halogen atoms, built once per
process: a target whose right explanation is known (the halogens carry it)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
from rdkit import Chem

from molops.chem.standardize import Rejected, Standardizer
from molops.config import IngestSection
from molops.data.builtin import BUILTINS
from molops.data.ingest import standardizer_settings
from molops.features import get_featurizer
from molops.features.base import GRAPH
from molops.models import get_model
from molops.models.reference import TrainingReference
from molops.models.transforms import TargetTransform
from molops.tracking.bundle import BundleInfo, ModelBundle, settings_to_dict

HALOGENS = frozenset({9, 17, 35, 53})
#: quick settings: each model fits the training molecules in about a second on one core
QUICK: dict[str, dict] = {
    "rf": {"n_estimators": 40, "n_jobs": 1},
    "lightgbm": {"n_members": 2, "n_estimators": 80, "learning_rate": 0.1, "n_jobs": 1},
    "gp": {},
    "mlp": {"n_members": 2, "hidden_layer_sizes": (16,), "max_iter": 1000},
    "dmpnn": {
        "uncertainty": "mve",
        "n_members": 1,
        "epochs": 15,
        "hidden": 64,
        "ffn_hidden": 64,
        "batch_size": 16,
        "max_lr": 3e-3,
        "final_lr": 3e-4,
        "aggregation": "sum",
        "accelerator": "cpu",
    },
}
N_TRAIN = 200


def halogens(smiles: str) -> int:
    mol = Chem.MolFromSmiles(smiles)
    return sum(atom.GetAtomicNum() in HALOGENS for atom in mol.GetAtoms())


@cache
def parents() -> tuple[list[str], list[str]]:
    """FreeSolv's standardised parents and InChIKeys (those the standardiser accepts)."""
    settings = standardizer_settings(IngestSection())
    std = Standardizer(settings)
    smiles, keys = [], []
    for text in pd.read_csv(BUILTINS["freesolv"].path())["smiles"]:
        result = std.standardize(text, "smiles")
        if not isinstance(result, Rejected):
            smiles.append(result.smiles)
            keys.append(result.inchikey)
    return smiles, keys


@cache
def bundle(
    model: str, spec: str = "morgan:counts=true", transform: str = "standardize", n_train: int = N_TRAIN
) -> ModelBundle:
    """*model* trained on the first *n_train* parents to predict their number of halogen atoms (plus
    one, so a log transform has positive targets); shared, do not mutate."""
    smiles, keys = (part[:n_train] for part in parents())
    target = np.asarray([halogens(s) + 1.0 for s in smiles])
    fitted_transform = TargetTransform(kind=transform).fit(target)  # type: ignore[arg-type]
    y = fitted_transform.transform(target)
    if model == "dmpnn":
        spec = GRAPH
        surrogate = get_model(model, **QUICK[model]).fit(np.asarray(smiles, dtype=object), y)
        featurizer_hash = get_featurizer(GRAPH).hash
    else:
        featurizer = get_featurizer(spec)
        spec, featurizer_hash = featurizer.spec, featurizer.hash
        surrogate = get_model(model, **QUICK[model]).fit(featurizer.transform(smiles).values, y)
    info = BundleInfo(
        model=model,
        params=surrogate.params.model_dump(mode="json"),
        inputs=surrogate.inputs,
        featurizer=spec,
        featurizer_hash=featurizer_hash,
        target="halogens",
        transform=fitted_transform,
        standardizer=settings_to_dict(standardizer_settings(IngestSection())),
        dataset="freesolv",
        dataset_version=1,
        n_train=len(target),
    )
    return ModelBundle(surrogate, info, TrainingReference.build(keys, smiles, target))
