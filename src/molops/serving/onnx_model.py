"""``molops serve --onnx``: a loaded version answers with its recorded ONNX export (onnxruntime)
instead of its native model; featurisation, transform, calibration and the response stay the same.

A version without an export fails to load with a sentence saying how to make one: at start the
service is not ready; on a hot swap the version already loaded keeps answering. The served bundle is
built from the files recorded with the export, so the native model (a D-MPNN's torch) is not loaded.
"""

from __future__ import annotations

from typing import Any

from molops.tracking.bundle import ModelBundle
from molops.tracking.registry import ModelRegistry


def onnx_variant(registry: ModelRegistry, mv: Any) -> ModelBundle:
    """Model version *mv*'s bundle answering with the version's recorded ONNX export."""
    from molops.tracking.onnx_export import serving_bundle

    return serving_bundle(registry, mv)


def runtime(bundle: ModelBundle) -> str:
    """What computes a bundle's predictions: ``onnx`` or ``native``."""
    return "onnx" if bundle.surrogate.name == "onnx" else "native"
