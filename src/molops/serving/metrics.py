"""Prometheus metrics of the service, on a registry of its own (one per app)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from molops.data.log_writer import WriterHooks
from molops.models.transforms import TargetTransform
from molops.serving.batching import Columns

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
#: Predictions are recorded in units of the model's training distribution (z-scores), so one set of
#: buckets fits every target and a shift away from the training range shows at once.
Z_BUCKETS = (-4.0, -3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
#: The monitoring verdicts as gauge values (the order of ``monitoring.checks.ORDER``).
VERDICT_CODES = {"ok": 0, "insufficient_data": 1, "warn": 2, "alert": 3}
STD_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "molops_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.errors = Counter(
            "molops_request_errors",
            "Requests answered with an error, by route and code.",
            ["route", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "molops_request_duration_seconds",
            "Request latency by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "molops_requests_in_flight", "Requests being answered.", registry=r, multiprocess_mode="livesum"
        )
        self.molecules = Counter(
            "molops_molecules",
            "Molecules answered, by model, version and outcome (ok, invalid, timeout or crashed).",
            ["model", "version", "outcome"],
            registry=r,
        )
        self.out_of_domain = Counter(
            "molops_out_of_domain",
            "Predicted molecules outside the model's applicability domain.",
            ["model"],
            registry=r,
        )
        self.batch_size = Histogram(
            "molops_batch_size",
            "Molecules per model call (after micro-batching).",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "molops_batch_duration_seconds",
            "Seconds per model call.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_info = Gauge(
            "molops_model_info",
            "1 for the model version each served alias answers with.",
            ["model", "alias", "version", "role"],
            registry=r,
            multiprocess_mode="max",
        )
        self.swaps = Counter("molops_model_swaps", "Hot swaps to a new model version.", ["model"], registry=r)
        self.mean_z = Histogram(
            "molops_prediction_mean_zscore",
            "Predicted means in standard deviations of the training targets.",
            ["model"],
            buckets=Z_BUCKETS,
            registry=r,
        )
        self.std_z = Histogram(
            "molops_prediction_std_relative",
            "Predicted std in standard deviations of the training targets.",
            ["model"],
            buckets=STD_BUCKETS,
            registry=r,
        )
        self.monitor_verdict = Gauge(
            "molops_monitor_verdict",
            "Latest verdict of each monitoring check: 0 ok, 1 insufficient data, 2 warn, 3 alert.",
            ["model", "check"],
            registry=r,
            multiprocess_mode="mostrecent",  # workers take turns (app.turns): the newest run
        )
        self.monitor_statistic = Gauge(
            "molops_monitor_statistic",
            "Latest statistic of each monitoring check (see its threshold).",
            ["model", "check"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.monitor_threshold = Gauge(
            "molops_monitor_threshold",
            "The alert threshold each monitoring check's statistic is held to.",
            ["model", "check"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.monitor_runs = Counter(
            "molops_monitor_runs",
            "Monitoring runs by outcome (ok or failed).",
            ["model", "outcome"],
            registry=r,
        )
        self.log_rows = Counter(
            "molops_prediction_log_rows", "Rows written to the prediction log.", registry=r
        )
        self.log_pending = Gauge(
            "molops_prediction_log_pending",
            "Rows waiting to be written.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.log_failures = Counter(
            "molops_prediction_log_failures", "Failed prediction-log writes (retried).", registry=r
        )
        self.log_spilled = Counter(
            "molops_prediction_log_spilled_rows",
            "Rows moved to local spill files (beyond log_max_pending, or unwritable at shutdown).",
            registry=r,
        )

    def log_hooks(self) -> WriterHooks:
        """The prediction-log writer's reports, as these metrics (the data layer knows no Prometheus)."""
        return WriterHooks(
            written=self.log_rows.inc,
            failed=self.log_failures.inc,
            spilled=self.log_spilled.inc,
            pending=self.log_pending.set,
        )

    def observe_monitor(self, model: str, checks: list[dict[str, Any]]) -> None:
        """Export the checks of one ``molops monitor`` report as gauges."""
        for check in checks:
            self.monitor_verdict.labels(model, check["name"]).set(VERDICT_CODES[check["verdict"]])
            stat, threshold = check["statistic"], check["threshold"]
            self.monitor_statistic.labels(model, check["name"]).set(float("nan") if stat is None else stat)
            self.monitor_threshold.labels(model, check["name"]).set(
                float("nan") if threshold is None else threshold
            )
        self.monitor_runs.labels(model, "ok").inc()

    def exposition(self) -> bytes:
        """The text format; with several workers (``PROMETHEUS_MULTIPROC_DIR``) summed over all."""
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)

    def observe_predictions(
        self, model: str, version: int, columns: Columns, transform: TargetTransform
    ) -> None:
        ok = [e is None for e in columns["error"]]
        n_ok = sum(ok)
        self.molecules.labels(model, str(version), "ok").inc(n_ok)
        for error in columns["error"]:
            if error is not None:  # a molecule stopped in its child process says so first
                outcome = error.partition(":")[0]
                outcome = outcome if outcome in ("timeout", "crashed") else "invalid"
                self.molecules.labels(model, str(version), outcome).inc()
        if not n_ok:
            return
        mean = np.asarray(columns["mean"], dtype=float)[ok]
        std = np.asarray(columns["std"], dtype=float)[ok]
        with np.errstate(all="ignore"):  # a log transform of a non-positive mean → NaN, skipped
            z = transform.transform(mean)
            log_kind = transform.kind in ("log", "log-standardize")
            relative = (std / mean if log_kind else std) / transform.scale
        hist_m, hist_s = self.mean_z.labels(model), self.std_z.labels(model)
        for value in z[np.isfinite(z)]:
            hist_m.observe(float(value))
        for value in relative[np.isfinite(relative)]:
            hist_s.observe(float(value))
        outside = sum(
            1 for flag, good in zip(columns["in_domain"], ok, strict=True) if good and flag is False
        )
        if outside:
            self.out_of_domain.labels(model).inc(outside)
