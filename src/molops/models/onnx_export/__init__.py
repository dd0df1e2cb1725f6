"""ONNX exports of fitted zoo models (the ``onnx`` extra: onnxruntime, skl2onnx, onnxmltools).

:mod:`.convert` turns a model into a graph that computes its mean and std (:mod:`.dmpnn` the
D-MPNN's, over molecular graphs), :mod:`.quantize` makes an int8 variant where the model has
weights to quantise, :mod:`.runtime` runs a graph behind the surrogate interface (:mod:`.graph_runtime`
from SMILES, with :mod:`.chem_featurise`'s graphs). This module imports none of them, so its error
can be caught without the extra.
"""

from __future__ import annotations

from molops.errors import MolopsError


class OnnxExportError(MolopsError):
    """A model cannot be exported to ONNX, or its export does not reproduce it."""

    exit_code = 2


__all__ = ["OnnxExportError"]
