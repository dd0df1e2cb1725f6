"""A slow or failing prediction-log store never stalls serving, and its rows all arrive later.

The store is the workspace's real prediction log with a fault switch on ``append`` (each call
sleeps 2 s, or raises); the service runs on a real socket and the log is read back afterwards.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import numpy as np
import pytest

from molops import Workspace
from molops.config import ServeSection
from molops.data import log_spill
from molops.data.prediction_log import PredictionLog
from molops.serving.server import background, model_refs
from molops.tracking.registry import ModelRegistry
from molops.tracking.store import Tracking

from .conftest import MODEL, Live

pytestmark = pytest.mark.slow

MOLECULES = ["CCO", "c1ccccc1O"]
#: How much the p99 latency of a phase may exceed the healthy phase's.
SLACK_S = 0.100


class FaultyLog(PredictionLog):
    """The real log; ``mode`` "slow" makes each append sleep 2 s first, "down" makes it raise."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self.mode = "ok"
        self.slow_entered = threading.Event()

    def append(self, rows: Any, *, txn: Any = None) -> int:
        if self.mode == "down":
            raise OSError("the prediction-log store is unavailable")
        if self.mode == "slow":
            self.slow_entered.set()
            time.sleep(2.0)  # the injected fault: a store that takes 2 s per commit
        return super().append(rows, txn=txn)


@contextmanager
def _serve(ws: Workspace, log: PredictionLog, **settings: Any) -> Iterator[Live]:
    refs = model_refs(ModelRegistry(Tracking.of(ws).uri), [MODEL], "champion")
    settings = {"poll_s": 0, "port": 0} | settings
    with background(ws, ServeSection(**settings), refs, prediction_log=log) as (url, ctx):
        yield Live(url, ctx, ws)


def _phase(url: str, n: int = 200) -> tuple[float, list[str]]:
    """Send *n* requests one after the other; their p99 latency and request ids. (One at a time: on a
    busy machine a hiccup then delays one request, not a whole queue of them.)"""
    latencies, ids = [], []
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(n):
            started = time.perf_counter()
            response = client.post("/v1/predict", json={"smiles": MOLECULES})
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            ids.append(response.json()["request_id"])
    return float(np.percentile(latencies, 99)), ids


def _until(predicate: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_a_slow_or_failing_log_store_never_stalls_requests_and_loses_nothing(served_ws):
    log = FaultyLog(str(served_ws.prediction_log_uri))
    with _serve(served_ws, log, log_interval_s=0.05, log_max_pending=150) as service:
        _, warm = _phase(service.url, 20)  # first requests pay for imports and caches
        normal_p99, ids = _phase(service.url)
        ids += warm
        _until(lambda: service.metric("molops_prediction_log_rows_total") == 440, "the healthy rows")
        assert service.metric("molops_prediction_log_failures_total") == 0

        log.mode = "slow"
        service.ctx.writer.submit([{"request_id": "probe", "smiles": "C"}])  # starts a slow write
        assert log.slow_entered.wait(10)
        slow_p99, slow_ids = _phase(service.url)

        log.mode = "down"
        _until(lambda: service.metric("molops_prediction_log_failures_total") >= 1, "a failed write")
        down_p99, down_ids = _phase(service.url)
        assert service.metric("molops_prediction_log_failures_total") >= 1
        assert service.metric("molops_prediction_log_spilled_rows_total") > 0  # beyond 150 rows held
        assert service.metric("molops_prediction_log_pending") <= 150 + len(MOLECULES)

        log.mode = "ok"
        expected = Counter({i: len(MOLECULES) for i in ids + slow_ids + down_ids} | {"probe": 1})
        total = sum(expected.values())
        _until(lambda: log.count() == total, f"all {total} rows after recovery")
        _until(lambda: not log_spill.spill_files(log.spill_dir), "the spill files' replay")
        assert Counter(log.read(role=None)["request_id"]) == expected  # every row, each once
        assert service.metric("molops_prediction_log_rows_total") == total
        assert service.metric("molops_prediction_log_pending") == 0
    assert slow_p99 < normal_p99 + SLACK_S, (normal_p99, slow_p99)
    assert down_p99 < normal_p99 + SLACK_S, (normal_p99, down_p99)
