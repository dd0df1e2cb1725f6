"""ONNX graph building blocks: a forest with one output per tree, members joined side by side, and
the mean/std tail every exported ensemble ends with.

Every exported graph has one input ``X`` (molecules × features) and two outputs ``mean`` and ``std``
(float64, shape (n,)), computed over the ensemble's members as :func:`molops.models.base.ensemble_stats`
does (population std), so the runtime needs no model-specific code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, compose, helper, numpy_helper

#: The standard opset every exported graph is written for (ReduceMean still takes ``axes`` as an
#: attribute here) and the ONNX-ML opset of the tree ensembles (v3: thresholds and leaf values as
#: float64 tensors, so a tree's decisions are sklearn's exactly).
OPSET = 17
ML_OPSET = 3
INPUT = "X"
MEMBERS = "members"


def forest_graph(trees: Sequence[Any], n_features: int) -> onnx.ModelProto:
    """A scikit-learn forest's *trees* (``estimator.tree_``) as one ``TreeEnsembleRegressor`` whose
    target *t* is tree *t*'s prediction: the (n × trees) matrix the std needs, in one operator.

    skl2onnx's own forest converter averages the trees inside the operator, which loses the spread.
    """
    attrs: dict[str, Any] = {
        k: []
        for k in [
            "nodes_treeids",
            "nodes_nodeids",
            "nodes_featureids",
            "nodes_modes",
            "nodes_truenodeids",
            "nodes_falsenodeids",
            "target_treeids",
            "target_nodeids",
            "target_ids",
        ]
    }
    thresholds: list[float] = []
    weights: list[float] = []
    for t, tree in enumerate(trees):
        left, right = tree.children_left, tree.children_right
        for node in range(tree.node_count):
            leaf = left[node] == -1
            attrs["nodes_treeids"].append(t)
            attrs["nodes_nodeids"].append(node)
            attrs["nodes_featureids"].append(0 if leaf else int(tree.feature[node]))
            attrs["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")  # sklearn: x <= threshold → left
            attrs["nodes_truenodeids"].append(0 if leaf else int(left[node]))
            attrs["nodes_falsenodeids"].append(0 if leaf else int(right[node]))
            thresholds.append(0.0 if leaf else float(tree.threshold[node]))
            if leaf:
                attrs["target_treeids"].append(t)
                attrs["target_nodeids"].append(node)
                attrs["target_ids"].append(t)
                weights.append(float(tree.value[node, 0, 0]))
    node = helper.make_node(
        "TreeEnsembleRegressor",
        [INPUT],
        [MEMBERS],
        domain="ai.onnx.ml",
        n_targets=len(trees),
        aggregate_function="SUM",
        nodes_values_as_tensor=numpy_helper.from_array(np.asarray(thresholds, dtype=np.float64)),
        target_weights_as_tensor=numpy_helper.from_array(np.asarray(weights, dtype=np.float64)),
        **attrs,
    )
    # onnxruntime's TreeEnsembleRegressor answers in float32 whatever its input: the per-tree values
    # are rounded to float32 (relative error ~1e-7) before the mean and std are taken in float64
    graph = helper.make_graph(
        [node],
        "forest",
        [helper.make_tensor_value_info(INPUT, TensorProto.DOUBLE, [None, n_features])],
        [helper.make_tensor_value_info(MEMBERS, TensorProto.FLOAT, [None, len(trees)])],
    )
    return with_stats(_model(graph, {"": OPSET, "ai.onnx.ml": ML_OPSET}))


def stack_members(
    members: Sequence[onnx.ModelProto],
    n_features: int,
    *,
    dtype: int = TensorProto.FLOAT,
    pre: Sequence[onnx.NodeProto] = (),
    pre_initializers: Sequence[onnx.TensorProto] = (),
    member_input: str = INPUT,
    scale: float = 1.0,
    shift: float = 0.0,
) -> onnx.ModelProto:
    """One graph running every member model on a shared input, their (n × 1) outputs concatenated
    into ``members`` (n × members, float64) as ``members × scale + shift``.

    The graph's input ``X`` has ONNX type *dtype*; *pre* nodes (with their *pre_initializers*) may
    turn it into *member_input*, what the members read (a scaler, a cast).
    """
    nodes: list[onnx.NodeProto] = list(pre)
    initializers: list[onnx.TensorProto] = list(pre_initializers)
    outputs: list[str] = []
    opsets: dict[str, int] = {"": OPSET}
    for i, member in enumerate(members):
        prefixed = compose.add_prefix(member, f"m{i}_")
        graph = prefixed.graph
        if len(graph.input) != 1 or len(graph.output) != 1:
            raise ValueError(
                f"member {i} has {len(graph.input)} inputs and {len(graph.output)} outputs; expected 1 and 1"
            )
        own_input = graph.input[0].name
        for node in graph.node:
            node.input[:] = [member_input if name == own_input else name for name in node.input]
            nodes.append(node)
        initializers.extend(graph.initializer)
        out = f"m{i}_column"
        nodes.append(helper.make_node("Reshape", [graph.output[0].name, "column_shape"], [out]))
        outputs.append(out)
        for imp in member.opset_import:
            opsets[imp.domain] = max(opsets.get(imp.domain, 0), imp.version)
    initializers += [
        numpy_helper.from_array(np.array([-1, 1], dtype=np.int64), "column_shape"),
        numpy_helper.from_array(np.array(scale, dtype=np.float64), "member_scale"),
        numpy_helper.from_array(np.array(shift, dtype=np.float64), "member_shift"),
    ]
    nodes += [
        helper.make_node("Concat", outputs, ["stacked"], axis=1),
        helper.make_node("Cast", ["stacked"], ["stacked64"], to=TensorProto.DOUBLE),
        helper.make_node("Mul", ["stacked64", "member_scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "member_shift"], [MEMBERS]),
    ]
    graph = helper.make_graph(
        nodes,
        "members",
        [helper.make_tensor_value_info(INPUT, dtype, [None, n_features])],
        [helper.make_tensor_value_info(MEMBERS, TensorProto.DOUBLE, [None, len(members)])],
        initializer=initializers,
    )
    return with_stats(_model(graph, opsets))


def with_stats(model: onnx.ModelProto) -> onnx.ModelProto:
    """*model* with its ``members`` output (n × m) replaced by ``mean`` and ``std`` over members."""
    graph = model.graph
    nodes = [
        helper.make_node("Cast", [MEMBERS], ["members64"], to=TensorProto.DOUBLE),
        helper.make_node("ReduceMean", ["members64"], ["mean_kept"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["members64", "mean_kept"], ["centred"]),
        helper.make_node("Mul", ["centred", "centred"], ["squared"]),
        helper.make_node("ReduceMean", ["squared"], ["variance"], axes=[1], keepdims=0),
        helper.make_node("Sqrt", ["variance"], ["std"]),
        helper.make_node("ReduceMean", ["members64"], ["mean"], axes=[1], keepdims=0),
    ]
    graph.node.extend(nodes)
    del graph.output[:]
    graph.output.extend(
        [
            helper.make_tensor_value_info("mean", TensorProto.DOUBLE, [None]),
            helper.make_tensor_value_info("std", TensorProto.DOUBLE, [None]),
        ]
    )
    onnx.checker.check_model(model)
    return model


def _model(graph: onnx.GraphProto, opsets: dict[str, int]) -> onnx.ModelProto:
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(domain, version) for domain, version in sorted(opsets.items())],
        producer_name="molops",
    )
    model.ir_version = min(model.ir_version, 9)  # readable by onnxruntime releases of the last years
    return model
