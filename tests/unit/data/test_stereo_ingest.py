"""Stereoisomers measured in one file stay separate molecules through every fast path of an ingest
(strings repeated in the file, the workspace's identity cache, worker processes): cis/trans isomers
used to share an InChIKey, so their measurements were merged as replicates of one molecule."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
from rdkit import Chem

from molops.data import ingest as ingest_module
from molops.data.validation import standardized_smiles
from molops.workspace import Workspace

#: Stereoisomers (E/Z, R/S) and their unspecified parents: seven molecules, seven identities.
ISOMERS = [
    "C/C=C/C(=O)O",
    "C/C=C\\C(=O)O",
    "CC=CC(=O)O",
    "OC(=O)/C=C/C(=O)O",
    "OC(=O)/C=C\\C(=O)O",
    "C[C@H](N)C(=O)O",
    "C[C@@H](N)C(=O)O",
]


def _file(write: Callable[[str, str], Path], rows: int = 420) -> Path:
    """Each isomer under several spellings (a salt, another atom order), many times over."""
    spellings = []
    for smiles in ISOMERS:
        mol = Chem.MolFromSmiles(smiles)
        other = Chem.MolToSmiles(mol, rootedAtAtom=mol.GetNumAtoms() - 1)
        spellings += [(smiles, smiles), (smiles, other), (smiles, smiles + ".[Na+]")]
    lines = [spellings[i % len(spellings)] for i in range(rows)]
    table = "smiles,y,isomer\n" + "".join(f'"{s}",{i % 5},"{iso}"\n' for i, (iso, s) in enumerate(lines))
    return write("isomers.csv", table)


def _molecules(ws: Workspace, name: str) -> pd.DataFrame:
    return ws.dataset(name).read().sort_values("inchikey").reset_index(drop=True)


def test_isomers_stay_apart_through_cache_repeats_and_workers(tmp_path, write, monkeypatch) -> None:
    monkeypatch.setattr(ingest_module, "PARALLEL_MIN_BYTES", 0)  # a small file uses the pool too
    path = _file(write)
    ws = Workspace.init(tmp_path / "ws")
    ws.config.ingest.chunk_rows = 100

    standardized_smiles.cache_clear()
    cold = ws.dataset("cold").ingest(path, smiles_col="smiles", target_col="y", workers=1)
    assert (cold.rows_in, cold.accepted, cold.from_cache) == (420, len(ISOMERS), 0)
    molecules = _molecules(ws, "cold")
    assert len(molecules) == len(ISOMERS) == molecules["inchikey"].nunique()
    canonical = {Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in ISOMERS}
    assert set(molecules["smiles"]) == canonical

    standardized_smiles.cache_clear()  # this process remembers nothing: the cache answers
    warm = ws.dataset("warm").ingest(path, smiles_col="smiles", target_col="y", workers=1)
    assert warm.from_cache == 420

    pooled = ws.dataset("pooled")
    pooled.identities = None  # no workspace cache: the workers standardise every string
    two = pooled.ingest(path, smiles_col="smiles", target_col="y", workers=2)
    assert two.chunks == 5 and two.workers_used in (1, 2)  # the pool really ran

    for name in ("warm", "pooled"):
        pd.testing.assert_frame_equal(_molecules(ws, name), molecules)
