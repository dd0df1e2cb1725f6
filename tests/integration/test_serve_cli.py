"""``molops serve`` as a user runs it: a real process on a loopback port, stopped with SIGTERM.

Every prediction reaches the prediction log by shutdown (one worker, or two both writing into it,
with requests in flight together), the logs on stdout are JSON lines, keys come from the
environment, TLS works with a certificate, and an unauthenticated service refuses a non-loopback
address.
"""

from __future__ import annotations

import itertools
import json
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from _wait import wait_until

from ._cli import MOLOPS, assert_one_line_error, clean_env, molops, read_csv
from .conftest import NAME

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SMILES = ["CCO", "not a smiles", "c1ccccc1O"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    stdout: Path
    stderr: Path

    def stop(self) -> None:
        """SIGTERM, as an orchestrator stops it: a graceful exit (uvicorn re-raises the signal once
        it has shut down, so a single worker ends with -SIGTERM; the multi-worker supervisor with 0)."""
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(90) in (0, -signal.SIGTERM), self.stderr.read_text()

    def log_lines(self) -> list[dict]:
        """The complete lines logged so far (a line being written is left for the next read)."""
        text = self.stdout.read_text()
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def events(self, name: str) -> int:
        return sum(1 for line in self.log_lines() if line.get("event") == name)


def failed_readiness(
    ws: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Start ``molops serve`` on *ws* with *args*, wait until /readyz says the model failed to load
    (503, status ``failed``), stop it and return that answer."""
    port = _free_port()
    stderr = tmp_path / f"serve-{port}.err"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [*MOLOPS, "serve", "-w", str(ws), "--port", str(port), *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=clean_env(**(env or {})),
        )

    def failed() -> dict[str, Any] | None:
        assert proc.poll() is None, stderr.read_text()
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        except httpx.TransportError:
            return None
        body: dict[str, Any] = response.json()
        return body if response.status_code == 503 and body["status"] == "failed" else None

    try:
        answer: dict[str, Any] = wait_until(
            failed, 120, "readyz to say the model failed to load", interval=0.1
        )
        return answer
    finally:
        proc.kill()
        proc.wait(30)


@contextmanager
def serving(ws: Path, tmp_path: Path, *args: str, scheme: str = "http", verify: object = True,
            env: dict[str, str] | None = None) -> Iterator[Server]:  # fmt: skip
    port = _free_port()
    stdout, stderr = tmp_path / f"serve-{port}.out", tmp_path / f"serve-{port}.err"
    with stdout.open("w") as out, stderr.open("w") as err:
        proc = subprocess.Popen(
            [*MOLOPS, "serve", "-w", str(ws), "--port", str(port), *args],
            stdout=out,
            stderr=err,
            env=clean_env(**(env or {})),
            text=True,
        )
    server = Server(proc, f"{scheme}://127.0.0.1:{port}", stdout, stderr)

    def ready() -> bool:
        assert proc.poll() is None, f"molops serve exited {proc.returncode}: {stderr.read_text()}"
        try:
            return httpx.get(server.url + "/readyz", verify=verify, timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    try:
        try:
            wait_until(ready, 120, "molops serve to answer /readyz with 200", interval=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{stderr.read_text()}") from None
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def _predict_at_once(url: str, n: int, callers: int) -> tuple[list[str], list[tuple[float, float]]]:
    """*n* predictions from *callers* threads released together, each request on a new connection
    (so that the kernel may hand it to any worker); their request ids and (start, end) times."""
    barrier = threading.Barrier(callers)
    ids: list[str] = []
    spans: list[tuple[float, float]] = []

    def call(k: int) -> None:
        barrier.wait(30)
        for _ in range(k, n, callers):
            began = time.monotonic()
            response = httpx.post(url + "/v1/predict", json={"smiles": SMILES}, timeout=60)
            spans.append((began, time.monotonic()))
            assert response.status_code == 200, response.text
            ids.append(response.json()["request_id"])

    with ThreadPoolExecutor(callers) as pool:
        list(pool.map(call, range(callers)))  # re-raises a caller's failure
    return ids, spans


def _answered_per_worker(folder: Path) -> list[float]:
    """Predictions answered by each worker process, from its own file in the Prometheus
    multiprocess folder (``/metrics`` only shows their sum)."""
    answered = []
    for path in sorted(folder.glob("counter_*.db")):
        samples = [s for m in MultiProcessCollector.merge([str(path)]) for s in m.samples]
        answered.append(
            sum(
                s.value
                for s in samples
                if s.name == "molops_requests_total" and s.labels["route"] == "/v1/predict"
            )
        )
    return answered


@pytest.mark.parametrize("workers", [1, 2])
def test_every_request_is_logged_after_sigterm(copy, tmp_path, workers):
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)} if workers > 1 else {}
    ids: list[str] = []
    spans: list[tuple[float, float]] = []

    def every_worker_answered() -> bool:
        """Send another round of requests; True once each worker has answered some (the kernel
        hands a connection to whichever worker accepts first, so one round may reach only one)."""
        more_ids, more_spans = _predict_at_once(server.url, 24, callers=6)
        ids.extend(more_ids)
        spans.extend(more_spans)
        return workers == 1 or sum(1 for k in _answered_per_worker(metrics_dir) if k > 0) == workers

    with serving(copy, tmp_path, "--workers", str(workers), env=env) as server:
        # /readyz answered from one worker; the others may still be importing (seconds, when busy)
        wait_until(lambda: server.events("started") == workers, 120, f"{workers} workers to start")
        wait_until(every_worker_answered, 120, "every worker to answer a prediction", interval=0)
        n = len(ids)
        assert len(set(ids)) == n
        # requests really were in flight together: one began before another had been answered
        assert any(a[0] < b[1] and b[0] < a[1] for a, b in itertools.combinations(spans, 2))
        metrics = httpx.get(server.url + "/metrics", timeout=30).text
        assert f'molops_requests_total{{method="POST",route="/v1/predict",status="200"}} {n}.0' in metrics
        server.stop()
    # nothing was lost: one row per molecule, every request id, errors kept
    out = tmp_path / "log.csv"
    exported = molops(
        "predictions", "export", out, "-w", copy, "--model", NAME, "--source", "api", "--json"
    ).json()
    assert exported["rows"] == n * len(SMILES)
    rows = read_csv(out)
    assert {r["request_id"] for r in rows} == set(ids)
    assert sum(1 for r in rows if r["error"]) == n
    assert {r["source"] for r in rows} == {"api"} and {r["model_version"] for r in rows} == {"1"}
    # structured logs: one JSON object per line, an access line per request
    lines = server.log_lines()
    requests = [line for line in lines if line.get("event") == "request" and line["path"] == "/v1/predict"]
    assert {line["request_id"] for line in requests} == set(ids)
    assert all(line["status"] == 200 and line["latency_ms"] > 0 for line in requests)
    # each worker flushed its own share of the rows into the one log (two: both wrote)
    flushed = [line["rows"] for line in lines if line.get("event") == "stopped"]
    assert len(flushed) == workers and all(rows > 0 for rows in flushed), flushed
    assert sum(flushed) == n * len(SMILES)
    summary = molops("predictions", "summary", "-w", copy, "--json").json()
    (group,) = [g for g in summary["groups"] if g["source"] == "api"]
    assert (group["molecules"], group["errors"], group["requests"]) == (n * 3, n, n)
    for role, rows in (("canary", 0), ("all", n * len(SMILES))):
        args = ("predictions", "export", out, "-w", copy, "--source", "api", "--role", role, "--json")
        assert molops(*args).json()["rows"] == rows


def test_api_keys_from_the_environment(copy, tmp_path):
    made = molops("serve-key", "lab-app", "--role", "read", "--json").json()
    keys = f'[{{ name = "lab-app", role = "read", hash = "{made["hash"]}" }}]'
    assert made["config"] in keys
    with serving(copy, tmp_path, env={"MOLOPS_SERVE__KEYS": keys}) as server:
        body = {"smiles": ["CCO"]}
        denied = httpx.post(server.url + "/v1/predict", json=body)
        assert denied.status_code == 401 and "API key" in denied.json()["error"]["message"]
        allowed = httpx.post(server.url + "/v1/predict", json=body, headers={"X-API-Key": made["key"]})
        assert allowed.status_code == 200
        assert "without authentication" not in server.stderr.read_text()
        server.stop()


def test_tls_with_a_certificate(copy, tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert_file, key_file, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    args = ("--ssl-certfile", str(cert_file), "--ssl-keyfile", str(key_file))
    trusted = ssl.create_default_context(cafile=str(ca_file))
    with serving(copy, tmp_path, *args, scheme="https", verify=trusted) as server:
        answer = httpx.post(server.url + "/v1/predict", json={"smiles": ["CCO"]}, verify=trusted)
        assert answer.status_code == 200 and answer.json()["results"][0]["error"] is None
        with pytest.raises(httpx.TransportError):
            httpx.get(server.url.replace("https", "http") + "/healthz")
        assert "https://127.0.0.1" in server.stderr.read_text()
        server.stop()


def test_refuses_to_expose_an_unauthenticated_service(copy):
    res = molops("serve", "-w", copy, "--host", "0.0.0.0", "--port", "1")
    assert_one_line_error(res, "refusing to serve on 0.0.0.0 without API keys", "--insecure", code=2)
    res = molops("serve", "-w", copy, "--model", "nope", "--port", "1")
    assert_one_line_error(res, "no registered model 'nope'", NAME, code=2)
    res = molops(
        "serve", "-w", copy, "--ssl-certfile", "missing.pem", "--ssl-keyfile", "k.pem", "--port", "1"
    )
    assert_one_line_error(res, "missing.pem", code=2)


def test_shadow_and_canary_exclude_each_other(copy):
    res = molops("serve", "-w", copy, "--shadow", "challenger", "--canary", "challenger")
    assert_one_line_error(res, "--shadow and --canary exclude each other", code=2)
    assert_one_line_error(molops("serve", "-w", copy, "--share", "0.5"), "--share is the share", code=2)
    res = molops("serve", "-w", copy, "--canary", "nosuch")  # checked at start, as the first alias is
    assert res.returncode == 2 and "nosuch" in res.stderr and "Traceback" not in res.stderr, res


def test_export_rejects_a_bad_time(copy, tmp_path):
    res = molops("predictions", "export", tmp_path / "x.csv", "-w", copy, "--since", "last week")
    assert_one_line_error(res, "'last week'", "30m")
