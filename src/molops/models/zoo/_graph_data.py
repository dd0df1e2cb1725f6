"""The D-MPNN's data: SMILES parsed with errors that name the row, molecular graphs built on
demand (batch by batch, in DataLoader processes when there are any), the RDKit 2D descriptors
joined to the encoding, and how many loader processes a prediction uses."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from molops.features.base import GRAPH, get_featurizer
from molops.models.base import InvalidModelError

#: molecules per batch at prediction (graphs are featurised batch by batch, never all at once)
PREDICT_BATCH = 512
#: DataLoader processes that build graphs while a GPU predicts (``num_workers=None``): on an H200,
#: scoring went from 1,868 to 8,196 molecules/s with 8, and a campaign's from 1,508 to 5,505
#: (docs/benchmarks.md); on 16 CPU cores they gave 1.4×, and a small machine has none to spare.
_GPU_PREDICT_WORKERS = 8


def loader_workers(num_workers: int | None, device: str, n: int) -> int:
    """DataLoader processes for predicting *n* molecules on *device* ("cuda" or "cpu")."""
    if num_workers is not None:
        return num_workers
    if device != "cuda" or n < 4 * PREDICT_BATCH:  # a few batches: starting workers costs more
        return 0
    return max(0, min(_GPU_PREDICT_WORKERS, (os.cpu_count() or 1) - 1))


def parse_smiles(model: str, row: int, smiles: str) -> Any:
    """The RDKit molecule of *smiles* (hydrogens removed, as chemprop's ``make_mol``), or an error
    naming the row."""
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    with BlockLogs():  # RDKit's own parse errors would go to stderr; ours names the row
        mol = Chem.MolFromSmiles(smiles) if smiles.strip() else None
    if mol is None or mol.GetNumAtoms() == 0:
        raise InvalidModelError(
            f"model {model!r}: row {row} of X, {smiles!r}, is not a SMILES RDKit can parse into a molecule; "
            "fix or drop it"
        )
    return mol


class SmilesGraphs:
    """SMILES → chemprop ``Datum`` on demand: a map-style dataset for torch's DataLoader, so a pool is
    featurised one batch at a time. Plain Python, so it pickles into DataLoader worker processes."""

    def __init__(
        self, model: str, smiles: np.ndarray, scaling: tuple[np.ndarray, np.ndarray] | None = None
    ) -> None:
        self.model, self.smiles, self.scaling = model, smiles, scaling
        self._featurizer: Any = None

    def __len__(self) -> int:
        return len(self.smiles)

    def __getitem__(self, row: int) -> Any:
        from chemprop.data import Datum

        if self._featurizer is None:  # molops' registered graph featurizer (chemprop's, v2 features)
            self._featurizer = get_featurizer(GRAPH)
        graph = self._featurizer.graph(parse_smiles(self.model, row, self.smiles[row]))
        x_d = None
        if self.scaling is not None:
            x_d = standardised(descriptor_matrix([self.smiles[row]]), *self.scaling)[0]
        return Datum(graph, None, x_d, None, 1.0, None, None)


def standardised(raw: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Descriptors standardised on the training molecules; missing at the mean, clipped to ±10 sd."""
    z = (raw - mean) / scale
    clipped: np.ndarray = np.clip(np.nan_to_num(z, nan=0.0, posinf=10.0, neginf=-10.0), -10.0, 10.0)
    return clipped.astype(np.float32)


def descriptor_matrix(smiles: Any) -> np.ndarray:
    """RDKit 2D descriptors (molops' ``rdkit2d`` featurizer) of each SMILES, NaN where missing."""
    return get_featurizer("rdkit2d").transform(list(smiles)).values.astype(np.float64)
