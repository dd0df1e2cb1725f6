"""What a campaign reads: its config and pool file (checked once at create) and its training set
(the measured molecules of a dataset version with their features, read at each propose)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from molops._version import __version__
from molops.active.costs import check_costs
from molops.active.errors import CampaignError
from molops.active.filters import Filters
from molops.active.recipe import Recipe
from molops.active.state import Budget, CampaignConfig, Objective
from molops.active.stopping import StoppingRules
from molops.active.store import CampaignStore, now
from molops.data.dataset import Dataset
from molops.data.readers import RecordReader
from molops.data.sources import Source, detect_format
from molops.errors import ColumnNotFoundError, InputFileError
from molops.workspace import Workspace

#: Fewest labelled molecules a model is trained on.
MIN_TRAIN = 5


def new_config(
    ws: Workspace,
    name: str,
    *,
    dataset: str,
    pool: str | Path,
    objective: Objective,
    recipe: Recipe | None,
    batch_size: int,
    budget: Budget | None,
    filters: Filters | None,
    smiles_col: str | None,
    stopping: StoppingRules | None,
    cost_col: str | None,
) -> CampaignConfig:
    """A new campaign's config, every part checked up front: the dataset and its target, the batch
    size, the stopping rules and the budget against what they need, the pool file and its columns,
    the recipe."""
    ds = ws.existing_dataset(dataset)
    targets = ds.targets()
    if objective.target not in targets:
        raise CampaignError(
            f"dataset {dataset!r} has no target {objective.target!r}; its targets: {', '.join(targets)}"
        )
    if batch_size < 1:
        raise CampaignError(f"--batch-size must be at least 1; got {batch_size}")
    stopping = stopping or StoppingRules()
    if stopping.hits is not None and objective.threshold is None:
        raise CampaignError("--stop-hits needs --threshold, the value that makes a measurement a hit")
    budget = budget or Budget()
    if budget.cost is not None and cost_col is None:
        raise CampaignError("--budget-cost needs --cost-col, the pool column with each molecule's cost")
    pool_path = Path(pool).expanduser().resolve()
    check_pool(pool_path, smiles_col, cost_col)
    recipe = (recipe or Recipe()).check().canonical()
    return CampaignConfig(
        name=name,
        dataset=dataset,
        pool=str(pool_path),
        smiles_col=smiles_col,
        cost_col=cost_col,
        objective=objective,
        recipe=recipe,
        batch_size=batch_size,
        budget=budget,
        stopping=stopping,
        filters=filters or Filters(),
        created=now(),
        created_by=ws.audit.user,
        molops_version=__version__,
    )


def training_set(
    store: CampaignStore,
    cfg: CampaignConfig,
    ds: Dataset,
    version: int,
    specs: list[str],
    rows: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The measured molecules with features in every cache, and their inputs: the joined
    features, or the standardised SMILES when there are no *specs* (a model that reads SMILES).
    *rows*: other molecules of the version than those with a value for ``cfg.objective``."""
    train = store._measured(version) if rows is None else rows
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
