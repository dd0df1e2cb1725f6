"""The graph featurizer: SMILES → molecular graphs for graph neural networks (chemprop's).

A graph is not a fixed-width vector: it holds a row of atom features per atom, a row of bond
features per directed bond, and the edge index. Graphs are the D-MPNN's inputs (its data loader
builds them with this featurizer), built where a model loads its data, batch by batch, and never
stored in the feature cache: building one costs about what reading it back would. ``features
build --dataset D --featurizer graph`` checks that every molecule has a graph and reports those
that do not; for a pool it standardises the file (its identity table), since the pool's graphs
are built when it is scored. Needs the ``gnn`` extra (chemprop); without it the featurizer is
listed, and building a graph says what to install.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any, ClassVar

import numpy as np
from rdkit import Chem

from molops.features.base import (
    FEATURIZERS,
    GRAPH,
    FeatureKind,
    FeatureMatrix,
    Featurizer,
    InvalidSpecError,
)


def chemprop_version() -> str | None:
    """The installed chemprop's version, or None (the ``gnn`` extra is not installed)."""
    try:
        return importlib.metadata.version("chemprop")
    except importlib.metadata.PackageNotFoundError:
        return None


@FEATURIZERS.register(GRAPH)
class GraphFeaturizer(Featurizer):
    """Molecular graphs for graph models (chemprop v2); dim is an atom's feature width."""

    name: ClassVar[str] = GRAPH
    kind: ClassVar[FeatureKind] = "graph"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._featurizer: Any = None

    def chemprop_featurizer(self) -> Any:
        """chemprop's molecule featurizer, for chemprop's own datasets (imported on first use: torch
        is heavy)."""
        if self._featurizer is None:
            if chemprop_version() is None:
                raise InvalidSpecError(
                    "featurizer 'graph' needs chemprop, which is not installed; "
                    "install the gnn extra: pip install 'molops[gnn]'"
                )
            from chemprop.featurizers import SimpleMoleculeMolGraphFeaturizer

            self._featurizer = SimpleMoleculeMolGraphFeaturizer()
        return self._featurizer

    @property
    def dim(self) -> int:
        """Width of an atom's feature vector (a bond's is ``bond_dim``)."""
        return int(self.chemprop_featurizer().atom_fdim)

    @property
    def bond_dim(self) -> int:
        return int(self.chemprop_featurizer().bond_fdim)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(object)

    def library_versions(self) -> dict[str, str]:
        return super().library_versions() | {"chemprop": chemprop_version() or "not installed"}

    def graph(self, mol: Chem.Mol) -> Any:
        """The graph (chemprop ``MolGraph``: ``V``, ``E``, ``edge_index``, ``rev_edge_index``) of a
        sanitised molecule."""
        return self.chemprop_featurizer()(mol)

    def featurize_mol(self, mol: Chem.Mol, out: np.ndarray) -> None:
        raise TypeError("featurizer 'graph' makes graphs, not feature vectors; use graph(mol) or transform()")

    def transform(self, smiles: Any) -> FeatureMatrix:
        """One graph per SMILES (an object array); an unparsable SMILES gives an error for its row."""
        values = np.empty(len(smiles), dtype=object)
        errors: dict[int, str] = {}
        for i, text in enumerate(smiles):
            mol = Chem.MolFromSmiles(text) if text else None
            if mol is None or mol.GetNumAtoms() == 0:
                errors[i] = f"cannot parse SMILES {text[:60]!r}" if text else "empty SMILES"
                continue
            try:
                values[i] = self.graph(mol)
            except InvalidSpecError:
                raise
            except Exception as exc:  # chemprop's featurizer on an unusual molecule
                errors[i] = f"graph failed: {exc}"
        return FeatureMatrix(values, errors)
