"""Explanations on a page: a registered model's prediction for one molecule, split over its atoms
(:func:`molops.explain.explain`) and drawn as RDKit's similarity map. The model and campaign
pages link here for each of their molecules."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from rdkit import Chem

from molops.ui.context import UiContext, Viewer
from molops.ui.deps import UiRoute, render, ui, viewer

if TYPE_CHECKING:
    from molops.tracking.bundle import ModelBundle

router = APIRouter(route_class=UiRoute)
Who = Annotated[Viewer, Depends(viewer)]


class _Bundles:
    """Loaded model bundles by (name, version): loading one takes a second or more, explaining a
    molecule with it milliseconds (tree models) to a second (masking)."""

    def __init__(self, keep: int = 4) -> None:
        self._keep, self._items = keep, OrderedDict[tuple[str, int], "ModelBundle"]()
        self._lock = threading.Lock()

    def get(self, context: UiContext, ref: str) -> tuple[ModelBundle, int]:
        registry = context.registry()
        mv = registry.resolve(ref)
        key = (str(mv.name), int(mv.version))
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key], key[1]
        bundle, _ = registry.load(f"{key[0]}:{key[1]}")
        with self._lock:
            self._items[key] = bundle
            while len(self._items) > self._keep:
                self._items.popitem(last=False)
        return bundle, key[1]


_BUNDLES = _Bundles()


def _atoms(canonical: str, weights: list[float]) -> list[dict[str, Any]]:
    mol = Chem.MolFromSmiles(canonical)
    symbols = [a.GetSymbol() for a in mol.GetAtoms()] if mol is not None else ["?"] * len(weights)
    rows = [
        {"index": i, "symbol": s, "weight": w} for i, (s, w) in enumerate(zip(symbols, weights, strict=False))
    ]
    return sorted(rows, key=lambda r: -abs(r["weight"]))


@router.get("/ui/explain", response_class=HTMLResponse)
def explain_page(request: Request, who: Who, model: str = "", smiles: str = "") -> HTMLResponse:
    from molops.explain import draw_svg, explain

    context = ui(request)
    values: dict[str, Any] = {"names": context.registry().names(), "model": model, "smiles": smiles}
    values |= {"result": None, "svg": None, "atoms": [], "version": None}
    if model.strip() and smiles.strip():
        bundle, version = _BUNDLES.get(context, model.strip())
        [result] = explain(bundle, [smiles.strip()])
        values |= {"result": result, "version": version, "target": bundle.info.target}
        if result.error is None and result.canonical_smiles:
            values["svg"] = draw_svg(result, (420, 340))
            values["atoms"] = _atoms(result.canonical_smiles, result.atom_weights)
    return render(request, "explain.html", who, title="Explain a prediction", **values)
