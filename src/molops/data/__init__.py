"""Data: readers, validation into accepted/quarantined rows, and versioned dataset storage.

The names below are imported on first use, so a worker process that imports only
``molops.data.validation`` does not import pandas, pyarrow and deltalake with them.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from molops.data.dataset import Dataset, DatasetDiff, RollbackReport
    from molops.data.ingest import IngestReport
    from molops.data.store import VersionInfo
    from molops.data.validation import REASONS

_HOMES = {
    "Dataset": "molops.data.dataset",
    "DatasetDiff": "molops.data.dataset",
    "RollbackReport": "molops.data.dataset",
    "IngestReport": "molops.data.ingest",
    "VersionInfo": "molops.data.store",
    "REASONS": "molops.data.validation",
}

__all__ = ["REASONS", "Dataset", "DatasetDiff", "IngestReport", "RollbackReport", "VersionInfo"]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'molops.data' has no attribute {name!r}")
    return getattr(import_module(home), name)
