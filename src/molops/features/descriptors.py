"""RDKit 2D descriptors: interpretable physchem properties as a dense float vector.

Values are raw (unscaled): models fit their own scaler and store it with the model, so the cache
stays valid for every model. Values RDKit cannot compute, or that overflow float32, are NaN.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from rdkit import Chem

from molops.chem.properties import RDKIT_DESCRIPTORS
from molops.features.base import FEATURIZERS, Featurizer, FeaturizerParams

#: A small, fast, interpretable set (also what drift monitoring reports on).
BASIC = (
    "MolWt",
    "MolLogP",
    "TPSA",
    "NumHDonors",
    "NumHAcceptors",
    "NumRotatableBonds",
    "RingCount",
    "NumAromaticRings",
    "FractionCSP3",
    "HeavyAtomCount",
    "qed",
)
_ALL = RDKIT_DESCRIPTORS  # name → function, as shipped by the installed RDKit
_F32_MAX = float(np.finfo(np.float32).max)


class DescriptorParams(FeaturizerParams):
    set: Literal["all", "basic"] = "all"


@FEATURIZERS.register("rdkit2d")
class RDKit2D(Featurizer[DescriptorParams]):
    """All RDKit 2D descriptors (``set=all``, ~200) or a basic interpretable set (``set=basic``)."""

    name = "rdkit2d"
    kind = "dense"
    Params: ClassVar[type[FeaturizerParams]] = DescriptorParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        chosen = BASIC if self.params.set == "basic" else tuple(_ALL)
        self.names: tuple[str, ...] = chosen
        self._functions = [_ALL[n] for n in chosen]

    @property
    def dim(self) -> int:
        return len(self.names)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_functions", None)  # some of RDKit's descriptor functions are lambdas
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._functions = [_ALL[n] for n in self.names]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "names": list(self.names)}

    def featurize_mol(self, mol: Chem.Mol, out: np.ndarray) -> None:
        for i, fn in enumerate(self._functions):
            try:
                value = float(fn(mol))
            except Exception:  # individual RDKit descriptors fail on unusual molecules
                value = float("nan")
            out[i] = value if abs(value) <= _F32_MAX else float("nan")
