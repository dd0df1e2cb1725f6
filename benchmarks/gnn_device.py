"""D-MPNN on the GPU against the CPU (issues 5 and 6): training time and pool-scoring rate.

Prints ONE JSON object on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/gnn_device.py                          # every device torch sees
    .venv/bin/python benchmarks/gnn_device.py --fit-molecules 2000 --score-molecules 20000

Protocol: molops' D-MPNN (chemprop v2; one member, no early stopping, otherwise its defaults) is
trained for --epochs epochs on the first --fit-molecules molecules of the Enamine docking set (after
an untimed one-epoch fit on 64 molecules that pays the device's start-up), then
scores --score-molecules molecules (the set repeated), on each accelerator: the GPU when torch sees
one, and the CPU (all cores). Scoring is timed with the graphs built in the scoring process
(num_workers 0) and in each of --workers DataLoader process counts (--cpu-workers on the CPU). The
graphs are built by ``molops.features.graph.batch_graphs`` (the D-MPNN's prediction loader); the
rate one process builds them at (parse, graphs, tensors; CPU seconds) is reported beside, so
scoring rates can be read against k processes × that rate. Then one ``campaign propose`` through the
library (the default 3-member D-MPNN trained on --campaign-measured measured molecules, the whole
set as the pool; its default loader processes) reports the campaign's own scoring rate on the
default accelerator.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "enamine10k_scores.csv.gz"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def on_device(accelerator: str, smiles: np.ndarray, y: np.ndarray, pool: np.ndarray, args: Any) -> dict:
    """Fit on *smiles*, then score *pool*, with the D-MPNN on one accelerator."""
    from molops.models.zoo.dmpnn import DMPNN

    params = {"n_members": 1, "uncertainty": "mve", "epochs": args.epochs, "patience": None,
              "val_fraction": 0.0, "accelerator": accelerator}  # fmt: skip
    DMPNN(**params | {"epochs": 1}).fit(smiles[:64], y[:64])  # warm-up: CUDA context, kernels, Lightning
    model = DMPNN(**params)
    t = time.perf_counter()
    model.fit(smiles, y)
    synchronize()
    fit_s = time.perf_counter() - t
    row: dict[str, Any] = {
        "accelerator": accelerator,
        "fit_molecules": len(smiles),
        "epochs": args.epochs,
        "fit_s": round(fit_s, 2),
        "fit_s_per_epoch": round(fit_s / args.epochs, 3),
    }
    log(f"{accelerator}: fit {fit_s:.1f} s")
    counts = args.workers if accelerator == "gpu" else args.cpu_workers
    for workers in sorted({0, *(min(k, (os.cpu_count() or 1) - 1) for k in counts)}):
        model.params = model.params.model_copy(update={"num_workers": workers})
        model.predict(pool[:1024])  # warm: the networks onto the device, worker start-up paid once
        t = time.perf_counter()
        mean, _ = model.predict(pool)
        synchronize()
        seconds = time.perf_counter() - t
        row[f"score_molecules_per_s_workers_{workers}"] = round(len(pool) / seconds, 1)
        log(f"{accelerator}: scored {len(pool)} with {workers} loader workers in {seconds:.1f} s")
        assert np.isfinite(mean).all()
    return row


def graph_build_rate(pool: np.ndarray) -> dict[str, Any]:
    """Prediction batches (parse, graphs, tensors) built per CPU-second by one process, as a loader
    process builds them."""
    from molops.models.zoo._graph_data import PREDICT_BATCH, SmilesBatches

    smiles = pool[: 10 * PREDICT_BATCH]
    batches = SmilesBatches("dmpnn", smiles, None, PREDICT_BATCH)
    batches[0]  # imports
    t = time.process_time()
    for i in range(len(batches)):
        batches[i]
    return {"molecules": len(smiles), "per_cpu_s": round(len(smiles) / (time.process_time() - t))}


def campaign_propose(frame: pd.DataFrame, args: Any) -> dict[str, Any]:
    """One propose through the campaign code: D-MPNN defaults, the whole set as the pool."""
    from molops.active import Campaign, Objective, Recipe
    from molops.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="molops-gnn-") as tmp:
        measured = Path(tmp) / "measured.csv"
        frame.iloc[: args.campaign_measured].to_csv(measured, index=False)
        ws = Workspace.init(Path(tmp) / "ws")
        ws.dataset("enamine").ingest(measured, smiles_col="smiles", target_col="score")
        Campaign.create(
            ws, "gnn", dataset="enamine", pool=args.data, objective=Objective(target="score", maximize=False),
            recipe=Recipe(model="dmpnn"), batch_size=100,
        )  # fmt: skip
        t = time.perf_counter()
        result = Campaign.open(ws, "gnn").propose()
        it = result.iteration
        return {
            "measured": it.n_train,
            "pool_rows": it.pool_rows,
            "scored": it.scored,
            "seconds": round(time.perf_counter() - t, 2),
            "seconds_scoring": it.seconds_scoring,
            "molecules_per_s": it.molecules_per_s,
            "proposed": it.proposed,
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--fit-molecules", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--score-molecules", type=int, default=50_000)
    parser.add_argument(
        "--workers", default="4,8,15", help="comma-separated loader process counts on the GPU"
    )
    parser.add_argument("--cpu-workers", default="8", help="the same on the CPU")
    parser.add_argument("--campaign-measured", type=int, default=1000, help="0: skip the campaign propose")
    parser.add_argument("--devices", default="auto", help="comma-separated of gpu, cpu (auto: both if a GPU)")
    args = parser.parse_args()
    args.workers = [int(k) for k in args.workers.split(",")]
    args.cpu_workers = [int(k) for k in args.cpu_workers.split(",")]
    import torch

    frame = pd.read_csv(args.data)[["smiles", "score"]]
    smiles = frame["smiles"].to_numpy(dtype=object)
    fit_x, fit_y = smiles[: args.fit_molecules], frame["score"].to_numpy()[: args.fit_molecules]
    pool = np.resize(smiles, args.score_molecules)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    devices = (["gpu", "cpu"] if gpu else ["cpu"]) if args.devices == "auto" else args.devices.split(",")
    graph_build = graph_build_rate(pool)
    log(f"graphs: {graph_build['per_cpu_s']} molecules per CPU-second in one process")
    rows = [on_device(d, fit_x, fit_y, pool, args) for d in devices]
    campaign = campaign_propose(frame, args) if args.campaign_measured else None
    print(json.dumps({
        "benchmark": "gnn_device",
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "gpu": gpu},
        "graph_build_one_process": graph_build,
        "results": rows,
        "campaign_propose": campaign,
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
