"""ONNX exports of the zoo's models (issue 18): each kind's graph reproduces the native mean and std on
held-out and far FreeSolv molecules, int8 quantisation applies where there are weights, and kinds
without a converter are refused in one sentence (the D-MPNN's export: onnx_export/test_dmpnn_onnx.py)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from molops.models import get_model
from molops.models.base import InvalidModelError
from molops.models.onnx_export import OnnxExportError
from molops.models.onnx_export.convert import to_onnx
from molops.models.onnx_export.quantize import quantize
from molops.models.onnx_export.runtime import OnnxSurrogate

from .conftest import fitted, split

COUNTS = "morgan:counts=true"
#: float32 leaves and layers against sklearn's / LightGBM's float64 sums, on targets of tens of kcal/mol
ATOL = 1e-4
#: ... and relative, for the MLP's extrapolations on raw descriptors of far molecules (~1e7)
RTOL = 1e-5


def _molecules(spec: str) -> np.ndarray:
    data = split(spec)
    return np.vstack([data.X_test, data.X_far])


@pytest.mark.parametrize(
    ("name", "spec"), [("rf", COUNTS), ("lightgbm", COUNTS), ("mlp", COUNTS), ("mlp", "rdkit2d")]
)
def test_graph_reproduces_mean_and_std(name, spec):
    model = fitted(name, spec)
    graph = to_onnx(model)
    onnx.checker.check_model(graph)
    assert [o.name for o in graph.graph.output] == ["mean", "std"]
    X = _molecules(spec)
    mean, std = model.predict(X)
    onnx_mean, onnx_std = OnnxSurrogate(graph.SerializeToString(), name).predict(X)
    assert std.max() > 0.1  # a real spread, so the std's comparison means something
    np.testing.assert_allclose(onnx_mean, mean, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(onnx_std, std, rtol=RTOL, atol=ATOL)


def test_int8_mlp_is_smaller_and_close():
    model = fitted("mlp", COUNTS)
    graph = to_onnx(model)
    small = quantize(graph, "mlp")
    assert small.ByteSize() < graph.ByteSize() / 2
    X = _molecules(COUNTS)
    mean, _ = model.predict(X)
    onnx_mean, onnx_std = OnnxSurrogate(small.SerializeToString(), "mlp").predict(X)
    diff = np.abs(onnx_mean - mean).max()
    assert 0 < diff < 1.0  # int8 weights move predictions, by far less than FreeSolv's spread (~4)
    assert np.isfinite(onnx_std).all()


def test_tree_models_refuse_int8():
    with pytest.raises(OnnxExportError, match="'rf' has no weight matrices for int8"):
        quantize(to_onnx(fitted("rf", COUNTS)), "rf")


def test_unknown_quantisation_is_refused():
    with pytest.raises(OnnxExportError, match="--quantize 'int4' is not supported; expected one of: int8"):
        quantize(to_onnx(fitted("mlp", COUNTS)), "mlp", "int4")


@pytest.mark.parametrize(("name", "why"), [("gp", "Tanimoto-kernel")])
def test_kinds_without_converter_are_refused(name, why):
    with pytest.raises(OnnxExportError) as info:
        to_onnx(get_model(name))
    message = str(info.value)
    assert f"model kind {name!r} cannot be exported to ONNX" in message
    assert why in message
    assert "ONNX exports exist for dmpnn, lightgbm, mlp, rf" in message
    assert "\n" not in message


def test_onnx_model_checks_inputs_as_the_native_one():
    model = fitted("rf", COUNTS)
    surrogate = OnnxSurrogate(to_onnx(model).SerializeToString(), "rf")
    with pytest.raises(InvalidModelError, match="model 'rf' was fitted on 2048 features but X has 3 columns"):
        surrogate.predict(np.zeros((2, 3)))
    with pytest.raises(InvalidModelError, match="only predicts; fit the native model"):
        surrogate.fit(np.zeros((2, 2048)), np.zeros(2))
