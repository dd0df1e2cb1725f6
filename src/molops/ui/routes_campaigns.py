"""Campaigns: the list, one campaign's progress, budget and proposals, and uploading lab results
(the same ingest as ``molops campaign ingest``: same validation, same quarantine report)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from molops.active.campaign import Campaign
from molops.active.decisions import REJECT_REASONS
from molops.active.store import campaign_overview
from molops.errors import InputFileError
from molops.ui.campaign_view import campaign_status, progress_chart, proposals_page
from molops.ui.context import ActingWorkspace, Viewer
from molops.ui.deps import NotFound, UiRoute, authorize, render, ui, viewer
from molops.ui.paging import frame_page

router = APIRouter(route_class=UiRoute)
Who = Annotated[Viewer, Depends(viewer)]
#: The result files an upload may be (as ``campaign ingest`` reads them).
UPLOAD_SUFFIXES = (".csv", ".tsv", ".sdf", ".csv.gz", ".tsv.gz", ".sdf.gz")
MAX_UPLOAD_BYTES = 100 * 1024 * 1024


@router.get("/ui/campaigns", response_class=HTMLResponse)
def campaigns(request: Request, who: Who) -> HTMLResponse:
    rows = campaign_overview(ui(request).ws)
    return render(request, "campaigns.html", who, title="Campaigns", campaigns=rows)


@router.get("/ui/campaigns/{name}", response_class=HTMLResponse)
def campaign(
    request: Request, who: Who, name: str, iteration: int | None = None, page: int = 1, done: str = ""
) -> HTMLResponse:
    ws = ui(request).ws
    found = Campaign.open(ws, name)
    status = campaign_status(ws, found)
    numbers = [it["iteration"] for it in status.iterations]
    shown = iteration if iteration is not None else (numbers[-1] if numbers else None)
    if shown is not None and shown not in numbers:
        raise NotFound(
            f"campaign {name!r} has no iteration {shown}; iterations: {', '.join(map(str, numbers))}"
        )
    grid, review = proposals_page(ws, found, status, shown, page) if shown is not None else (None, None)
    return render(
        request,
        "campaign.html",
        who,
        title=f"Campaign {name}",
        status=status,
        chart=progress_chart(status),
        shown=shown,
        grid=grid,
        review=review,
        reasons=REJECT_REASONS,
        done=done,
        page_number=page,
        # the registered model of the campaign's dataset and target, as `molops train` names it
        explain_model=f"{status.config['dataset']}-{status.config['objective']['target']}",
    )


def _upload_name(filename: str | None) -> str:
    """A safe local name keeping the uploaded file's name (recorded as the ingest's source)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename or "").name) or "results"
    if not name.lower().endswith(UPLOAD_SUFFIXES):
        raise InputFileError(
            f"{filename or 'the upload'}: not a results file; expected one of: {', '.join(UPLOAD_SUFFIXES)}"
        )
    return name


def _save_upload(upload: UploadFile, path: Path) -> None:
    """Copy the upload to *path*, refusing one over :data:`MAX_UPLOAD_BYTES` as soon as it is."""
    written = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(1 << 20):
            written += len(chunk)
            if written > MAX_UPLOAD_BYTES:
                raise InputFileError(
                    f"{upload.filename}: larger than {MAX_UPLOAD_BYTES >> 20} MiB; ingest it with "
                    "`molops campaign ingest`"
                )
            out.write(chunk)


@router.post("/ui/campaigns/{name}/results", response_class=HTMLResponse)
def upload(
    request: Request,
    who: Who,
    name: str,
    results: UploadFile,
    smiles_col: Annotated[str, Form()] = "",
    target_col: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> HTMLResponse:
    authorize(request, who, "review", csrf_token)
    acting = ActingWorkspace(ui(request).ws, who.name)
    found = Campaign.open(acting, name)
    with tempfile.TemporaryDirectory(prefix="molops-upload-") as tmp:
        path = Path(tmp) / _upload_name(results.filename)
        _save_upload(results, path)
        result = found.ingest(
            path, smiles_col=smiles_col.strip() or None, target_col=target_col.strip() or None
        )
    report = result.report
    dataset = found.load().config.dataset
    quarantine = acting.dataset(dataset).quarantine(report["version"]) if report["quarantined"] else None
    return render(
        request,
        "ingest.html",
        who,
        title=f"Results for {name}",
        name=name,
        dataset=dataset,
        result=result,
        report=report,
        quarantine=frame_page(quarantine, 1, per_page=200) if quarantine is not None else None,
    )
