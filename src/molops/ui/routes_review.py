"""Review of a proposed batch from the campaign page: accept or reject selected proposals (with a
reason), or swap in a chemist's own molecule; :func:`~molops.active.review.record_decisions` does
the work and records who (the logged-in key's name) and when, as ``molops campaign review`` does."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from molops.active.campaign import Campaign
from molops.active.review import ReviewResult, record_decisions
from molops.errors import UsageError
from molops.ui.context import ActingWorkspace, Viewer
from molops.ui.deps import UiRoute, authorize, ui, viewer

router = APIRouter(route_class=UiRoute)
Who = Annotated[Viewer, Depends(viewer)]


def _back(name: str, iteration: int, page: int, result: ReviewResult) -> Response:
    done = ", ".join(f"#{d.rank} {d.action}ed" for d in result.recorded)
    target = f"/ui/campaigns/{quote(name)}?iteration={iteration}&page={page}&done={quote(done)}#h-proposals"
    return RedirectResponse(target, status_code=303)


@router.post("/ui/campaigns/{name}/review")
def review(
    request: Request,
    who: Who,
    name: str,
    iteration: Annotated[int, Form()],
    action: Annotated[str, Form()],
    ids: Annotated[list[str] | None, Form()] = None,
    reason: Annotated[str, Form()] = "",
    other_reason: Annotated[str, Form()] = "",
    page: Annotated[int, Form()] = 1,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    authorize(request, who, "review", csrf_token)
    if action not in ("accept", "reject"):
        raise UsageError(f"review action {action!r} is not known; expected accept or reject")
    if not ids:
        raise UsageError("no proposal selected: tick the proposals to accept or reject")
    campaign = Campaign.open(ActingWorkspace(ui(request).ws, who.name), name)
    why = other_reason.strip() or reason.strip() or None
    if action == "accept":
        result = record_decisions(campaign, iteration, accept=ids, user=who.name)
    else:
        result = record_decisions(campaign, iteration, reject=ids, reason=why, user=who.name)
    return _back(name, iteration, page, result)


@router.post("/ui/campaigns/{name}/swap")
def swap(
    request: Request,
    who: Who,
    name: str,
    iteration: Annotated[int, Form()],
    proposal: Annotated[str, Form()],
    smiles: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
    page: Annotated[int, Form()] = 1,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    authorize(request, who, "review", csrf_token)
    campaign = Campaign.open(ActingWorkspace(ui(request).ws, who.name), name)
    result = record_decisions(
        campaign, iteration, swaps={proposal: smiles.strip()}, reason=reason.strip() or None, user=who.name
    )
    return _back(name, iteration, page, result)
