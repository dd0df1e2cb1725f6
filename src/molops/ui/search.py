"""Molecule search in a dataset version: the same molecule (by the standardised parent's InChIKey),
a substructure (SMILES or SMARTS), or Tanimoto similarity on Morgan fingerprints.

Parsed molecules and fingerprints of a version are built on the first search and kept (a version
never changes), so later searches of the same version cost only the matching.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from molops.chem.standardize import Rejected, Standardizer, StandardizerSettings
from molops.errors import MolopsError

MODES = ("exact", "substructure", "similarity")
_FP = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)


class SearchError(MolopsError):
    """A query that cannot be searched for."""

    exit_code = 2


@dataclass
class _Index:
    smiles: list[str]
    mols: list[Chem.Mol | None] | None = None
    fps: list[Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def molecules(self) -> list[Chem.Mol | None]:
        with self.lock:
            if self.mols is None:
                self.mols = [Chem.MolFromSmiles(s) for s in self.smiles]
            return self.mols

    def fingerprints(self) -> list[Any]:
        mols = self.molecules()
        with self.lock:
            if self.fps is None:
                self.fps = [_FP.GetFingerprint(m) if m is not None else None for m in mols]
            return self.fps


class SearchIndex:
    """Parsed molecules per (dataset location, version), the few most recent kept."""

    def __init__(self, keep: int = 4) -> None:
        self._keep = keep
        self._indexes: OrderedDict[tuple[str, int], _Index] = OrderedDict()
        self._lock = threading.Lock()

    def _index(self, key: tuple[str, int], frame: pd.DataFrame) -> _Index:
        with self._lock:
            found = self._indexes.get(key)
            if found is None:
                found = self._indexes[key] = _Index([str(s) for s in frame["smiles"]])
                while len(self._indexes) > self._keep:
                    self._indexes.popitem(last=False)
            self._indexes.move_to_end(key)
            return found

    def search(
        self,
        key: tuple[str, int],
        frame: pd.DataFrame,
        query: str,
        mode: str,
        threshold: float,
        settings: StandardizerSettings,
    ) -> pd.DataFrame:
        """Rows of *frame* (one dataset version, identified by *key*) matching *query*; similarity
        searches add a ``similarity`` column and come sorted by it."""
        query = query.strip()
        if not query:
            raise SearchError("the search needs a SMILES (or a SMARTS for a substructure)")
        if mode not in MODES:
            raise SearchError(f"search mode {mode!r} is not known; expected one of: {', '.join(MODES)}")
        if mode == "exact":
            found = Standardizer(settings).standardize(query, "smiles")
            if isinstance(found, Rejected):
                raise SearchError(f"query {query!r} is not a valid molecule: {found.detail}")
            return frame[frame["inchikey"] == found.inchikey]
        index = self._index(key, frame)
        if mode == "substructure":
            pattern = Chem.MolFromSmiles(query) or Chem.MolFromSmarts(query)
            if pattern is None:
                raise SearchError(f"query {query!r} is neither a SMILES nor a SMARTS pattern")
            hits = [m is not None and m.HasSubstructMatch(pattern) for m in index.molecules()]
            return frame[np.asarray(hits, dtype=bool)]
        probe = Chem.MolFromSmiles(query)
        if probe is None:
            raise SearchError(f"query {query!r} is not a valid SMILES")
        if not 0 <= threshold <= 1:
            raise SearchError(f"similarity threshold {threshold:g} is outside 0..1")
        fps = index.fingerprints()
        present = [i for i, fp in enumerate(fps) if fp is not None]
        sims = np.zeros(len(fps))
        sims[present] = DataStructs.BulkTanimotoSimilarity(
            _FP.GetFingerprint(probe), [fps[i] for i in present]
        )
        keep = sims >= threshold
        out = frame[keep].assign(similarity=sims[keep])
        return out.sort_values("similarity", ascending=False, kind="stable")
