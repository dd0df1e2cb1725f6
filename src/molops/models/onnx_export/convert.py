"""A fitted zoo model as an ONNX graph that computes its (mean, std), one converter per model kind.

| model | converter | graph |
| --- | --- | --- |
| ``rf`` | built here (ONNX-ML ``TreeEnsembleRegressor``) | one output per tree, then mean and std |
| ``lightgbm`` | onnxmltools, one graph per bootstrap member | members side by side, then mean and std |
| ``mlp`` | skl2onnx, one graph per ensemble member | scaler, members, target un-scaling, mean and std |
| ``dmpnn`` | torch.onnx, all members in one trace | graphs in, members, un-scaling, mean and std |

The std is the spread the native model reports (trees' or members'), computed inside the graph; the
bundle's target transform and std calibration are applied after it by the bundle, as for the
native model. Models without a converter are refused, with why, in :data:`NO_CONVERTER`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from molops.models.base import Surrogate
from molops.models.onnx_export import OnnxExportError
from molops.models.onnx_export.graphs import INPUT, ML_OPSET, OPSET, forest_graph, stack_members

#: Why a model kind has no ONNX export (what to do instead is in the sentence).
NO_CONVERTER = {
    "gp": "its Tanimoto-kernel posterior (a custom kernel over fingerprints) has no ONNX converter",
}

#: onnxmltools' newest supported opset (its tree operator is opset-independent; the graph is
#: joined into one of :data:`OPSET`)
LIGHTGBM_OPSET = 15

Converter = Callable[[Any], onnx.ModelProto]


def _forest(model: Any) -> onnx.ModelProto:
    return forest_graph([est.tree_ for est in model._forest.estimators_], model.n_features_)


def _lightgbm(model: Any) -> onnx.ModelProto:
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    members = [
        convert_lightgbm(
            member,
            initial_types=[(INPUT, FloatTensorType([None, model.n_features_]))],
            target_opset=LIGHTGBM_OPSET,
            zipmap=False,
        )
        for member in model._members
    ]
    return stack_members(members, model.n_features_)


def _mlp(model: Any) -> onnx.ModelProto:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    n = model.n_features_
    with warnings.catch_warnings():  # skl2onnx warns about opsets newer than it was tested with
        warnings.simplefilter("ignore")
        members = [
            to_onnx(
                member,
                initial_types=[(INPUT, FloatTensorType([None, n]))],
                target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
            )
            for member in model._members
        ]
    # the native model scales float64 features, then casts to float32 for its members
    pre: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    scaled = INPUT
    scaler = model._scaler
    if scaler is not None:
        inits.append(numpy_helper.from_array(np.asarray(scaler.mean_, dtype=np.float64), "scaler_mean"))
        pre.append(helper.make_node("Sub", [INPUT, "scaler_mean"], ["centred_x"]))
        scaled = "centred_x"
        if scaler.scale_ is not None:
            inits.append(numpy_helper.from_array(np.asarray(scaler.scale_, dtype=np.float64), "scaler_scale"))
            pre.append(helper.make_node("Div", ["centred_x", "scaler_scale"], ["scaled_x"]))
            scaled = "scaled_x"
    pre.append(helper.make_node("Cast", [scaled], ["features32"], to=TensorProto.FLOAT))
    return stack_members(
        members,
        n,
        dtype=TensorProto.DOUBLE,
        pre=pre,
        pre_initializers=inits,
        member_input="features32",
        scale=model._y_scale,
        shift=model._y_mean,
    )


def _dmpnn(model: Any) -> onnx.ModelProto:
    from molops.models.onnx_export.dmpnn import dmpnn_graph

    return dmpnn_graph(model)


CONVERTERS: dict[str, Converter] = {"rf": _forest, "lightgbm": _lightgbm, "mlp": _mlp, "dmpnn": _dmpnn}


def to_onnx(model: Surrogate) -> onnx.ModelProto:
    """*model* (fitted) as an ONNX graph with input ``X`` and outputs ``mean`` and ``std`` (a D-MPNN
    takes molecular graphs instead of ``X``: :mod:`.dmpnn`)."""
    converter = CONVERTERS.get(model.name)
    if converter is None:
        why = NO_CONVERTER.get(model.name, "molops has no ONNX converter for it")
        raise OnnxExportError(
            f"model kind {model.name!r} cannot be exported to ONNX: {why}; "
            f"ONNX exports exist for {', '.join(sorted(CONVERTERS))}"
        )
    model.check_fitted()
    graph = converter(model)
    graph.doc_string = f"molops {model.name}: outputs mean and std over its members"
    return graph
