"""Data: readers, validation into accepted/quarantined rows, and versioned dataset storage."""

from molops.data.dataset import Dataset, DatasetDiff, RollbackReport
from molops.data.ingest import IngestReport
from molops.data.store import VersionInfo
from molops.data.validation import REASONS

__all__ = ["REASONS", "Dataset", "DatasetDiff", "IngestReport", "RollbackReport", "VersionInfo"]
