"""Lab results into a campaign: a new version of its dataset, each measured molecule matched to
the proposal that asked for it (by InChIKey), and the ingest's record on the campaign's state.

A proposal answered through ``molops data ingest`` counts as answered too (status reads the
dataset); this path also records which iterations the results answered, which closes their review.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pandas as pd

from molops.active.multi_results import ingest_other_objectives
from molops.active.remote import CampaignChangedError
from molops.active.results import RenamedCopy, match_results
from molops.active.review import reviewed
from molops.active.state import CampaignState, IngestRecord, IngestResult
from molops.active.store import CampaignStore, now
from molops.data.sources import detect_format

#: Commits of an ingest's record tried on top of other commands' changes (object store) before
#: giving up: its dataset version is already in, so losing a race must not lose the record.
COMMIT_TRIES = 5


def ingest_record(
    campaign: CampaignStore,
    state: CampaignState,
    frame: pd.DataFrame | None,
    *,
    source: str,
    version: int,
    before: set[str],
    unchanged: bool,
    rows_in: int,
    accepted: int,
    quarantined: int,
) -> tuple[IngestRecord, pd.DataFrame]:
    """The record of an ingest that made dataset *version* (*frame*; None when it changed nothing),
    and its results table: each measured molecule matched to *campaign*'s proposals as review left
    them, measured or not before (*before*), the table written to the campaign's results folder.

    ``campaign ingest`` and a live oracle's finished batch both record their ingest this way, so
    status, review and the results table read the same thing whichever way values came in.
    """
    target = state.config.objective.target
    proposals = reviewed(CampaignStore.proposals(campaign, state), state)
    table = match_results(frame, target, version, proposals, before)
    number = len(state.ingests) + 1
    rel = None
    if len(table):
        rel = campaign._file_name("results", f"ingest-{number:04d}")
        campaign._write_frame(rel, table)
    proposed, remeasured = table["proposed"], table["previously_measured"]
    record = IngestRecord(
        number=number,
        time=now(),
        user=campaign.ws.audit.user,
        source=source,
        dataset_version=version,
        unchanged=unchanged,
        rows_in=rows_in,
        accepted=accepted,
        quarantined=quarantined,
        answered=int((proposed & ~remeasured).sum()),
        remeasured=int((proposed & remeasured).sum()),
        unproposed=int((~proposed).sum()),
        results=rel,
        iterations=sorted({int(i) for i in table.loc[proposed, "iteration"].dropna()}),
    )
    return record, table


def ingest_results(
    campaign: CampaignStore,
    results: str | Path,
    *,
    smiles_col: str | None = None,
    target_col: str | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> IngestResult:
    """*results* as a new version of *campaign*'s dataset, matched to its proposals as review left
    them (a swapped-in molecule is a proposal, a rejected one is not), recorded on its state and in
    the audit log."""
    results = Path(results)
    with campaign._locked():
        state = campaign.load(for_update=True)
        cfg = state.config
        target = cfg.objective.target
        ds = campaign.ws.dataset(cfg.dataset)
        before = set(campaign._measured()["inchikey"])
        fmt = detect_format(results)
        if smiles_col is None and fmt != "sdf":
            smiles_col = cfg.smiles_col or "smiles"
        # several objectives: the others' columns first, so the version recorded is the first's
        others = {} if cfg.multi is None else ingest_other_objectives(ds, results, fmt, smiles_col, cfg.multi)
        with RenamedCopy(results, target_col or target, target, fmt) as path:
            report = ds.ingest(
                path,
                smiles_col=smiles_col,
                target_col=target,
                source_name=results.name,
                progress=progress,
            )
        frame = None if report.unchanged else ds.read(report.version)
        for attempt in range(COMMIT_TRIES):
            record, table = ingest_record(
                campaign,
                state,
                frame,
                source=str(results),
                version=report.version,
                before=before,
                unchanged=report.unchanged,
                rows_in=report.rows_in,
                accepted=report.accepted,
                quarantined=report.quarantined,
            )
            state.ingests.append(record)
            try:
                campaign._save(state, "ingesting results", "campaign ingest")
                break
            except CampaignChangedError:
                # another command committed first (object store); the dataset version is in
                # and ingesting the file again would change nothing, so the record must follow
                # it: on top of the state as the other command left it
                if record.results is not None:
                    campaign._discard(record.results)
                if attempt == COMMIT_TRIES - 1:
                    raise
                state = campaign.load(for_update=True)
        unproposed = table.loc[~table["proposed"], ["smiles", "inchikey", "value"]]
        open_now = campaign._open(state, before | set(table["inchikey"]))
    campaign.ws.audit.record(
        "campaign.ingest",
        campaign.name,
        report.version,
        source=results.name,
        answered=record.answered,
        unproposed=record.unproposed,
        unchanged=report.unchanged,
    )
    return IngestResult(
        campaign=campaign.name,
        ingest=record,
        report=report.model_dump() | ({"other_objectives": others} if others else {}),
        # pandas types record keys as any Hashable; these are the three columns selected above
        unproposed=cast(list[dict[str, Any]], unproposed.to_dict(orient="records")),
        open_proposals=len(open_now),
    )
