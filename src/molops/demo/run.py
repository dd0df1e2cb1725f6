"""``run_demo``: the loop built so far, end to end, on data that ships with the install.

The same call behind ``molops demo`` and in a notebook: it returns a :class:`DemoResult` and tells
its progress to a :class:`~molops.demo.reporting.DemoReporter`. A re-run reuses the workspace and
changes nothing (files already ingested are not ingested again; trained models, the campaign and
the retraining decision are shown, not redone).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel

from molops.data.ingest import IngestReport
from molops.demo.campaign import DEMO_CAMPAIGN, demo_campaign
from molops.demo.common import DEMO_MODEL
from molops.demo.datasets import demo_datasets, open_demo_workspace
from molops.demo.models import demo_models
from molops.demo.reporting import DemoReporter, Silent
from molops.demo.service import demo_monitor, demo_serve
from molops.errors import UsageError
from molops.features.build import BuildReport

#: The demo's parts in the order they run; each needs the ones before it (serving needs the models).
Part = Literal["data", "models", "campaign", "serve", "monitor"]
PARTS: tuple[Part, ...] = get_args(Part)


class DemoResult(BaseModel):
    """What the demo did: the fields of ``molops demo --json``; a part that did not run is ``None``."""

    workspace: str
    features: list[BuildReport]
    ingests: list[IngestReport]
    update: IngestReport
    versions: list[int]
    diff: dict[str, int] | None
    targets: list[dict[str, Any]]
    export: str
    models: dict[str, Any] | None = None
    campaign: dict[str, Any] | None = None
    serve: dict[str, Any] | None = None
    monitor: dict[str, Any] | None = None


def run_demo(
    directory: str | Path = "molops-demo", reporter: DemoReporter | None = None, *, through: Part = "monitor"
) -> DemoResult:
    """Create (or reuse) the workspace at *directory* and run the demo's parts up to *through*:
    ``data`` (ingest, versions, quarantine, export, features), ``models`` (explore, register, tune,
    predict), ``campaign`` (two rounds of active learning), ``serve`` (the REST service for a
    moment), ``monitor`` (drift checks and retraining behind the gate; the default: everything)."""
    if through not in PARTS:
        raise UsageError(
            f"through={through!r} is not a part of the demo; expected one of: {', '.join(PARTS)}"
        )
    report = reporter or Silent()
    last = PARTS.index(through)
    ws = open_demo_workspace(Path(directory))
    result = DemoResult(workspace=str(ws.root), **demo_datasets(ws, report))
    steps = {"models": demo_models, "campaign": demo_campaign, "serve": demo_serve, "monitor": demo_monitor}
    for part in PARTS[1 : last + 1]:
        setattr(result, part, steps[part](ws, report))
    if last == len(PARTS) - 1:
        report.note(
            "Next: `molops data versions solubility`, `molops data diff solubility 1 2`, "
            "`molops data quarantine solubility`, `molops features list`, "
            f"`molops models show {DEMO_MODEL}`, `molops models lineage {DEMO_MODEL} 1`, "
            f"`molops campaign status {DEMO_CAMPAIGN}`, "
            f"`molops serve`, `molops predictions summary`, `molops monitor -m {DEMO_MODEL}`, "
            f"`molops models history {DEMO_MODEL}` (with --workspace {ws.root})"
        )
    return result
