"""Molecular graphs for an exported D-MPNN, from RDKit and numpy alone (no torch, no chemprop).

The featuriser is :func:`molops.features.graph.batch_graphs`, the ``graph`` featurizer's batched
path, which the native D-MPNN's prediction loader uses too: one implementation, so an export and
its model cannot drift apart. It reproduces chemprop 2's ``SimpleMoleculeMolGraphFeaturizer`` with
its defaults (``MultiHotAtomFeaturizer.v2`` atoms, 72 features; ``MultiHotBondFeaturizer`` bonds,
14; each bond as two directed edges in bond order) and chemprop's batching; a test checks equality
with chemprop's output on real molecules, and :func:`matches_chemprop` lets an export refuse a
featuriser configured otherwise.
"""

from __future__ import annotations

from molops.features.graph import (
    ATOM_DIM,
    BOND_DIM,
    GRAPH_INPUTS,
    NAME,
    GraphBatch,
    batch_graphs,
    matches_chemprop,
)

__all__ = ["ATOM_DIM", "BOND_DIM", "GRAPH_INPUTS", "NAME", "GraphBatch", "batch_graphs", "matches_chemprop"]
