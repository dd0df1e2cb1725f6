"""The graph featurizer: molecular graphs for graph models, registered like every featurizer but
never cached."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("chemprop")  # the suite installs the gnn extra; this only guards a bare install

from molops.features import get_featurizer
from molops.features.base import InvalidSpecError
from molops.features.graph import GraphFeaturizer


def test_graphs_have_an_atom_row_per_atom_and_a_bond_row_per_directed_bond():
    graph = get_featurizer("graph")
    assert isinstance(graph, GraphFeaturizer) and graph.kind == "graph" and graph.spec == "graph"
    matrix = graph.transform(["CCO", "c1ccccc1", "not a smiles", ""])
    assert matrix.errors == {2: "cannot parse SMILES 'not a smiles'", 3: "empty SMILES"}
    assert list(matrix.valid) == [True, True, False, False]
    ethanol, benzene = matrix.values[0], matrix.values[1]
    assert ethanol.V.shape == (3, graph.dim) and ethanol.E.shape == (4, graph.bond_dim)
    assert benzene.V.shape == (6, graph.dim) and benzene.E.shape == (12, graph.bond_dim)
    assert benzene.edge_index.shape == (2, 12)
    with pytest.raises(TypeError, match="makes graphs, not feature vectors"):
        graph.featurize_mol(None, np.zeros(graph.dim))


def test_the_hash_covers_chemprops_version():
    graph = get_featurizer("graph")
    assert set(graph.library_versions()) == {"rdkit", "chemprop"}
    assert graph.describe()["dtype"] == "object" and len(graph.hash) == 16
    with pytest.raises(InvalidSpecError, match="has no parameter"):
        get_featurizer("graph:radius=2")


def test_without_chemprop_building_a_graph_says_what_to_install(monkeypatch):
    from molops.features import graph as module

    monkeypatch.setattr(module, "chemprop_version", lambda: None)
    graph = GraphFeaturizer()
    assert graph.library_versions()["chemprop"] == "not installed"
    with pytest.raises(InvalidSpecError, match=r"pip install 'molops\[gnn\]'"):
        graph.transform(["CCO"])


def test_graphs_are_checked_for_a_dataset_and_never_cached(tmp_path):
    from molops import Workspace

    ws = Workspace.init(tmp_path / "ws")
    data = tmp_path / "d.csv"
    data.write_text("smiles,y\nCCO,1\nc1ccccc1,2\nCC(=O)O,3\n")
    ds = ws.dataset("d")
    ds.ingest(data, smiles_col="smiles", target_col="y")
    report = ws.features.build_dataset(ds, "graph")
    counts = (report.n, report.computed, report.cached, report.invalid)
    assert report.featurizer == "graph" and counts == (3, 3, 0, 0)
    assert report.hash == get_featurizer("graph").hash
    assert ws.features.list() == []
    with pytest.raises(InvalidSpecError, match="never cached; graph models"):
        ws.features.cache("graph")


def test_the_dmpnn_builds_its_graphs_with_the_registered_featurizer(monkeypatch):
    from molops.models.zoo._graph_data import SmilesGraphs

    built: list[int] = []
    real = GraphFeaturizer.graph

    def counting(self, mol):
        built.append(mol.GetNumAtoms())
        return real(self, mol)

    monkeypatch.setattr(GraphFeaturizer, "graph", counting)
    datum = SmilesGraphs("dmpnn", np.array(["CCO", "c1ccccc1"], dtype=object))[1]
    assert built == [6] and datum.mg.V.shape == (6, get_featurizer("graph").dim)
