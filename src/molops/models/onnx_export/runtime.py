"""An exported ONNX graph behind the surrogate interface, run by onnxruntime.

A bundle whose surrogate is replaced by an :class:`OnnxSurrogate` predicts through the same code as
the native one (target transform, std calibration, applicability domain), so a service answers
from either with the same response shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from molops.models.base import Capability, InvalidModelError, Surrogate
from molops.models.onnx_export import OnnxExportError

#: onnxruntime threads per session: a served batch is small, and a service's cores already run
#: the chemistry children; one thread also keeps onnxruntime from spinning against them.
THREADS = 1


def session(model: bytes, threads: int = THREADS) -> Any:
    """An onnxruntime session for the serialised *model* (one that says what to install without it)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise OnnxExportError(
            "ONNX models need onnxruntime; install molops with the onnx extra: pip install 'molops[onnx]'"
        ) from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class OnnxSurrogate(Surrogate):
    """Predicts (mean, std) with an exported graph; it cannot be fitted or pickled.

    *kind* is the native model's name (``rf``, ``lightgbm``, ``mlp``), kept for messages.
    """

    name = "onnx"
    provides: ClassVar[frozenset[Capability]] = frozenset({"mean", "std"})

    def __init__(self, model: bytes, kind: str, threads: int = THREADS) -> None:
        super().__init__()
        self.kind = kind
        self._session = session(model, threads)
        spec = self._session.get_inputs()[0]
        self.n_features_ = int(spec.shape[1])
        self._dtype = np.float64 if spec.type == "tensor(double)" else np.float32
        self.fitted = True

    @classmethod
    def from_file(cls, path: str | Path, kind: str, threads: int = THREADS) -> OnnxSurrogate:
        return cls(Path(path).read_bytes(), kind, threads)

    def fit(self, X: np.ndarray, y: np.ndarray) -> Self:
        raise InvalidModelError(f"an ONNX export of model {self.kind!r} only predicts; fit the native model")

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from molops.models.zoo._common import as_matrix

        Xa = as_matrix(self.kind, X, dtype=self._dtype, n_features=self.n_features_)
        mean, std = self._session.run(["mean", "std"], {"X": Xa})
        return np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)

    def save(self, path: str | Path) -> Path:
        raise InvalidModelError(
            f"an ONNX export of model {self.kind!r} is saved as its .onnx file, not as a bundle"
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "provides": sorted(self.provides),
            "inputs": self.inputs,
        }

    def __repr__(self) -> str:
        return f"OnnxSurrogate(kind={self.kind!r}, n_features={self.n_features_})"
