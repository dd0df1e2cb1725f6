"""The demo's steps 11–12: the champion behind the REST service for a moment, then monitoring it
and retraining behind the gate."""

from __future__ import annotations

from typing import Any

from molops.demo.common import DEMO_MODEL, fmt
from molops.demo.reporting import DemoReporter
from molops.workspace import Workspace

#: What the demo asks the service: three molecules, one far from FreeSolv, and one that is not a SMILES.
DEMO_REQUEST = ["CCO", "c1ccccc1O", "CC(C)(C)c1ccc(cc1)S(=O)(=O)N", "not-a-smiles"]


def demo_serve(ws: Workspace, report: DemoReporter) -> dict[str, Any]:
    """The champion behind the REST service for a moment (on a free loopback port, in this process)."""
    import httpx

    from molops.data.prediction_log import PredictionLog
    from molops.serving.server import background, model_refs
    from molops.tracking.registry import ModelRegistry
    from molops.tracking.store import Tracking

    report.step(
        11,
        "Serving",
        ": the champion behind a REST API with uncertainty, applicability domain, "
        "metrics and a prediction log (`molops serve`; here on a free loopback port for a moment)",
    )
    registry = ModelRegistry(Tracking.of(ws).uri, ws.config.tracking.user)
    settings = ws.config.serve.model_copy(update={"host": "127.0.0.1", "port": 0, "poll_s": 0, "keys": []})
    log = PredictionLog.of(ws)
    before = log.count()
    refs = model_refs(registry, [DEMO_MODEL], "champion")
    with (
        background(ws, settings, refs) as (url, _),
        httpx.Client(base_url=url, timeout=60, trust_env=False) as client,
    ):
        answer = client.post("/v1/predict", json={"smiles": DEMO_REQUEST}).json()
        tensor = {"name": "smiles", "shape": [1], "datatype": "BYTES", "data": ["CCCCO"]}
        v2 = client.post(f"/v2/models/{DEMO_MODEL}/infer", json={"inputs": [tensor]}).json()
        metrics = [
            line
            for line in client.get("/metrics").text.splitlines()
            if line.startswith(("molops_molecules_total", "molops_out_of_domain_total"))
        ]
    results = answer["results"]
    report.table(
        f"POST {url}/v1/predict ({results[0]['model_name']} v{results[0]['model_version']})",
        ["smiles", "mean", "std", "similarity", "in domain", "error"],
        [
            [
                r["smiles"],
                fmt(r["mean"]),
                fmt(r["std"]),
                fmt(r["applicability"]["similarity"]),
                r["applicability"]["in_domain"],
                r["error"] or "",
            ]
            for r in results
        ],
    )
    mean = next(o["data"][0] for o in v2["outputs"] if o["name"] == "mean")
    report.note(f"   Open Inference Protocol (v2): mean for CCCCO {fmt(mean)}; metrics: {'; '.join(metrics)}")
    logged = log.count() - before
    report.note(f"   prediction log: {logged} rows written by shutdown (`molops predictions export OUT.csv`)")
    return {"url": url, "results": results, "v2": v2, "logged": logged}


def demo_monitor(ws: Workspace, report: DemoReporter) -> dict[str, Any]:
    """Monitor the champion on what it predicted (the ChEMBL batch: another chemistry than FreeSolv),
    then retrain if needed: the first run trains a challenger and shows the gate's decision."""
    from molops.monitoring.monitor import monitor
    from molops.monitoring.report import write_report
    from molops.monitoring.retrain import retrain
    from molops.tracking.registry import ModelRegistry
    from molops.tracking.store import Tracking

    watched, evidence = monitor(ws, DEMO_MODEL, since="30d")
    html = write_report(watched, evidence, ws.root / "exports" / "monitor.html")
    report.step(
        12,
        "Monitoring",
        f": {DEMO_MODEL} v{watched.version} on its last {watched.window['n']} "
        f"predictions (the ChEMBL batch is another chemistry than FreeSolv): verdict {watched.verdict}",
    )
    report.table(
        "Checks",
        ["check", "verdict", "detail"],
        [[c["name"], c["verdict"], c["detail"]] for c in watched.checks],
    )
    registry = ModelRegistry(Tracking.of(ws).uri, ws.config.tracking.user)
    decided = [e for e in registry.history(DEMO_MODEL) if e.get("operation") == "retrain" and "decision" in e]
    if decided:
        result = None
        report.note(f"   report → {html}; retraining: decided by an earlier run ({decided[-1]['decision']})")
    else:
        result = retrain(ws, DEMO_MODEL, if_needed=True).model_dump()
        outcome = "promoted" if result["promoted"] else "rejected" if result["triggered"] else "not needed"
        report.note(
            f"   report → {html}; retrain --if-needed: {outcome}: {result['reason']} "
            f"(`molops models history {DEMO_MODEL}`)"
        )
    return {"report": watched.model_dump(), "html": str(html), "retrain": result}
