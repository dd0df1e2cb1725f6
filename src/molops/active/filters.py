"""Which pool molecules a campaign may propose at all: property ranges, PAINS and SMARTS exclusions,
and close analogues of the molecules its reviewers rejected.

:class:`Filters` is the stored configuration; :class:`FilterSet` compiles it once (SMARTS patterns,
the PAINS catalog, the rejected molecules' fingerprints) and gives the reason a SMILES is excluded.
RDKit per molecule costs more than the model does, so a campaign filters only its best-scored
window, in score order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field, field_validator

from molops.active.errors import CampaignError

Range = tuple[float | None, float | None]


def parse_range(text: str, option: str) -> Range:
    """``MIN:MAX`` (either side may be empty) as a (min, max) pair."""
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        low, high = (float(p) if p.strip() else None for p in parts)
    except ValueError:
        raise CampaignError(
            f"{option} {text!r} is not a range; expected MIN:MAX, e.g. 200:500 or :5"
        ) from None
    if low is not None and high is not None and low > high:
        raise CampaignError(f"{option} {text!r} is empty: its minimum exceeds its maximum")
    return low, high


class Filters(BaseModel):
    """Which candidates may be proposed at all: property ranges, PAINS and SMARTS exclusions."""

    mw: Range | None = None
    logp: Range | None = None
    hbd: int | None = Field(None, ge=0, description="most H-bond donors allowed")
    hba: int | None = Field(None, ge=0, description="most H-bond acceptors allowed")
    pains: bool = Field(False, description="exclude molecules that match RDKit's PAINS catalog")
    exclude_smarts: list[str] = Field(default_factory=list)
    #: also exclude molecules this Tanimoto-similar (Morgan bits) to one rejected in review, or
    #: more (None: only the rejected molecules themselves)
    exclude_analogues_above: float | None = Field(None, gt=0.0, le=1.0)

    @field_validator("exclude_smarts")
    @classmethod
    def _valid_smarts(cls, patterns: list[str]) -> list[str]:
        from rdkit import Chem

        for pattern in patterns:
            if not pattern.strip() or Chem.MolFromSmarts(pattern) is None:
                raise CampaignError(f"--exclude-smarts {pattern!r} is not a valid SMARTS pattern")
        return patterns

    def active(self) -> bool:
        return bool(
            self.mw or self.logp or self.hbd is not None or self.hba is not None or self.pains
        ) or bool(self.exclude_smarts or self.exclude_analogues_above is not None)


class FilterSet:
    """Compiled filters: the reason a SMILES is excluded, or None when it passes. *rejected*: the
    SMILES of the molecules rejected in review, whose analogues ``exclude_analogues_above`` excludes."""

    def __init__(self, filters: Filters, rejected: Sequence[str] = ()) -> None:
        from rdkit import Chem
        from rdkit.Chem import FilterCatalog

        self.filters = filters
        self.patterns = [(s, Chem.MolFromSmarts(s)) for s in filters.exclude_smarts]
        self.catalog = None
        if filters.pains:
            params = FilterCatalog.FilterCatalogParams()
            params.AddCatalog(FilterCatalog.FilterCatalogParams.FilterCatalogs.PAINS)
            self.catalog = FilterCatalog.FilterCatalog(params)
        #: the rejected molecules' packed fingerprints and the similarity that makes an analogue
        self.analogues: tuple[np.ndarray, float] | None = None
        if filters.exclude_analogues_above is not None and rejected:
            from molops.models.reference import fingerprints

            packed, ok = fingerprints(list(rejected))
            self.analogues = packed[ok], filters.exclude_analogues_above

    def reason(self, smiles: str) -> str | None:
        from rdkit import Chem

        from molops.chem.properties import h_bond_acceptors, h_bond_donors, logp, mol_weight

        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            return "unparsable"
        f = self.filters
        for name, rng, fn in (("mw", f.mw, mol_weight), ("logp", f.logp, logp)):
            if rng is not None:
                value = fn(mol)
                if (rng[0] is not None and value < rng[0]) or (rng[1] is not None and value > rng[1]):
                    return name
        if f.hbd is not None and h_bond_donors(mol) > f.hbd:
            return "hbd"
        if f.hba is not None and h_bond_acceptors(mol) > f.hba:
            return "hba"
        if self.catalog is not None and self.catalog.HasMatch(mol):
            return "pains"
        for text, pattern in self.patterns:
            if mol.HasSubstructMatch(pattern):
                return f"smarts:{text}"
        if self.analogues is not None and self._analogue(smiles, *self.analogues):
            return "rejected_analogue"
        return None

    @staticmethod
    def _analogue(smiles: str, rejected: np.ndarray, threshold: float) -> bool:
        from molops.models.reference import fingerprints, max_similarity

        packed, ok = fingerprints([smiles])
        return bool(ok[0]) and bool(max_similarity(packed, rejected)[0] >= threshold)
