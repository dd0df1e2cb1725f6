"""The HTML monitoring report: the verdict table and the plots behind it, in one self-contained file.

Plots (matplotlib on an Agg canvas, embedded as PNG data URIs, so the file can be mailed):
descriptor distributions of the window against the training set, nearest-neighbour similarity,
drift over time (median similarity and out-of-domain share per time bucket), predicted means
against the previous window, and live error over time once labels arrive.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from molops._types import StrPath
from molops.models.reference import DESCRIPTORS
from molops.monitoring.monitor import Evidence, MonitorReport

COLOURS = {"ok": "#2e7d32", "insufficient_data": "#757575", "warn": "#ef6c00", "alert": "#c62828"}
TRAIN, LIVE = "#90a4ae", "#1565c0"


def _png(fig: Figure) -> str:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _hist(ax: Axes, reference: np.ndarray, current: np.ndarray, title: str) -> None:
    reference, current = reference[np.isfinite(reference)], current[np.isfinite(current)]
    both = np.concatenate([reference, current])
    bins = np.histogram_bin_edges(both, bins=20).tolist() if len(both) else 10
    if len(reference):  # a density of nothing divides by zero (numpy warns): draw only what there is
        ax.hist(reference, bins=bins, density=True, alpha=0.6, color=TRAIN, label="training")
    if len(current):
        ax.hist(current, bins=bins, density=True, alpha=0.6, color=LIVE, label="window")
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)


def descriptor_figure(evidence: Evidence) -> str:
    fig = Figure(figsize=(12, 4.6))
    ref = evidence.bundle.reference
    for j, name in enumerate(DESCRIPTORS):
        ax = fig.add_subplot(2, 5, j + 1)
        _hist(ax, ref.descriptors[:, j].astype(float), evidence.window.descriptors[:, j].astype(float), name)
    fig.axes[0].legend(fontsize=7)
    return _png(fig)


def similarity_figure(evidence: Evidence) -> str:
    fig = Figure(figsize=(6, 3.4))
    ax = fig.add_subplot()
    ref = evidence.bundle.reference
    _hist(ax, ref.neighbour_similarity, evidence.window.molecules["similarity"].to_numpy(float),
          "similarity to the nearest training molecule")  # fmt: skip
    ax.axvline(ref.domain_threshold, color="black", linestyle="--", linewidth=1, label="domain threshold")
    ax.legend(fontsize=7)
    return _png(fig)


def over_time_figure(evidence: Evidence) -> str:
    rows = evidence.rows[evidence.rows["error"].isna()]
    fig = Figure(figsize=(7, 3.4))
    ax = fig.add_subplot()
    if len(rows) >= 2:
        buckets = pd.cut(rows["time"].astype("int64"), bins=min(12, max(2, len(rows) // 20)))
        grouped = rows.groupby(buckets, observed=True)
        times = grouped["time"].median()
        ax.plot(times, grouped["similarity"].median(), marker="o", color=LIVE, label="median similarity")
        ax.plot(
            times, 1 - grouped["in_domain"].mean(), marker="s", color="#c62828", label="out-of-domain share"
        )
        ax.axhline(np.median(evidence.bundle.reference.neighbour_similarity), color=TRAIN, linestyle="--",
                   label="training median similarity")  # fmt: skip
        ax.legend(fontsize=7)
        fig.autofmt_xdate()
    ax.set_title("drift over time", fontsize=9)
    return _png(fig)


def predictions_figure(evidence: Evidence) -> str:
    fig = Figure(figsize=(6, 3.4))
    ax = fig.add_subplot()
    baseline = evidence.baseline.molecules["mean"].to_numpy(float) if evidence.baseline else np.array([])
    _hist(ax, baseline, evidence.window.molecules["mean"].to_numpy(float), "predicted mean")
    ax.legend(["previous window", "window"], fontsize=7)
    return _png(fig)


def live_error_figure(evidence: Evidence, test_rmse: float | None) -> str | None:
    joined = evidence.joined.sort_values("time")
    if joined.empty:
        return None
    fig = Figure(figsize=(7, 3.4))
    ax = fig.add_subplot()
    error = (joined["label"] - joined["mean"]).abs()
    ax.scatter(joined["time"], error, s=8, color=LIVE, alpha=0.6, label="|label − prediction|")
    rolling = (error**2).rolling(max(5, len(error) // 10), min_periods=1).mean() ** 0.5
    ax.plot(joined["time"], rolling, color="#c62828", label="rolling RMSE")
    if test_rmse:
        ax.axhline(test_rmse, color="black", linestyle="--", linewidth=1, label="held-out test RMSE")
    ax.legend(fontsize=7)
    ax.set_title("live error over time (labels joined by InChIKey)", fontsize=9)
    fig.autofmt_xdate()
    return _png(fig)


def write_report(report: MonitorReport, evidence: Evidence, path: StrPath) -> Path:
    """Write the report to *path* (HTML) and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(
        f"<tr><td>{html.escape(c['name'])}</td>"
        f"<td style='color:{COLOURS[c['verdict']]};font-weight:bold'>{c['verdict']}</td>"
        f"<td>{'' if c['statistic'] is None else c['statistic']}</td>"
        f"<td>{'' if c['threshold'] is None else c['threshold']}</td>"
        f"<td>{html.escape(c['detail'])}</td></tr>"
        for c in report.checks
    )
    test_rmse = next(
        (c["figures"].get("test_rmse") for c in report.checks if c["name"] == "live_performance"), None
    )
    figures = [
        ("Descriptors: window against training set", descriptor_figure(evidence)),
        ("Similarity to the training set", similarity_figure(evidence)),
        ("Drift over time", over_time_figure(evidence)),
        ("Predictions against the previous window", predictions_figure(evidence)),
        ("Live error", live_error_figure(evidence, test_rmse)),
    ]
    images = "".join(
        f"<h2>{title}</h2><img alt='{html.escape(title)}' src='{src}'>"
        for title, src in figures
        if src is not None
    )
    w = report.window
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>molops monitor: {html.escape(report.model)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;font-size:14px;text-align:left}}
img{{max-width:100%}}</style></head><body>
<h1>{html.escape(report.model)} v{report.version}:
<span style="color:{COLOURS[report.verdict]}">{report.verdict}</span></h1>
<p>Window {w["from"]} → {w["to"]}: {w["n"]} predictions, {w["molecules"]} distinct molecules,
{w["labels"]} labelled since.</p>
<table><tr><th>check</th><th>verdict</th><th>statistic</th><th>threshold</th><th>detail</th></tr>{rows}</table>
{images}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path
