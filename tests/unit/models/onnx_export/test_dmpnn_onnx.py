"""The D-MPNN's ONNX export (issue 18): one graph of every member reproduces the native mean, std
and member predictions from SMILES (ensemble and mean-variance heads, every pooling, descriptors,
batch norm), int8 quantisation stays close, serving needs neither torch nor chemprop, and a
featuriser molops cannot reproduce is refused in one sentence."""

from __future__ import annotations

import subprocess
import sys
from functools import cache

import numpy as np
import onnx
import pytest

pytest.importorskip("chemprop")

from chemprop.featurizers import MultiHotAtomFeaturizer, SimpleMoleculeMolGraphFeaturizer

from molops.features.graph import GraphFeaturizer
from molops.models import get_model
from molops.models.base import InvalidModelError
from molops.models.onnx_export import OnnxExportError
from molops.models.onnx_export.convert import to_onnx
from molops.models.onnx_export.graph_runtime import GraphOnnxSurrogate, onnx_surrogate
from molops.models.onnx_export.quantize import quantize
from molops.models.zoo.dmpnn import DMPNN

from ..conftest import FAR_SMILES, freesolv

#: tiny networks, one or two epochs: seconds to fit, and predictions far from constant
TINY = {"hidden": 16, "ffn_hidden": 16, "batch_size": 16, "epochs": 2, "max_lr": 3e-3, "accelerator": "cpu"}
#: float32 layers in both runtimes, summed in different orders; FreeSolv's targets are ~1-20 kcal/mol
ATOL, RTOL = 1e-4, 1e-5
SETTINGS = {
    "ensemble-norm": {"n_members": 2},  # chemprop's default pooling: sum / 100
    "mve-mean-rdkit2d-bn": {
        "uncertainty": "mve",
        "n_members": 2,
        "aggregation": "mean",
        "descriptors": "rdkit2d",
        "batch_norm": True,
    },
    "mve-sum-depth2": {"uncertainty": "mve", "n_members": 1, "aggregation": "sum", "depth": 2},
}


@cache
def fitted(setting: str) -> DMPNN:
    train = freesolv().iloc[:120]
    model = get_model("dmpnn", **TINY, **SETTINGS[setting])
    return model.fit(train["smiles"].to_numpy(), train["expt"].to_numpy())  # type: ignore[return-value]


def held_back() -> np.ndarray:
    """FreeSolv molecules the models did not see, large drugs, and one-atom molecules and ions."""
    extra = ["C", "O", "[NH4+]", "[Na+].[Cl-]", "F/C=C/F", "C[C@H](N)C(=O)O"]
    return np.asarray([*freesolv()["smiles"].iloc[400:520], *FAR_SMILES, *extra], dtype=object)


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_graph_reproduces_mean_std_and_members(setting):
    model = fitted(setting)
    graph = to_onnx(model)
    assert [o.name for o in graph.graph.output] == ["mean", "std", "members"]
    X = held_back()
    mean, std = model.predict(X)
    served = onnx_surrogate(graph.SerializeToString(), "dmpnn")
    assert isinstance(served, GraphOnnxSurrogate) and served.inputs == "smiles"
    onnx_mean, onnx_std = served.predict(X)
    assert np.ptp(mean) > 0.01 and std.min() > 0  # predictions and spreads vary: the test can fail
    np.testing.assert_allclose(onnx_mean, mean, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(onnx_std, std, rtol=RTOL, atol=ATOL)


def test_members_output_is_each_members_prediction():
    model = fitted("ensemble-norm")
    X = held_back()
    feeds = _feeds(X)
    members = GraphOnnxSurrogate(to_onnx(model).SerializeToString(), "dmpnn")._session.run(["members"], feeds)
    np.testing.assert_allclose(members[0].T, model.member_predictions(X), rtol=RTOL, atol=ATOL)


def _feeds(X: np.ndarray) -> dict[str, np.ndarray]:
    from rdkit import Chem

    from molops.models.onnx_export.chem_featurise import batch_graphs

    return batch_graphs([Chem.MolFromSmiles(s) for s in X]).feeds()


def test_int8_quantises_the_layers_and_stays_close():
    model = fitted("ensemble-norm")
    small = quantize(to_onnx(model), "dmpnn")
    assert any(node.op_type == "MatMulInteger" for node in small.graph.node)
    X = held_back()
    mean, std = model.predict(X)
    q_mean, q_std = onnx_surrogate(small.SerializeToString(), "dmpnn").predict(X)
    diff = max(np.abs(q_mean - mean).max(), np.abs(q_std - std).max())
    assert 0 < diff < 0.1  # int8 weights move predictions, by far less than FreeSolv's spread (~4)


def test_serving_imports_neither_torch_nor_chemprop(tmp_path):
    model = fitted("mve-mean-rdkit2d-bn")
    path = tmp_path / "dmpnn.onnx"
    onnx.save(to_onnx(model), path)
    X = held_back()[:20]
    want = np.vstack(model.predict(X))
    script = (
        "import sys, json, numpy as np\n"
        "from molops.models.onnx_export.graph_runtime import onnx_surrogate\n"
        f"s = onnx_surrogate(open({str(path)!r}, 'rb').read(), 'dmpnn')\n"
        f"print(json.dumps(np.vstack(s.predict({list(X)!r})).tolist()))\n"
        "assert 'torch' not in sys.modules and 'chemprop' not in sys.modules, 'imported torch'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(np.asarray(eval(done.stdout)), want, rtol=RTOL, atol=ATOL)


def test_unparsable_smiles_is_the_native_sentence():
    served = onnx_surrogate(to_onnx(fitted("ensemble-norm")).SerializeToString(), "dmpnn")
    with pytest.raises(InvalidModelError, match=r"model 'dmpnn': row 1 of X, 'xyz', is not a SMILES RDKit"):
        served.predict(["CCO", "xyz"])


def test_a_featuriser_molops_cannot_reproduce_is_refused(monkeypatch):
    model = fitted("ensemble-norm")
    v1 = SimpleMoleculeMolGraphFeaturizer(atom_featurizer=MultiHotAtomFeaturizer.v1())
    monkeypatch.setattr(GraphFeaturizer, "chemprop_featurizer", lambda self: v1)
    with pytest.raises(OnnxExportError) as info:
        to_onnx(model)
    message = str(info.value)
    assert message.startswith("model kind 'dmpnn' cannot be exported to ONNX: its atom featuriser")
    assert "MultiHotAtomFeaturizer.v2" in message and "\n" not in message
