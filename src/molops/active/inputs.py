"""What a campaign reads: its pool file (checked once at create) and its training set (the
measured molecules of a dataset version with their features, read at each propose)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from molops.active.costs import check_costs
from molops.active.errors import CampaignError
from molops.active.state import CampaignConfig
from molops.active.store import CampaignStore
from molops.data.dataset import Dataset
from molops.data.readers import RecordReader
from molops.data.sources import Source, detect_format
from molops.errors import ColumnNotFoundError, InputFileError

#: Fewest labelled molecules a model is trained on.
MIN_TRAIN = 5


def training_set(
    store: CampaignStore, cfg: CampaignConfig, ds: Dataset, version: int, specs: list[str]
) -> tuple[pd.DataFrame, np.ndarray]:
    """The measured molecules with features in every cache, and their inputs: the joined
    features, or the standardised SMILES when there are no *specs* (a model that reads SMILES)."""
    train = store._measured(version)
    if not specs:
        X = train["smiles"].to_numpy(dtype=object)
    else:
        blocks, valid = [], np.ones(len(train), dtype=bool)
        for spec in specs:
            store.ws.features.build_dataset(ds, spec, version=version)
            block, ok = store.ws.features.cache(spec).get(train["inchikey"].tolist())
            blocks.append(block.astype(np.float32, copy=False))
            valid &= ok
        train = train[valid].reset_index(drop=True)
        X = np.hstack([b[valid] for b in blocks])
    if len(train) < MIN_TRAIN:
        raise CampaignError(
            f"dataset {cfg.dataset!r} version {version} has {len(train)} molecules with a "
            f"{cfg.objective.target!r} value{' and features' if specs else ''}; "
            f"a campaign needs at least {MIN_TRAIN}"
        )
    return train, X


def check_pool(path: Path, smiles_col: str | None, cost_col: str | None = None) -> None:
    """The pool file exists, has a known format, the SMILES column and the cost column if one is
    named (read its header only)."""
    if not path.is_file():
        raise InputFileError(f"--pool {path}: no such file; expected a CSV, TSV, SDF, SMILES or Parquet file")
    fmt = detect_format(path)
    try:
        with Source(path) as source:
            RecordReader(source, fmt, smiles_col, cost_col, chunk_rows=16)
    except ColumnNotFoundError as exc:
        hint = "--cost-col" if cost_col is not None and repr(cost_col) in str(exc) else "--smiles-col"
        raise ColumnNotFoundError(f"--pool {exc}; pass {hint}") from None
    if cost_col is not None:
        check_costs(path, smiles_col, cost_col)
