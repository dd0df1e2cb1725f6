"""The D-MPNN's data: SMILES parsed with errors that name the row, prediction batches built on
demand (a whole batch at a time, in DataLoader processes when there are any), the RDKit 2D
descriptors joined to the encoding, and how many loader processes a prediction uses.

A prediction batch's graphs come from :func:`molops.features.graph.batch_graphs` (RDKit and numpy,
equal to chemprop's featuriser, several times faster); training keeps chemprop's own dataset, whose
graphs are built once and cached for every epoch and member."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from molops.features.base import get_featurizer
from molops.features.graph import batch_graphs
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


def parse_many(model: str, first_row: int, smiles: Sequence[str] | np.ndarray) -> list[Any]:
    """The RDKit molecules of *smiles* (hydrogens removed, as chemprop's ``make_mol``), rows
    *first_row* onwards, or an error naming the first row that does not parse. RDKit's logs are
    blocked once for them all: once per molecule cost a tenth of the parse."""
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    parse = Chem.MolFromSmiles
    with BlockLogs():  # RDKit's own parse errors would go to stderr; ours names the row
        mols = [parse(text) if text.strip() else None for text in smiles]
    for i, mol in enumerate(mols):
        if mol is None or mol.GetNumAtoms() == 0:
            raise InvalidModelError(
                f"model {model!r}: row {first_row + i} of X, {smiles[i]!r}, is not a SMILES RDKit can parse "
                "into a molecule; fix or drop it"
            )
    return mols


class SmilesBatches:
    """SMILES → chemprop ``TrainingBatch`` of PREDICT_BATCH molecules, on demand: a map-style dataset
    of whole batches for torch's DataLoader (``batch_size=None``), so a pool is featurised one batch
    at a time, by numpy over the batch rather than per molecule. Plain Python, so it pickles into
    DataLoader worker processes."""

    def __init__(
        self,
        model: str,
        smiles: np.ndarray,
        scaling: tuple[np.ndarray, np.ndarray] | None = None,
        batch_size: int = PREDICT_BATCH,
    ) -> None:
        self.model, self.smiles, self.scaling, self.batch_size = model, smiles, scaling, batch_size

    def __len__(self) -> int:
        return -(-len(self.smiles) // self.batch_size)

    def __getitem__(self, index: int) -> Any:
        import torch
        from chemprop.data import TrainingBatch
        from chemprop.featurizers.molgraph.molecule import BatchCuikMolGraph

        start = index * self.batch_size
        chunk = self.smiles[start : start + self.batch_size]
        graphs = batch_graphs(parse_many(self.model, start, chunk))
        # chemprop's batch type built from arrays (its BatchMolGraph takes per-molecule graphs)
        bmg = BatchCuikMolGraph(
            V=torch.from_numpy(graphs.V),
            E=torch.from_numpy(graphs.E),
            edge_index=torch.from_numpy(graphs.edge_index),
            rev_edge_index=torch.from_numpy(graphs.rev_edge_index),
            batch=torch.from_numpy(graphs.batch),
        )
        x_d = None
        if self.scaling is not None:
            x_d = torch.from_numpy(standardised(descriptor_matrix(chunk), *self.scaling))
        return TrainingBatch(bmg, None, x_d, None, torch.ones(len(chunk), 1), None, None)


def standardised(raw: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Descriptors standardised on the training molecules; missing at the mean, clipped to ±10 sd."""
    z = (raw - mean) / scale
    clipped: np.ndarray = np.clip(np.nan_to_num(z, nan=0.0, posinf=10.0, neginf=-10.0), -10.0, 10.0)
    return clipped.astype(np.float32)


def descriptor_matrix(smiles: Any) -> np.ndarray:
    """RDKit 2D descriptors (molops' ``rdkit2d`` featurizer) of each SMILES, NaN where missing."""
    return get_featurizer("rdkit2d").transform(list(smiles)).values.astype(np.float64)
