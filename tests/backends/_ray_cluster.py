"""A throwaway two-node Ray cluster on this machine, made with ``ray start`` as a team would.

The head (``ray start --head``) and a second node (``ray start --address=HEAD``) are separate
process trees, each started in a session of its own with ``--block``, so that every process a node
starts (GCS, raylet, agents, workers) belongs to that session: stopping the cluster kills exactly
those processes by id, never other Ray instances of this machine (``ray stop`` would kill every Ray
process of the user). Every port is a free one chosen here, the temporary directory is private, and
token authentication uses a token file of the cluster's own (``RAY_AUTH_TOKEN_PATH``), so two
clusters at once (xdist workers, or other people's) do not meet.

Ray turns ``127.0.0.1`` into the machine's routable address for a multi-node cluster, so the nodes
bind to the loopback address ``127.0.0.2`` instead (the whole of 127/8 is loopback on Linux): no
port of the cluster is reachable from outside the machine. Nothing here imports pytest.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from _wait import wait_until

from ._servers import BackendUnavailable, free_port

#: The loopback address the nodes bind to (see the module docstring).
HOST = "127.0.0.2"
#: Seconds a node may take to come up (imports, GCS, raylet) on a busy machine.
START_TIMEOUT_S = 120.0
#: How often a node is started before giving up (see _start).
START_ATTEMPTS = 3
#: The niceness of a starting node: the raylet gives its Python agents a fixed 15 s to come up,
#: which a busy machine exceeds; the priority is back to normal once the node runs (needs root or
#: CAP_SYS_NICE; without, nodes start at normal priority).
STARTUP_NICENESS = -10
#: Small on purpose: this is a shared 2-core machine, and the tests move little data.
OBJECT_STORE_BYTES = 100 * 1024 * 1024


def ray_executable() -> Path:
    """The ``ray`` command of this interpreter's environment (the venv), or BackendUnavailable."""
    path = Path(sys.executable).with_name("ray")
    if not path.is_file():
        raise BackendUnavailable("Ray not installed (pip install 'molops[ray]')")
    return path


@dataclass
class RayCluster:
    """A running cluster: ``address`` for ``--ray-address``, ``env`` for its drivers."""

    address: str
    env: dict[str, str]
    dir: Path
    nodes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    #: the alive nodes' ids once both have joined
    node_ids: list[str] = field(default_factory=list)

    @property
    def pgpass(self) -> Path:
        """The nodes' libpq password file (``PGPASSFILE``, empty at first): as on a real cluster,
        the workers hold their own database credentials, and none travel with a task."""
        return Path(self.env["PGPASSFILE"])

    def driver_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """*base* (default: this process's environment) plus what a driver needs to connect."""
        return {**(os.environ if base is None else base), **self.env}

    def alive_nodes(self, wait_for: int = 0) -> list[str]:
        """The ids of the cluster's alive nodes, asked of the cluster by a driver of its own (which
        first waits, up to START_TIMEOUT_S, for *wait_for* of them)."""
        code = (
            "import json, time, ray\n"
            f"ray.init(address={self.address!r}, log_to_driver=False, configure_logging=False)\n"
            f"deadline = time.monotonic() + {START_TIMEOUT_S}\n"
            "def alive(): return sorted(n['NodeID'] for n in ray.nodes() if n['Alive'])\n"
            f"while len(alive()) < {wait_for} and time.monotonic() < deadline: time.sleep(0.2)\n"
            "print(json.dumps(alive()))\n"
            "ray.shutdown()\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=self.driver_env(),
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            check=False,
        )
        assert out.returncode == 0, f"cannot list the cluster's nodes:\n{out.stderr[-3000:]}"
        return list(json.loads(out.stdout.strip().splitlines()[-1]))

    def stop(self) -> None:
        """Kill every process of the cluster's nodes, and delete its folder."""
        _kill_sessions(self.nodes)
        shutil.rmtree(self.dir, ignore_errors=True)


def _session_processes(leaders: list[subprocess.Popen[bytes]], *, zombies: bool = True) -> list[int]:
    """Every process in the sessions that *leaders* (``ray start``s) lead: a node's whole tree."""
    sessions = {leader.pid for leader in leaders}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            # after the name (field 2, which may hold spaces): state, ppid, pgrp, session
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[3]) in sessions and (zombies or stat[0] != "Z"):
                found.append(int(entry.name))
    return found


def _kill_sessions(leaders: list[subprocess.Popen[bytes]]) -> None:
    """Terminate the processes of *leaders*' sessions, then kill what is left after a grace period."""
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 15.0)):
        for pid in _session_processes(leaders):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while True:
            for leader in leaders:
                leader.poll()  # reap our own children; the others are reaped by init
            if not _session_processes(leaders, zombies=False) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if not _session_processes(leaders, zombies=False):
            break
    for leader in leaders:  # dead now: reap them, so that none is left a zombie
        with contextlib.suppress(subprocess.TimeoutExpired):
            leader.wait(timeout=5)


