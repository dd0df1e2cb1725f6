"""A campaign's page as plain values: the status the CLI prints, the progress chart, and one
iteration's proposals (a page of them, each drawn, with its measured value once answered)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd

from molops.active.campaign import Campaign
from molops.active.review import ReviewState, review_state
from molops.active.status import CampaignStatus
from molops.ui.charts import line_chart
from molops.ui.paging import Page, frame_page
from molops.ui.structures import structure_svg
from molops.workspace import Workspace

#: Proposals drawn per page of the grid.
PER_PAGE = 24
#: Statuses kept: paging through a batch, or reloading, does not recompute the campaign's status.
KEEP = 16

_statuses: OrderedDict[tuple[str, str, str, int | None], CampaignStatus] = OrderedDict()
_lock = threading.Lock()


def campaign_status(ws: Workspace, campaign: Campaign) -> CampaignStatus:
    """:meth:`Campaign.status`, kept per (campaign state, dataset version): the status is a function
    of the two (proposals files never change once written), and computing it takes a large
    campaign a good part of a second."""
    state = campaign.load()
    version = ws.dataset(state.config.dataset).latest_version()
    digest = hashlib.sha256(state.model_dump_json().encode()).hexdigest()
    key = (ws.storage.root, campaign.name, digest, version)
    with _lock:
        if key in _statuses:
            _statuses.move_to_end(key)
            return _statuses[key]
    status = campaign.status()
    with _lock:
        _statuses[key] = status
        while len(_statuses) > KEEP:
            _statuses.popitem(last=False)
    return status


def progress_chart(status: CampaignStatus) -> str:
    """Best measured value before each iteration (and now), and each batch's best."""
    obj = status.config["objective"]
    its = status.iterations
    best: list[tuple[float, float | None]] = [(it["iteration"], it["best_measured_before"]) for it in its]
    if status.best is not None:
        best.append((len(its) + 1, status.best["value"]))
    batch = [(float(it["iteration"]), it["best_in_batch"]) for it in its]
    return line_chart(
        [("best so far", best), ("best in batch", batch)],
        x_label="iteration (last point: now)",
        y_label=obj["target"],
        title=f"progress of {status.campaign}: {obj['target']} ({'max' if obj['maximize'] else 'min'}imise)",
        hline=obj.get("threshold"),
    )


def proposals_page(
    ws: Workspace, campaign: Campaign, status: CampaignStatus, iteration: int, page: int
) -> tuple[Page[dict[str, Any]], ReviewState]:
    """Page *page* of iteration *iteration*'s proposals in rank order, drawn, with measured values
    and the review decision in force on each (rejected and swapped-out ones included: the page
    shows what was proposed and what the chemists made of it)."""
    state = campaign.load()
    [it] = [it for it in state.iterations if it.number == iteration]
    # the batch as proposed (before the reviews), read alone: not every iteration's file
    frame = campaign._read_frame(it.proposals).sort_values("rank", kind="stable")
    review = review_state(campaign, iteration)
    decided = {p.id: p for p in review.proposals}
    target = status.config["objective"]["target"]
    measured = ws.dataset(status.config["dataset"]).read()
    values = measured.set_index("inchikey")[target] if target in measured else pd.Series(dtype=float)
    shown = frame_page(frame, page, PER_PAGE)
    for row in shown.items:
        value = values.get(row["inchikey"], np.nan)
        row["measured"] = None if pd.isna(value) else float(value)
        row["svg"] = structure_svg(str(row["smiles"]))
        row["review"] = decided.get(int(row["rank"]))
        swap = row["review"].swap_smiles if row["review"] is not None else None
        row["swap_svg"] = structure_svg(swap) if swap else None
    return shown, review
