"""The D-MPNN (chemprop) as one ONNX graph: every member's message passing, pooling and head on
batched molecular graphs, with the target un-scaling and the ensemble's mean and std.

Inputs (dynamic axes): ``V`` atoms × 72, ``E`` directed edges × 14, ``edge_index`` 2 × edges,
``rev_edge_index`` edges, ``batch`` atoms, ``atoms`` molecules (atoms per molecule: it fixes the
number of molecules and divides the mean pooling) and, for a model with RDKit descriptors,
``descriptors`` molecules × d (raw, float64: standardised inside the graph with the training mean and
scale, as the native model does). Outputs: ``mean`` and ``std`` (float64, the user's units, std as
the native model computes it) and ``members`` (molecules × members). :mod:`.chem_featurise` makes the
inputs without torch.

The graph is traced by torch's TorchScript exporter (``dynamo=False``): the torch.export-based one
needs onnxscript, a dependency molops does not otherwise have, and tracing this fixed-depth loop is
exact. The sums over neighbours are row scatters (``index_put`` with ``accumulate``, exported as
``ScatterND``, given ``reduction="add"`` afterwards: :func:`_sum_repeated_indices`): chemprop's
``scatter_reduce`` exports as an element-wise ``ScatterElements``, which onnxruntime ran ~3× slower
than the whole native model, and chemprop's pooling sizes its output from the data
(``batch.max()``), which tracing would freeze to the example batch.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from molops.models.onnx_export import OnnxExportError
from molops.models.onnx_export.chem_featurise import GRAPH_INPUTS, NAME, batch_graphs, matches_chemprop
from molops.models.onnx_export.graphs import OPSET

#: ONNX metadata an exported D-MPNN carries, read back by its runtime
META_FEATURISER = "molops.graph_featuriser"
META_DESCRIPTORS = "molops.descriptors"
DESCRIPTORS = "descriptors"
OUTPUTS = ("mean", "std", "members")
#: molecules the graph is traced on: together they have atoms and bonds of every kind it needs
_EXAMPLE = ("CCO", "c1ccccc1O", "C")


def dmpnn_graph(model: Any) -> onnx.ModelProto:
    """The fitted D-MPNN *model* as an ONNX graph (inputs and outputs in the module docstring)."""
    import torch
    from rdkit import Chem

    from molops.features.graph import GraphFeaturizer

    why = matches_chemprop(GraphFeaturizer().chemprop_featurizer())
    if why is not None:
        raise OnnxExportError(
            f"model kind 'dmpnn' cannot be exported to ONNX: {why}, which molops' ONNX featuriser "
            "does not reproduce"
        )
    scaling = model._scaling()
    members = _members_module()(model, scaling).eval()
    graphs = batch_graphs([Chem.MolFromSmiles(s) for s in _EXAMPLE])
    feeds = {k: torch.from_numpy(v) for k, v in graphs.feeds().items()}
    names = list(GRAPH_INPUTS)
    dynamic: dict[str, dict[int, str]] = {
        "V": {0: "n_atoms"},
        "E": {0: "n_edges"},
        "edge_index": {1: "n_edges"},
        "rev_edge_index": {0: "n_edges"},
        "batch": {0: "n_atoms"},
        "atoms": {0: "n_molecules"},
    }
    if scaling is not None:
        names.append(DESCRIPTORS)
        feeds[DESCRIPTORS] = torch.zeros((len(_EXAMPLE), len(scaling[0])), dtype=torch.float64)
        dynamic[DESCRIPTORS] = {0: "n_molecules"}
    for output in OUTPUTS:
        dynamic[output] = {0: "n_molecules"}
    # torch says the TorchScript exporter is deprecated (see the module docstring for why it is used)
    with (
        tempfile.TemporaryDirectory(prefix="molops-dmpnn-onnx-") as tmp,
        warnings.catch_warnings(),
        torch.inference_mode(),
    ):
        warnings.simplefilter("ignore", DeprecationWarning)
        path = Path(tmp) / "dmpnn.onnx"
        torch.onnx.export(
            members,
            tuple(feeds[name] for name in names),
            path,
            dynamo=False,
            opset_version=OPSET,
            input_names=names,
            output_names=list(OUTPUTS),
            dynamic_axes=dynamic,
        )
        graph = onnx.load(path)
    _sum_repeated_indices(graph)
    graph.producer_name = "molops"
    graph.ir_version = min(graph.ir_version, 9)  # as the other exports: readable by older runtimes
    onnx.helper.set_model_props(
        graph, {META_FEATURISER: NAME, META_DESCRIPTORS: "rdkit2d" if scaling is not None else ""}
    )
    onnx.checker.check_model(graph)
    return graph


def _sum_repeated_indices(graph: onnx.ModelProto) -> None:
    """Make every ``ScatterND`` of *graph* add its rows (``reduction="add"``, opset 16+).

    The neighbour sums are ``index_put(..., accumulate=True)`` into zeros, which the TorchScript
    exporter writes as a ``ScatterND`` without a reduction: with an index repeated (an atom with
    several bonds) only one row would survive. Into zeros, adding them is exactly the sum.
    """
    made_by = {out: node for node in graph.graph.node for out in node.output}
    for node in graph.graph.node:
        if node.op_type != "ScatterND":
            continue
        source = made_by.get(node.input[0])
        if source is None or source.op_type != "ConstantOfShape" or not _zero(source):
            raise OnnxExportError(
                "model kind 'dmpnn' cannot be exported to ONNX: torch wrote a scatter that does not "
                "start from zeros, so its sums cannot be checked; molops does not support this torch"
            )
        node.attribute.append(onnx.helper.make_attribute("reduction", "add"))


def _zero(node: onnx.NodeProto) -> bool:
    """Whether a ``ConstantOfShape`` fills with zeros (its default, or a value of 0)."""
    values = [onnx.numpy_helper.to_array(a.t) for a in node.attribute if a.name == "value"]
    return all(not np.any(value) for value in values)


def _members_module() -> Any:
    """The torch module class (torch is imported only when a D-MPNN is exported)."""
    import torch
    from chemprop import nn as cnn
    from torch import Tensor, nn

    def neighbour_sum(n: Tensor, index: Tensor, H: Tensor) -> Tensor:
        """Rows of *H* summed into *n* rows by *index* (chemprop's scatter_reduce sum, exportable)."""
        return torch.zeros(n.shape[0], H.shape[1], dtype=H.dtype).index_put((index,), H, accumulate=True)

    class Members(nn.Module):
        """Every member of a fitted D-MPNN on one batch of graphs: chemprop's trained modules (the
        message-passing weights, batch norm, head) applied as chemprop's ``MPNN.forward`` does."""

        def __init__(self, model: Any, scaling: tuple[np.ndarray, np.ndarray] | None) -> None:
            super().__init__()
            nets = []
            for state in model._states:  # CPU copies, whatever device the model predicts on
                net = model._network()
                net.load_state_dict(state)
                nets.append(net.eval())
            self.nets = nn.ModuleList(nets)
            first = nets[0]
            if type(first.message_passing) is not cnn.BondMessagePassing:
                raise OnnxExportError(
                    "model kind 'dmpnn' cannot be exported to ONNX: its message passing is "
                    f"{type(first.message_passing).__name__}, not chemprop's BondMessagePassing"
                )
            self.mean_pool = isinstance(first.agg, cnn.MeanAggregation)
            self.norm = float(first.agg.norm) if isinstance(first.agg, cnn.NormAggregation) else 1.0
            self.mve = isinstance(first.predictor, cnn.MveFFN)
            self.y_mean, self.y_scale = float(model._y_mean), float(model._y_scale)
            self.scaling = None
            if scaling is not None:
                self.scaling = tuple(torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in scaling)

        def forward(self, *inputs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            V, E, edge_index, rev_edge_index, batch, atoms = inputs[:6]
            X_d = None if self.scaling is None else self._standardised(inputs[6])
            means, variances = [], []
            nets: list[Any] = list(self.nets)
            for net in nets:
                Z = self._encoding(net, V, E, edge_index, rev_edge_index, batch, atoms)
                if X_d is not None:
                    Z = torch.cat((Z, X_d), dim=1)
                Y = net.predictor.ffn(Z)
                means.append(Y[:, :1])
                if self.mve:  # chemprop's MveFFN: (mean, softplus(raw variance))
                    variances.append(torch.nn.functional.softplus(Y[:, 1:2]))
            # the native model un-scales float32 outputs in float64
            members = torch.cat(means, dim=1).double() * self.y_scale + self.y_mean
            mean = members.mean(dim=1)
            variance = ((members - mean.unsqueeze(1)) ** 2).mean(dim=1)
            if variances:  # law of total variance, as DMPNN.predict
                variance = variance + (torch.cat(variances, dim=1).double() * self.y_scale**2).mean(dim=1)
            return mean, variance.sqrt(), members

        def _encoding(
            self,
            net: Any,
            V: Tensor,
            E: Tensor,
            edge_index: Tensor,
            rev_edge_index: Tensor,
            batch: Tensor,
            atoms: Tensor,
        ) -> Tensor:
            """chemprop's ``BondMessagePassing.forward``, aggregation and batch norm."""
            mp = net.message_passing
            source, target = edge_index[0], edge_index[1]
            H_0 = mp.W_i(torch.cat([V[source], E], dim=1))
            H = mp.tau(H_0)
            for _ in range(1, mp.depth):
                M = neighbour_sum(V, target, H)[source] - H[rev_edge_index]
                H = mp.tau(H_0 + mp.W_h(M))
            M = neighbour_sum(V, target, H)
            H_v = mp.tau(mp.W_o(torch.cat((V, M), dim=1)))
            pooled = neighbour_sum(atoms, batch, H_v)
            if self.mean_pool:
                pooled = pooled / atoms.unsqueeze(1)
            elif self.norm != 1.0:
                pooled = pooled / self.norm
            return net.bn(pooled)  # type: ignore[no-any-return]  # chemprop's module is untyped

        def _standardised(self, raw: Tensor) -> Tensor:
            """molops' descriptor standardisation (``_graph_data.standardised``) inside the graph."""
            assert self.scaling is not None
            mean, scale = self.scaling
            z = (raw - mean) / scale
            z = torch.where(torch.isnan(z), torch.zeros_like(z), z)
            return z.clamp(-10.0, 10.0).float()

    return Members
