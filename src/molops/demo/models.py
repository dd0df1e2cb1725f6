"""The demo's steps 8–9: explore the zoo, register a champion, tune a challenger, predict ChEMBL."""

from __future__ import annotations

from typing import Any

from molops.demo.common import DEMO_MODEL, chembl_pool
from molops.demo.reporting import DemoReporter
from molops.workspace import Workspace

#: The models the demo explores: the quick ones (``molops train --model auto`` adds the D-MPNN).
DEMO_CANDIDATES = ["rf", "lightgbm", "gp"]


def demo_models(ws: Workspace, report: DemoReporter) -> dict[str, Any]:
    """Explore the zoo, register a champion, tune a challenger, and predict the ChEMBL pool.

    Training happens on the demo's first run only; later runs show the registered versions.
    """
    from molops.data.prediction_log import PredictionLog
    from molops.tracking.predict import predict_file
    from molops.tracking.registry import CHAMPION, ModelRegistry
    from molops.tracking.store import Tracking
    from molops.tracking.training import TrainRequest, train

    registry = ModelRegistry(Tracking.of(ws).uri, ws.config.tracking.user)
    report.step(
        8, "Models", ": explore the zoo on a 20% subsample, train the winner on FreeSolv, register it"
    )
    trained = []
    if DEMO_MODEL not in registry.names():

        def log(message: str) -> None:
            report.log(f"   {message}")

        first = train(ws, TrainRequest(dataset="freesolv", model="auto", candidates=DEMO_CANDIDATES), log=log)
        trained.append(first.model_dump())
        if first.comparison:
            report.table(
                "Model exploring (cross-validated RMSE on the subsample)",
                ["model", "featurizer", "cv rmse", "seconds"],
                [
                    [r["model"], r["featurizer"].split(":")[0], f"{r['cv_rmse']:.3f}", f"{r['seconds']:.1f}"]
                    for r in first.comparison
                ],
            )
        report.note(
            f"   ...then tune {first.model} with Optuna (a challenger; promote it by hand or by the gate)"
        )
        second = train(
            ws,
            TrainRequest(
                dataset="freesolv", model=first.model, featurizer=first.featurizer, tune=True, trials=10
            ),
            log=log,
        )
        trained.append(second.model_dump())
    info = registry.show(DEMO_MODEL)
    report.table(
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
        report.step(
            9,
            "Batch prediction",
            f" of {summary['n']} ChEMBL molecules with {mv.name}@{CHAMPION} "
            f"→ {out_file} ({summary['errors']} rows with errors, {summary['seconds']:.1f} s)",
        )
    else:
        summary = {"output": str(out_file), "skipped": True}
        report.step(9, "Batch prediction", f" of the ChEMBL molecules: done by an earlier run → {out_file}")
    return {"trained": trained, "registered": info, "predictions": summary}
