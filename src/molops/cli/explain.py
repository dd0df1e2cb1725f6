"""``molops explain``: a model's prediction for each molecule, atom by atom."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from molops.cli._output import JsonOption, WorkspaceOption, emit_json, err, fmt_float, open_workspace, out

#: atoms named in the human summary of each molecule (the largest weights by size)
SHOWN_ATOMS = 3


def explain(
    ctx: typer.Context,
    model: Annotated[
        str, typer.Option("--model", "-m", help="NAME, NAME@ALIAS or NAME:VERSION (default alias: champion).")
    ],
    smiles: Annotated[list[str], typer.Argument(metavar="SMILES", help="Molecules to explain.")],
    svg: Annotated[
        Path | None,
        typer.Option("--svg", metavar="DIR", help="Write a similarity map per molecule to DIR/INCHIKEY.svg."),
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Explain a model's prediction for each SMILES as per-atom contributions.

    atom_weights has one weight per heavy atom of the standardised parent, in RDKit's atom order;
    base_value + sum(atom_weights) + remainder = prediction. Tree models (rf, lightgbm) are explained
    by TreeSHAP, every other model by masking one atom at a time. Exits 1 when some SMILES could not
    be explained (each says why); the others are still reported.
    """
    from molops.explain import check_explainable, write_svgs
    from molops.explain import explain as explain_all
    from molops.tracking.registry import ModelRegistry
    from molops.tracking.store import Tracking

    ws = open_workspace(ctx, workspace)
    registry = ModelRegistry(Tracking.of(ws).uri, ws.config.tracking.user)
    bundle, mv = registry.load(model)
    check_explainable(bundle)
    results = explain_all(bundle, smiles)
    paths = write_svgs(results, svg) if svg is not None else [None] * len(results)
    if as_json:
        emit_json(
            {
                "model_name": mv.name,
                "model_version": int(mv.version),
                "results": [
                    r.to_dict() | {"svg": None if p is None else str(p)}
                    for r, p in zip(results, paths, strict=True)
                ],
            }
        )
    else:
        for result, path in zip(results, paths, strict=True):
            _print(result.to_dict(), path)
    failed = sum(r.error is not None for r in results)
    if failed:
        err.print(f"{failed} of {len(results)} SMILES could not be explained")
        raise typer.Exit(1)


def _print(result: dict[str, Any], path: Path | None) -> None:
    if result["error"] is not None:
        err.print(f"{result['smiles']}: {result['error']}", highlight=False, markup=False)
        return
    from rdkit import Chem

    mol = Chem.MolFromSmiles(result["canonical_smiles"])
    weights = result["atom_weights"]
    top = sorted(range(len(weights)), key=lambda i: -abs(weights[i]))[:SHOWN_ATOMS]
    atoms = ", ".join(f"{mol.GetAtomWithIdx(i).GetSymbol()}{i} {weights[i]:+.3g}" for i in top)
    remainder = f", remainder {fmt_float(result['remainder'])}" if result["remainder"] else ""
    drawn = f" → {path}" if path is not None else ""
    out.print(
        f"{result['canonical_smiles']}: {fmt_float(result['prediction'])} = base "
        f"{fmt_float(result['base_value'])} + atoms ({atoms}{remainder}) [{result['method']}]{drawn}",
        highlight=False,
        markup=False,
    )
