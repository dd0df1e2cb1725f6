"""Datasets: the list, and one dataset's versions, molecules, diff, quarantine and search."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from molops.data.ingest import standardizer_settings
from molops.data.store import targets_of
from molops.ui.context import Viewer
from molops.ui.deps import UiRoute, render, ui, viewer
from molops.ui.paging import frame_page, page_of
from molops.ui.search import MODES, SearchIndex
from molops.ui.structures import structure_svg

router = APIRouter(route_class=UiRoute)
Who = Annotated[Viewer, Depends(viewer)]
_INDEX = SearchIndex()
#: Rows of a search result drawn as structures (the rest are listed by SMILES).
DRAWN = 24


@router.get("/ui/datasets", response_class=HTMLResponse)
def datasets(request: Request, who: Who) -> HTMLResponse:
    ws = ui(request).ws
    rows = []
    for name in ws.datasets():
        versions = ws.dataset(name).versions()
        latest = versions[-1] if versions else None
        rows.append(
            {
                "name": name,
                "versions": len(versions),
                "latest": latest.version if latest else None,
                "molecules": latest.molecules if latest else 0,
                "updated": latest.time if latest else "",
            }
        )
    return render(request, "datasets.html", who, title="Datasets", datasets=rows)


@router.get("/ui/datasets/{name}", response_class=HTMLResponse)
def dataset(
    request: Request,
    who: Who,
    name: str,
    version: int | None = None,
    page: int = 1,
    diff_from: int | None = None,
    diff_to: int | None = None,
    diff_page: int = 1,
    q_version: int | None = None,
    q_page: int = 1,
    query: str = "",
    mode: str = "substructure",
    threshold: float = 0.5,
    s_page: int = 1,
) -> HTMLResponse:
    ws = ui(request).ws
    ds = ws.existing_dataset(name)
    versions = ds.versions()
    shown = ds.store.resolve(version).version
    frame = ds.read(shown).sort_values("order", kind="stable")
    targets = targets_of(list(frame.columns))
    values: dict[str, Any] = {
        "name": name,
        "versions": list(reversed(versions)),
        "shown": shown,
        "targets": targets,
        "molecules": frame_page(frame, page),
        "diff": None,
        "search": None,
        "modes": MODES,
        "query": query,
        "mode": mode,
        "threshold": threshold,
    }
    if diff_from is not None and diff_to is not None:
        diff = ds.diff(diff_from, diff_to)
        changed = [{"inchikey": c.inchikey, "smiles": c.smiles, "changes": c.changes} for c in diff.changed]
        values["diff"] = {
            "from": diff.from_version,
            "to": diff.to_version,
            "counts": diff.counts(),
            "added": page_of(diff.added, diff_page),
            "removed": page_of(diff.removed, diff_page),
            "changed": page_of(changed, diff_page),
            "page": diff_page,
        }
    quarantine = ds.quarantine(q_version)
    values["quarantine"] = frame_page(quarantine, q_page)
    values["q_version"] = q_version
    if query.strip():
        key = (ds.store.storage.root, shown)
        settings = standardizer_settings(ws.config.ingest)
        found = _INDEX.search(key, frame, query, mode, threshold, settings)
        hits = frame_page(found, s_page, per_page=DRAWN)
        for row in hits.items:
            row["svg"] = structure_svg(str(row["smiles"]))
        values["search"] = hits
    return render(request, "dataset.html", who, title=f"Dataset {name}", **values)
