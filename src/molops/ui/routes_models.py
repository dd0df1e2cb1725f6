"""Registered models: the list, one model's versions, aliases, metrics, plots and lineage, and the
admin's promote and rollback forms (recorded as the logged-in key's name)."""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from molops.tracking.registry import CHALLENGER, CHAMPION
from molops.ui.context import UiContext, Viewer
from molops.ui.deps import NotFound, UiRoute, authorize, render, ui, viewer

router = APIRouter(route_class=UiRoute)
Who = Annotated[Viewer, Depends(viewer)]
PLOTS = ("parity", "calibration")


@router.get("/ui/models", response_class=HTMLResponse)
def models(request: Request, who: Who) -> HTMLResponse:
    rows = ui(request).registry().list()
    return render(request, "models.html", who, title="Models", models=rows)


@router.get("/ui/models/{name}", response_class=HTMLResponse)
def model(request: Request, who: Who, name: str, version: int | None = None, done: str = "") -> HTMLResponse:
    registry = ui(request).registry()
    shown = registry.show(name)
    numbers = [v["version"] for v in shown["versions"]]
    selected = (
        version if version is not None else shown["aliases"].get(CHAMPION, numbers[-1] if numbers else None)
    )
    if selected is not None and selected not in numbers:
        raise NotFound(f"model {name!r} has no version {selected}; versions: {', '.join(map(str, numbers))}")
    lineage = registry.lineage(name, selected) if selected is not None else None
    aliases = sorted({CHAMPION, CHALLENGER, *shown["aliases"]})
    return render(
        request,
        "model.html",
        who,
        title=f"Model {name}",
        model=shown,
        selected=selected,
        lineage=lineage,
        plots=PLOTS,
        aliases=aliases,
        done=done,
        history=list(reversed(shown["history"])),
    )


class _PlotCache:
    """Plot PNGs fetched from a run's artifacts, the most recent few kept in memory."""

    def __init__(self, keep: int = 64) -> None:
        self._keep, self._items = keep, OrderedDict[tuple[str, str], bytes]()
        self._lock = threading.Lock()

    def get(self, context: UiContext, run_id: str, plot: str) -> bytes | None:
        key = (run_id, plot)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        client = context.registry().client
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = client.download_artifacts(run_id, f"plots/{plot}.png", tmp)
            except Exception:  # MLflow raises several kinds for a missing artifact
                return None
            data = Path(path).read_bytes()
        with self._lock:
            self._items[key] = data
            while len(self._items) > self._keep:
                self._items.popitem(last=False)
        return data


_PLOTS = _PlotCache()


@router.get("/ui/models/{name}/versions/{version}/{plot}.png", include_in_schema=False)
def plot(request: Request, who: Who, name: str, version: int, plot: str) -> Response:
    if plot not in PLOTS:
        raise NotFound(f"plot {plot!r} is not one of: {', '.join(PLOTS)}")
    context = ui(request)
    mv = context.registry().resolve(f"{name}:{version}")
    data = _PLOTS.get(context, mv.run_id, plot) if mv.run_id else None
    if data is None:
        raise NotFound(f"version {version} of model {name!r} has no {plot} plot")
    return Response(data, media_type="image/png", headers={"Cache-Control": "max-age=86400"})


@router.post("/ui/models/{name}/promote")
def promote(
    request: Request,
    who: Who,
    name: str,
    version: Annotated[int, Form()],
    alias: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    why = _admin_with_reason(request, who, csrf_token, reason, "promote")
    result = ui(request).registry_as(who.name).promote(name, version, alias.strip(), why)
    done = "unchanged" if result["unchanged"] else f"{alias} → v{version}"
    return RedirectResponse(f"/ui/models/{quote(name)}?version={version}&done={quote(done)}", status_code=303)


@router.post("/ui/models/{name}/rollback")
def rollback(
    request: Request,
    who: Who,
    name: str,
    alias: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    why = _admin_with_reason(request, who, csrf_token, reason, "roll back")
    result = ui(request).registry_as(who.name).rollback(name, alias.strip(), why)
    done = f"{alias} rolled back to v{result['version']}"
    target = f"/ui/models/{quote(name)}?version={result['version']}&done={quote(done)}"
    return RedirectResponse(target, status_code=303)


def _admin_with_reason(request: Request, who: Viewer, csrf_token: str, reason: str, what: str) -> str:
    """Check that *who* may move an alias (an admin, with the form's token) and gave a reason; the
    reason, stripped."""
    from molops.errors import UsageError

    authorize(request, who, "admin", csrf_token)
    if not reason.strip():
        raise UsageError(f"a reason is required to {what} a model; say why in the reason field")
    return reason.strip()
