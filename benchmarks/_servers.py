"""What the serving benchmarks share: the model they serve, how each server under test starts and
is known to be ready, and the closed-loop client (``serve.py``, ``serve_open.py``, ``serve_profile.py``).

Servers run as their own processes (never side by side unless a benchmark says so) with the same
environment: the caller's, less any ``MOLOPS_``/``MLFLOW_`` settings, and the venv's ``bin`` first
on PATH (MLflow execs ``uvicorn`` by name).
"""

from __future__ import annotations

import asyncio
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

#: The API key molops is served with (its hash goes in MOLOPS_SERVE__KEYS); every request sends it.
BENCH_KEY = "mk_benchmark-key-not-secret"


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
        self.name, self.port, self.env = name, port, env
        self.argv = [str(port) if a == "PORT" else a for a in argv]
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
    errors = sent = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120)
    ) as session:

        async def client() -> None:
            nonlocal errors, sent
            while (now := time.perf_counter()) < stop_at:
                sent += 1
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
        "sent_with_warmup": sent,
        "errors": errors,
        "requests_per_s": round(len(lat) / elapsed, 1),
        "molecules_per_s": round(len(lat) * size / elapsed, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 2) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 2) if len(lat) else None,
    }


def champion(root: Path, workspace: Path | None, name: str | None) -> tuple[Path, str, int, str]:
    """(workspace, model name, champion version, tracking URI): *workspace*'s model *name*, or a
    FreeSolv rf trained under *root* when no workspace is given."""
    from molops.tracking.registry import ModelRegistry
    from molops.tracking.store import Tracking
    from molops.workspace import Workspace

    ws_root, model = (workspace.resolve(), str(name)) if workspace else train_model(root, "rf", None)
    uri = Tracking.of(Workspace.open(ws_root)).uri
    return ws_root, model, int(ModelRegistry(uri).resolve(f"{model}@champion").version), uri


def tree_cpu_seconds(root: int) -> float:
    """CPU-seconds used so far by *root* and its live descendants, plus their reaped children's
    (a child reaped during a window moves into its parent's cutime, so deltas stay right)."""
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        fields = text[text.rindex(")") + 2 :].split()  # from field 3 (state) on
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        ticks[pid] = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    children: dict[int, list[int]] = defaultdict(list)
    for pid, ppid in parent.items():
        children[ppid].append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += ticks.get(pid, 0)
        todo.extend(children[pid])
    return total / os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, Any]:
    from molops._version import __version__

    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        "",
    )  # fmt: skip
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "platform": platform.platform(),
            "python": platform.python_version(), "molops": __version__}  # fmt: skip


def server_env() -> dict[str, str]:
    """The environment every server under test starts with."""
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MOLOPS_", "MLFLOW_"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def molops_argv(ws_root: Path, name: str, version: int, *extra: str) -> list[str]:
    """``molops serve`` of NAME:VERSION from *ws_root*; PORT is replaced by the target's port."""
    bin_dir = Path(sys.executable).parent
    return [str(bin_dir / "molops"), "serve", "-w", str(ws_root), "-m", f"{name}:{version}",
            "--port", "PORT", *extra]  # fmt: skip


def mlflow_argv(name: str, version: int, workers: int) -> list[str]:
    """``mlflow models serve`` of NAME/VERSION with *workers* workers, in this venv (no conda)."""
    return [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{name}/{version}",
            "--env-manager", "local", "-h", "127.0.0.1", "-p", "PORT", "-w", str(workers)]  # fmt: skip
