"""Chemistry: parsing, standardisation and identity of molecules (RDKit)."""

from molops.chem.standardize import Rejected, Standardized, Standardizer, StandardizerSettings

__all__ = ["Rejected", "Standardized", "Standardizer", "StandardizerSettings"]
