"""Every metric the Prometheus alert rules and the Grafana dashboard query is one a running
service exports: a renamed or never-fed metric would leave an alert or a panel silently dead."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from .conftest import MODEL

pytestmark = pytest.mark.slow

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
METRIC = re.compile(r"\bmolops_[A-Za-z0-9_]*[A-Za-z0-9]")
#: Valid, invalid and far-from-training molecules (the last ones count as out of domain).
SMILES = ["CCO", "xyz", "c1ccccc1O", "", "CC(=O)Nc1ccc(O)cc1"]
FAR = [
    "CC(C)C[C@@H](C(=O)O)NC(=O)[C@H](Cc1ccccc1)NC(=O)[C@H](CCCCN)NC(=O)[C@@H](N)CO",
    "O=C(O)c1cc(N=Nc2ccc(S(=O)(=O)Nc3ccccn3)cc2)ccc1O",
    "C[Si](C)(C)O[Si](C)(C)O[Si](C)(C)C",
]


def _strings(node: Any, keys: set[str]) -> list[str]:
    """The string values of *keys* anywhere in a parsed YAML or JSON document."""
    if isinstance(node, dict):
        return [
            s
            for key, value in node.items()
            for s in ([value] if key in keys and isinstance(value, str) else _strings(value, keys))
        ]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item, keys)]
    return []


def queried_metrics() -> set[str]:
    """Metric names in the alert rules (and their unit tests' series) and the dashboard's queries."""
    queries = []
    for path in sorted((DEPLOY / "prometheus").glob("*.yml")):
        queries += _strings(yaml.safe_load(path.read_text()), {"expr", "series"})
    queries += _strings(json.loads((DEPLOY / "grafana" / "molops.json").read_text()), {"expr", "query"})
    return {name for query in queries for name in METRIC.findall(query)}


def test_the_queries_are_found():
    names = queried_metrics()
    assert {"molops_prediction_log_failures_total", "molops_prediction_log_rows_total"} <= names
    assert "molops_request_duration_seconds_bucket" in names and len(names) >= 10


def test_every_metric_the_alerts_and_dashboard_query_is_exported(serve):
    with serve(monitor_interval_s=0.2, log_interval_s=0.1) as service, service.client() as c:
        for _ in range(7):
            assert c.post("/v1/predict", json={"smiles": SMILES}).status_code == 200
        assert c.post("/v1/predict", json={"smiles": FAR}).status_code == 200
        assert c.post("/v1/predict", json={"smiles": ["C"] * 5000}).status_code == 413
        deadline = time.monotonic() + 60  # label-bearing gauges appear with the first monitoring run
        while service.metric("molops_monitor_runs_total", model=MODEL, outcome="ok") < 1:
            assert time.monotonic() < deadline, "no monitoring run finished"
            time.sleep(0.1)
        text = httpx.get(service.url + "/metrics").text
    exported = {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}
    missing = sorted(queried_metrics() - exported)
    assert not missing, f"queried by deploy/ but not exported: {missing}"
