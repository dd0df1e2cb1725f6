"""Evaluation plots written as PNG files: parity (predicted vs observed), calibration, recalibration.

Figures are built with matplotlib's object-oriented API on an Agg canvas, never through pyplot:
nothing is registered in pyplot's global figure list, so nothing needs closing, no backend is
switched for the host program, and plotting works on headless workers and servers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from molops._types import StrPath
from molops.models.calibration import Calibrator, curve, scores
from molops.models.metrics import calibration_curve, regression_metrics, uncertainty_metrics

#: Above this many points the parity plot colours by std but draws no error bars (they would hide the data).
MAX_ERROR_BARS = 500
_DPI = 120


def _save(fig: Figure, path: StrPath) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)  # attach an Agg canvas: rendering needs no GUI and no pyplot state
    fig.savefig(out, format="png", dpi=_DPI)
    fig.clear()
    return out


def parity_plot(
    y: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray | None,
    path: StrPath,
    title: str = "parity",
    label: str = "value",
) -> Path:
    """Predicted mean against observed y, coloured by predicted std, with the y = x diagonal.

    RMSE, MAE, R² and Spearman are shown in the legend so a saved plot speaks for itself.
    """
    m = regression_metrics(y, mean)
    y, mean = np.asarray(y, dtype=float).ravel(), np.asarray(mean, dtype=float).ravel()
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.add_subplot()
    stats = (
        f"RMSE {m['rmse']:.3g}  MAE {m['mae']:.3g}\nR² {m['r2']:.3f}  Spearman {m['spearman']:.3f}"
        f"\nn = {len(y)}"
    )
    if std is not None:
        uncertainty_metrics(y, mean, std)  # the same input checks as the metrics, for std too
        std = np.asarray(std, dtype=float).ravel()
        if len(y) <= MAX_ERROR_BARS:
            ax.errorbar(y, mean, yerr=std, fmt="none", ecolor="0.6", elinewidth=0.8, alpha=0.6, zorder=1)
        points = ax.scatter(y, mean, c=std, cmap="viridis", s=18, edgecolors="none", zorder=2, label=stats)
        fig.colorbar(points, ax=ax, label="predicted std")
    else:
        ax.scatter(y, mean, s=18, color="tab:blue", edgecolors="none", zorder=2, label=stats)
    if len(y):
        lo, hi = float(min(y.min(), mean.min())), float(max(y.max(), mean.max()))
        pad = 0.05 * (hi - lo or 1.0)
        lo, hi = lo - pad, hi + pad
        ax.plot([lo, hi], [lo, hi], color="black", linestyle="--", linewidth=1, zorder=3, label="y = x")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel(f"observed {label}")
    ax.set_ylabel(f"predicted {label}")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small", handlelength=1)
    return _save(fig, path)


def calibration_plot(
    y: np.ndarray, mean: np.ndarray, std: np.ndarray, path: StrPath, title: str = "calibration"
) -> Path:
    """Observed vs expected fraction inside central prediction intervals, with the shaded gap.

    Below the diagonal the model is over-confident (intervals too narrow), above it under-confident;
    the shaded area is the miscalibration area reported by :func:`~molops.models.metrics.uncertainty_metrics`.
    """
    u = uncertainty_metrics(y, mean, std)
    expected, observed = calibration_curve(y, mean, std)
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="black", linestyle="--", linewidth=1, label="ideal")
    ax.fill_between(
        expected,
        expected,
        observed,
        color="tab:red",
        alpha=0.25,
        label=f"miscalibration area {u['miscalibration_area']:.3f}",
    )
    ax.plot(expected, observed, color="tab:blue", linewidth=2, label="observed")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("expected fraction in interval (confidence level)")
    ax.set_ylabel("observed fraction in interval")
    ax.set_title(title)
    ax.legend(
        loc="upper left",
        fontsize="small",
        title=f"NLL {u['nll']:.3g}   Spearman |err|~std {u['spearman_abs_error_std']:.3f}",
        title_fontsize="small",
    )
    return _save(fig, path)


def recalibration_plot(
    y: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    calibrator: Calibrator,
    path: StrPath,
    title: str = "recalibration",
) -> Path:
    """Observed vs expected proportion inside central intervals, before and after *calibrator*
    (*std* is the model's own), so one picture shows what the recalibration bought."""
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="black", linestyle="--", linewidth=1, label="ideal")
    for label, cal, colour in (
        ("before", None, "tab:red"),
        (f"after ({calibrator.method})", calibrator, "tab:blue"),
    ):
        expected, observed = curve(y, mean, std, cal)
        area = scores(y, mean, std, cal)["miscalibration_area"]
        ax.plot(expected, observed, color=colour, linewidth=2, label=f"{label}: area {area:.3f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("expected proportion in interval (confidence level)")
    ax.set_ylabel("observed proportion in interval")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize="small", title=f"n = {len(np.asarray(y))}", title_fontsize="small")
    return _save(fig, path)