def _ports(*names: str) -> list[str]:
    return [f"--{name}={free_port()}" for name in names]


def _start_node(ray: Path, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        node = subprocess.Popen(
            [str(ray), "start", "--block", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own session: see _session_processes
        )
    # `ray start` imports Ray for seconds before it starts anything, so its children inherit this
    _prioritise(node.pid, STARTUP_NICENESS)
    return node


def _prioritise(pid: int, niceness: int) -> None:
    """Set the niceness of process (or thread) *pid* and, where the kernel groups processes by
    session for scheduling (autogroup), of its session's group: a niceness is relative within it."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, niceness)
    with contextlib.suppress(OSError):
        (Path("/proc") / str(pid) / "autogroup").write_text(f"{niceness}\n")


def _renice(leaders: list[subprocess.Popen[bytes]], niceness: int) -> None:
    """Set the niceness of every thread of *leaders*' sessions (Linux keeps one per thread)."""
    for pid in _session_processes(leaders, zombies=False):
        with contextlib.suppress(OSError):
            for task in (Path("/proc") / str(pid) / "task").iterdir():
                _prioritise(int(task.name), niceness)


def _log_lines(path: Path, count: int = 8) -> str:
    """The last *count* log records of a Ray log (not the stack-trace lines after a crash)."""
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.startswith("[")]
    return "\n".join(lines[-count:])


def _started(node: subprocess.Popen[bytes], log: Path) -> bool:
    """Whether ``ray start --block`` says its node runs (cheap: reads its log file); False if
    it gave up because a part of the node was too slow to start (a busy machine)."""

    def state() -> str | None:
        text = log.read_text(errors="replace")
        if "Ray runtime started" in text:
            return "up"
        if node.poll() is None:
            return None
        if "timed out during startup" in text:
            return "slow"
        raylets = sorted(log.parent.glob("session_latest/logs/raylet*.out"))
        tails = "".join(f"\n--- {p.name}:\n{_log_lines(p)}" for p in raylets)
        raise AssertionError(f"`ray start` exited ({node.returncode}):\n{text[-3000:]}{tails}")

    return wait_until(state, START_TIMEOUT_S, f"`ray start` to start a node ({log.name})", 0.2) == "up"


def _start(cluster: RayCluster, ray: Path, args: list[str], log: Path) -> list[str]:
    """Start a node, again (on fresh ports) when it gave up starting: the raylet waits a fixed
    15 s for its Python agents, which a busy machine can exceed. Returns the arguments used."""
    for attempt in range(1, START_ATTEMPTS + 1):
        node = _start_node(ray, args, cluster.driver_env(), log)
        if _started(node, log):
            _renice([node], 0)
            cluster.nodes.append(node)
            return args
        _kill_sessions([node])
        if attempt == START_ATTEMPTS:
            raise AssertionError(f"`ray start` timed out {attempt} times:\n{log.read_text()[-3000:]}")
        args = _rebind(args)


@contextmanager
def ray_cluster(num_cpus: int = 1) -> Iterator[RayCluster]:
    """A head and a second node, each with *num_cpus* CPUs, on loopback; stopped on exit."""
    ray = ray_executable()
    folder = Path(tempfile.mkdtemp(prefix="molops-ray-"))  # short: Ray's socket paths are limited
    token = folder / "auth_token"
    token.write_text(secrets.token_hex(32))
    pgpass = folder / "pgpass"  # the nodes' database credentials: see RayCluster.pgpass
    pgpass.touch(mode=0o600)
    env = {
        "PGPASSFILE": str(pgpass),
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    cluster = RayCluster(address="", env=env, dir=folder)
    common = [
        f"--node-ip-address={HOST}",
        f"--num-cpus={num_cpus}",
        f"--object-store-memory={OBJECT_STORE_BYTES}",
        "--disable-usage-stats",
        "--log-style=record",
        *_ports("node-manager-port", "object-manager-port", "metrics-export-port", "runtime-env-agent-port"),
        *_ports("dashboard-agent-listen-port", "dashboard-agent-grpc-port"),
    ]
    head = [
        "--head",
        f"--port={free_port()}",
        "--include-dashboard=false",
        f"--temp-dir={folder}",
        *_ports("ray-client-server-port", "dashboard-port"),
    ]
    logs = [folder / "head.log", folder / "node.log"]
    try:
        used = _start(cluster, ray, [*head, *common], logs[0])
        cluster.address = next(f"{HOST}:{a.split('=')[1]}" for a in used if a.startswith("--port="))
        _start(cluster, ray, [f"--address={cluster.address}", *_rebind(common)], logs[1])
        cluster.node_ids = cluster.alive_nodes(wait_for=2)
        yield cluster
    finally:
        cluster.stop()


def _rebind(args: list[str]) -> list[str]:
    """*args* with fresh free ports (the second node shares the host with the first)."""
    out = []
    for arg in args:
        name, _, value = arg.partition("=")
        out.append(f"{name}={free_port()}" if name.endswith("-port") and value.isdigit() else arg)
    return out
