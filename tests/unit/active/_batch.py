"""A campaign with one proposed batch, written through the campaign's own store (local or on an
object store): what the review tests decide on, without training a model."""

from __future__ import annotations

import numpy as np
import pandas as pd
from rdkit import Chem

from molops import Workspace
from molops.active.campaign import Campaign
from molops.active.recipe import Recipe
from molops.active.state import PROPOSAL_COLUMNS, Budget, CampaignConfig, CampaignState, Iteration, Objective

BATCH = ["c1ccccc1O", "CCOC(=O)C", "CC(C)CO", "c1ccncc1"]


def inchikey_of(smiles: str) -> str:
    return Chem.MolToInchiKey(Chem.MolFromSmiles(smiles))


def campaign_with_batch(
    ws: Workspace, costs: list[float] | None = None, budget: int | None = None
) -> Campaign:
    """Campaign ``c`` with one proposed iteration of :data:`BATCH`, saved through its store."""
    campaign = Campaign(ws, "c")
    config = CampaignConfig(
        name="c", dataset="d", pool="pool.csv", objective=Objective(target="y", maximize=True),
        recipe=Recipe(), budget=Budget(molecules=budget), cost_col="cost" if costs else None,
        created="2026-01-01T00:00:00+00:00", created_by="alice", molops_version="0",
    )  # fmt: skip
    n = len(BATCH)
    frame = pd.DataFrame(
        {
            "rank": np.arange(1, n + 1),
            "smiles": [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in BATCH],
            "inchikey": [inchikey_of(s) for s in BATCH],
            "predicted_mean": np.linspace(1.0, 0.5, n),
            "predicted_std": np.full(n, 0.1),
            "acquisition_score": np.linspace(1.0, 0.5, n),
            "nearest_smiles": ["C"] * n,
            "nearest_similarity": np.full(n, 0.2),
            "nearest_value": np.zeros(n),
            "reason": ["exploit"] * n,
            "cost": costs or [np.nan] * n,
            "pool_row": np.arange(n),
        },
        columns=PROPOSAL_COLUMNS,
    )
    rel = campaign._file_name("proposals", "iteration-0001")
    campaign._write_frame(rel, frame)
    iteration = Iteration(
        number=1, time="2026-01-01T00:00:00+00:00", user="bob", dataset_version=0, n_train=10,
        best_measured=1.0, recipe={}, requested=n, proposed=n, proposals=rel, pool_sha256="0" * 64,
        pool_rows=100, scored=100, excluded={}, filtered={}, cost=sum(costs) if costs else None,
        seconds=1.0, seconds_scoring=1.0, molecules_per_s=100.0,
    )  # fmt: skip
    campaign._save(CampaignState(config=config, iterations=[iteration]))
    return campaign
