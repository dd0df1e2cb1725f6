"""``molops serve`` as a user runs it: a real process on a loopback port, stopped with SIGTERM.

Every prediction reaches the prediction log by shutdown (one worker or two writing at once), the logs
on stdout are JSON lines, keys come from the environment, TLS works with a certificate, and an
unauthenticated service refuses a non-loopback address.
"""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

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
        return [json.loads(line) for line in self.stdout.read_text().splitlines() if line.strip()]


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
    deadline = time.monotonic() + 120
    try:
        while True:
            assert proc.poll() is None, f"molops serve exited {proc.returncode}: {stderr.read_text()}"
            assert time.monotonic() < deadline, stderr.read_text()
            try:
                if httpx.get(server.url + "/readyz", verify=verify, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield server
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


@pytest.mark.parametrize("workers", [1, 2])
def test_every_request_is_logged_after_sigterm(copy, tmp_path, workers):
    n = 24
    with serving(copy, tmp_path, "--workers", str(workers)) as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            ids = []
            for _ in range(n):
                response = client.post("/v1/predict", json={"smiles": SMILES})
                assert response.status_code == 200, response.text
                ids.append(response.json()["request_id"])
            metrics = client.get("/metrics").text
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
    assert sum(1 for line in lines if line.get("event") == "stopped") == workers
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
