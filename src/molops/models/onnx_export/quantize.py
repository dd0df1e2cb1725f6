"""Dynamic int8 quantisation of an exported graph (onnxruntime.quantization): weights stored as int8,
activations quantised per batch at run time. It applies to matrix products (the layers of the MLP
and of the D-MPNN's message passing and head); a tree ensemble has no weight matrix to quantise,
so it is refused rather than silently unchanged.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import onnx

from molops.models.onnx_export import OnnxExportError

#: Quantisations ``molops models export --quantize`` accepts.
QUANTIZATIONS = ("int8",)
#: The operators dynamic quantisation rewrites; a graph without them has nothing to quantise.
QUANTIZABLE = frozenset({"MatMul", "Gemm"})


def quantize(model: onnx.ModelProto, kind: str, method: str = "int8") -> onnx.ModelProto:
    """*model* with its weight matrices in int8 (dynamic quantisation); *kind* names the model."""
    if method not in QUANTIZATIONS:
        raise OnnxExportError(
            f"--quantize {method!r} is not supported; expected one of: {', '.join(QUANTIZATIONS)}"
        )
    if not any(node.op_type in QUANTIZABLE for node in model.graph.node):
        raise OnnxExportError(
            f"model kind {kind!r} has no weight matrices for int8 quantisation (a tree ensemble's "
            "thresholds are not quantised); export it without --quantize"
        )
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="molops-quantize-") as tmp, _quiet_root_logger():
        source, target = Path(tmp) / "model.onnx", Path(tmp) / "model.int8.onnx"
        onnx.save(model, source)
        quantize_dynamic(
            source, target, weight_type=QuantType.QInt8, op_types_to_quantize=sorted(QUANTIZABLE)
        )
        return onnx.load(target)


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantiser advises "pre-processing" through the root logger at every call; that
    advice concerns image models' shape inference, not these graphs, so it is not shown."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)
