"""Summaries of a dataset and of an ingest as plain values, for any front end to show (the CLI's
tables, the demo's reporters, ``--json``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from molops.data.ingest import IngestReport


def target_stats(frame: pd.DataFrame, targets: list[str]) -> list[dict[str, Any]]:
    """Per target of a dataset version: count, mean, spread, range, replicated and disagreeing molecules."""
    stats = []
    for t in targets:
        col = frame[t].dropna()
        stats.append(
            {
                "target": t,
                "count": int(col.size),
                "mean": float(col.mean()) if col.size else None,
                "std": float(col.std()) if col.size > 1 else None,
                "min": float(col.min()) if col.size else None,
                "max": float(col.max()) if col.size else None,
                "replicated": int((frame[f"{t}_n"] > 1).sum()),
                "disagreeing": int(frame[f"{t}_disagree"].sum()),
            }
        )
    return stats


def ingest_rows(report: IngestReport) -> list[list[Any]]:
    """The rows of an ingest's summary table: what came in, what was kept, why rows were rejected."""
    rows: list[list[Any]] = [
        ["rows in", report.rows_in],
        ["accepted molecules", report.accepted],
        ["merged duplicates", report.merged_duplicates],
        ["quarantined", report.quarantined],
        ["new molecules", report.added],
        ["updated molecules", report.updated],
        ["replicates disagreeing", report.flagged_replicates],
    ]
    return rows + [[f"  rejected: {reason}", n] for reason, n in report.reasons.items()]
