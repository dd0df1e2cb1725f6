"""Monitoring: what was predicted (the prediction log's summary), each model's verdicts over time
with the drift statistics behind them, and the retraining decisions recorded."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from molops.data.prediction_log import PredictionLog
from molops.ui.context import Viewer
from molops.ui.deps import UiRoute, render, ui, viewer
from molops.ui.monitoring_view import check_names, overall, windows_of

router = APIRouter(route_class=UiRoute)
Who = Annotated[Viewer, Depends(viewer)]


@router.get("/ui/monitoring", response_class=HTMLResponse)
def monitoring(
    request: Request, who: Who, model: str = "", windows: int = 4, hours: int = 24, since: str = "7d"
) -> HTMLResponse:
    context = ui(request)
    ws = context.ws
    names = context.registry().names()
    rows = windows_of(ws, model, windows, max(1, hours)) if model else []
    decisions = [e for e in ws.audit.read(action="retrain") if not model or e.subject == model]
    return render(
        request,
        "monitoring.html",
        who,
        title="Monitoring",
        names=names,
        model=model,
        windows=windows,
        hours=hours,
        since=since,
        log=PredictionLog.of(ws).summary(since=since),
        rows=rows,
        checks=check_names(rows),
        verdict=overall(rows) if rows else None,
        decisions=list(reversed(decisions))[:50],
    )
