"""Chemistry: parsing, standardisation and identity of molecules (RDKit).

The names below are imported on first use, so ``molops.config`` can take the default element
list from ``molops.chem.elements`` without loading RDKit.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from molops.chem.standardize import Rejected, Standardized, Standardizer, StandardizerSettings

__all__ = ["Rejected", "Standardized", "Standardizer", "StandardizerSettings"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'molops.chem' has no attribute {name!r}")
    return getattr(import_module("molops.chem.standardize"), name)
