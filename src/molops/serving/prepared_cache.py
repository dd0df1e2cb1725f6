"""Prepared molecules kept by SMILES, so that a molecule asked for again skips its chemistry.

Standardising a molecule (with its InChIKey) and featurising it costs about a millisecond, several
times what the model itself spends on it in a micro-batch; services are often asked about the same
molecules again (a project's compounds, a screening list paged through). The cache keeps the
*preparation* of a molecule, never a prediction: the key is the bundle's :class:`Preparation`
(standardiser settings, featurizer, applicability) and the input text, and every answer still comes
from the model version loaded at the time, so a promotion can never be answered from the cache.
Only molecules prepared without error are kept: a timeout or a crashed child is not a property of
the molecule, and invalid input is cheap to refuse again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from molops.tracking.preparation import Preparation, PreparedMolecule


class PreparedCache:
    """A thread-safe LRU map ``(preparation, SMILES) → PreparedMolecule`` of at most *size* entries.

    Shared by the served models of one worker (a primary and its shadow often prepare alike); the
    micro-batchers call it from their model threads.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"a prepared-molecule cache holds at least 1 molecule, not {size}")
        self.size = size
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[tuple[Preparation, str], PreparedMolecule] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get_many(self, preparation: Preparation, smiles: Sequence[str]) -> list[PreparedMolecule | None]:
        """The kept preparation of each SMILES, None where there is none (counted as hits, misses)."""
        found: list[PreparedMolecule | None] = []
        items = self._items
        with self._lock:
            for text in smiles:
                item = items.get((preparation, text))
                if item is not None:
                    items.move_to_end((preparation, text))
                found.append(item)
            hits = sum(item is not None for item in found)
            self.hits += hits
            self.misses += len(found) - hits
        return found

    def put_many(
        self, preparation: Preparation, smiles: Sequence[str], items: Sequence[PreparedMolecule]
    ) -> None:
        """Keep the molecules prepared without error, evicting the least recently used beyond *size*."""
        kept = self._items
        with self._lock:
            for text, item in zip(smiles, items, strict=True):
                if item.error is not None:
                    continue
                for array in (item.features, item.fingerprint):
                    if array is not None:
                        array.setflags(write=False)  # shared by every answer that reuses it
                kept[(preparation, text)] = item
                kept.move_to_end((preparation, text))
            while len(kept) > self.size:
                kept.popitem(last=False)
