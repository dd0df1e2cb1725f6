"""The package version (single source: read by hatch and by lineage records)."""

__version__ = "0.1.0"
