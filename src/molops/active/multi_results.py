"""Results in a campaign with several objectives: one results file with a column per objective, and
the Pareto front its measured molecules make (what ``campaign status`` shows).

A dataset version holds one target's ingest, so a results file with several objectives' columns
becomes one version per objective: the others first, then the first objective's (the version an
ingest's record names and matches to proposals by, as in a single-objective campaign).

The front's hypervolume is in normalised utilities, as :mod:`~molops.active.multi_acquisition`
scores: each objective with a direction goes from 0 at the worst value measured (in the dataset's
latest version, over molecules with every objective measured that meet every constraint) to 1 at the
best, and the reference point sits 0.1 below 0 on each axis. So with two objectives it is at most
1.1² = 1.21, and it is comparable across iterations of one status (not across datasets).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from molops.active import pareto
from molops.active.errors import CampaignError
from molops.active.multi_acquisition import REF_MARGIN, measured_front
from molops.active.state import CampaignState, MultiObjective
from molops.data.dataset import Dataset
from molops.errors import InputFileError


def ingest_other_objectives(
    ds: Dataset,
    results: Path,
    fmt: str,
    smiles_col: str | None,
    multi: MultiObjective,
    progress: Callable[[int, int, int], None] | None = None,
) -> dict[str, Any]:
    """Ingest the values *results* has for the objectives after the first (a column named after
    each target; rows without a value skipped), each as its own dataset version. Returns each
    ingested target's report."""
    if fmt not in ("csv", "tsv", "parquet"):
        raise CampaignError(
            f"{results}: a campaign with several objectives reads results from CSV, TSV or Parquet "
            f"files, with a column per objective ({', '.join(multi.targets)}); not {fmt.upper()}"
        )
    if not results.is_file():
        raise InputFileError(f"{results}: no such file")
    sep = "\t" if fmt == "tsv" else ","
    if fmt == "parquet":
        frame = pd.read_parquet(results)
    else:
        frame = pd.read_csv(results, sep=sep, dtype=str, keep_default_na=False)
    smiles_col = smiles_col or "smiles"
    reports: dict[str, Any] = {}
    for objective in multi.objectives[1:]:
        target = objective.target
        if target not in frame.columns or smiles_col not in frame.columns:
            continue
        values = frame[target]
        rows = frame.loc[values.notna() & (values.astype(str).str.strip() != ""), [smiles_col, target]]
        if not len(rows):
            continue
        folder = Path(tempfile.mkdtemp(prefix="molops-results-"))
        # the file's own name: a dataset version records where its data came from
        path = folder / (results.name[:-3] if results.name.endswith(".gz") else results.name)
        try:
            if fmt == "parquet":
                rows.to_parquet(path, index=False)
            else:
                rows.to_csv(path, sep=sep, index=False)
            report = ds.ingest(
                path, smiles_col=smiles_col, target_col=target, source_name=results.name, progress=progress
            )
        finally:
            path.unlink(missing_ok=True)
            folder.rmdir()
        reports[target] = report.model_dump()
    return reports


def front_summary(
    state: CampaignState, measured: pd.DataFrame, proposals: pd.DataFrame
) -> dict[str, Any] | None:
    """The Pareto front of the *measured* molecules (the dataset's latest version), its hypervolume
    now and when each iteration was proposed (from the version it trained on), the reference point
    in the objectives' own units; None for a campaign with one objective."""
    multi = state.config.multi
    if multi is None:
        return None
    objectives = multi.objectives
    axes = [o for o in objectives if not o.constraint]
    values = {o.target: _column(measured, o.target) for o in objectives}
    on_front = measured_front(objectives, values) if len(measured) else np.zeros(0, dtype=bool)
    feasible = np.ones(len(measured), dtype=bool)
    for o in objectives:
        feasible &= ~np.isnan(values[o.target]) & o.meets(values[o.target])
    utility = (
        np.column_stack([o.utility(values[o.target]) for o in axes])
        if len(measured)
        else np.zeros((0, len(axes)))
    )
    low = utility[feasible].min(axis=0) if feasible.any() else np.zeros(len(axes))
    span = np.maximum(np.ptp(utility[feasible], axis=0), 1e-12) if feasible.any() else np.ones(len(axes))
    ref = np.full(len(axes), -REF_MARGIN)
    points = (utility - low) / span
    first = (
        measured["first_version"].to_numpy()
        if "first_version" in measured.columns
        else np.zeros(len(measured))
    )

    def volume(mask: np.ndarray) -> float:
        return round(pareto.hypervolume(points[mask & feasible], ref), 6)

    iteration_of = (
        dict(zip(proposals["inchikey"], proposals["iteration"], strict=False)) if len(proposals) else {}
    )
    front = measured.loc[on_front, ["smiles", "inchikey"]].assign(
        **{o.target: values[o.target][on_front] for o in objectives}
    )
    rows = [
        r | {"iteration": _int(iteration_of.get(r["inchikey"]))}
        for r in cast(list[dict[str, Any]], front.to_dict(orient="records"))
    ]
    reference = {
        o.target: float(o.utility(np.asarray([lo - REF_MARGIN * s]))[0])
        for o, lo, s in zip(axes, low, span, strict=True)
    }
    return {
        "objectives": [o.model_dump() for o in objectives],
        "acquisition": multi.acquisition,
        "reference": reference,
        "hypervolume": volume(np.ones(len(measured), dtype=bool)),
        "hypervolume_max": round((1 + REF_MARGIN) ** len(axes), 6),
        "history": [
            {
                "iteration": it.number,
                "dataset_version": it.dataset_version,
                "hypervolume_before": volume(first <= it.dataset_version),
            }
            for it in state.iterations
        ],
        "front": rows,
    }


def _column(frame: pd.DataFrame, target: str) -> np.ndarray:
    if target not in frame.columns:
        return np.full(len(frame), np.nan)
    return frame[target].to_numpy(dtype=np.float64)


def _int(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)
