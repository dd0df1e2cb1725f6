"""An exported D-MPNN behind the surrogate interface: SMILES in, graphs built with RDKit and numpy
(:mod:`.chem_featurise`), run by onnxruntime; neither torch nor chemprop is imported.

Molecules are featurised and run in batches of the native model's size, so memory stays bounded on
a large pool. A SMILES RDKit cannot parse fails the call with the native model's sentence (a
bundle's preparation has already turned away what it cannot standardise).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from molops.models.base import Inputs, InvalidModelError, Surrogate
from molops.models.onnx_export import OnnxExportError
from molops.models.onnx_export.chem_featurise import NAME, batch_graphs
from molops.models.onnx_export.runtime import THREADS, OnnxSurrogate, session

#: molecules featurised and run at a time (the native D-MPNN's prediction batch)
BATCH = 512
#: kinds whose exports take SMILES (molecular graphs) rather than a feature matrix
GRAPH_KINDS = frozenset({"dmpnn"})


class GraphOnnxSurrogate(OnnxSurrogate):
    """Predicts (mean, std) of SMILES with an exported D-MPNN graph."""

    inputs: ClassVar[Inputs] = "smiles"

    def __init__(self, model: bytes, kind: str, threads: int = THREADS) -> None:
        from molops.models.onnx_export.dmpnn import DESCRIPTORS, META_DESCRIPTORS, META_FEATURISER

        Surrogate.__init__(self)
        self.kind = kind
        self._session = session(model, threads)
        meta = self._session.get_modelmeta().custom_metadata_map
        if meta.get(META_FEATURISER) != NAME:
            raise OnnxExportError(
                f"the ONNX export of model {kind!r} builds graphs with featuriser "
                f"{meta.get(META_FEATURISER)!r}; this molops makes {NAME!r}: export the model again"
            )
        self._descriptors = DESCRIPTORS in {i.name for i in self._session.get_inputs()}
        if self._descriptors and meta.get(META_DESCRIPTORS) != "rdkit2d":
            raise OnnxExportError(
                f"the ONNX export of model {kind!r} takes descriptors {meta.get(META_DESCRIPTORS)!r}; "
                "this molops computes 'rdkit2d': export the model again"
            )
        self.n_features_ = 0
        self.fitted = True

    def predict(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        from molops.models.onnx_export.dmpnn import DESCRIPTORS
        from molops.models.zoo._graph_data import descriptor_matrix, parse_many

        smiles = np.asarray(X, dtype=object).ravel()
        means, stds = [], []
        for start in range(0, len(smiles), BATCH):
            chunk = smiles[start : start + BATCH]
            feeds = batch_graphs(parse_many(self.kind, start, [str(s) for s in chunk])).feeds()
            if self._descriptors:
                feeds[DESCRIPTORS] = descriptor_matrix(chunk)
            mean, std = self._session.run(["mean", "std"], feeds)
            means.append(mean)
            stds.append(std)
        if not means:
            raise InvalidModelError(f"model {self.kind!r}: X has no SMILES")
        return np.concatenate(means).astype(np.float64), np.concatenate(stds).astype(np.float64)

    def __repr__(self) -> str:
        return f"GraphOnnxSurrogate(kind={self.kind!r})"


def onnx_surrogate(model: bytes, kind: str, threads: int = THREADS) -> OnnxSurrogate:
    """The surrogate that runs the export *model* of a model of *kind*: graphs from SMILES for a
    D-MPNN, a feature matrix otherwise."""
    if kind in GRAPH_KINDS:
        return GraphOnnxSurrogate(model, kind, threads)
    return OnnxSurrogate(model, kind, threads)
