"""The PNGs of active learning: a simulation's top-k curve and a campaign's progress (matplotlib is
imported only when drawing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from molops.active.simulate import SimulationResult
from molops.active.status import CampaignStatus


def plot_status(status: CampaignStatus, path: str | Path) -> Path:
    """Progress as a PNG: best value at each iteration and each batch's measured values (top row),
    then the diagnostics: hit rate against the random expectation with its interval, the error
    and calibration of the predictions made before the labels, and each batch's diversity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    obj = status.config["objective"]
    its = status.iterations
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    left, right, hits = axes[0]
    x = [it["iteration"] for it in its]
    best = [it["best_measured_before"] for it in its]
    if status.best is not None:
        x, best = [*x, len(its) + 1], [*best, status.best["value"]]
    left.plot(x, best, marker="o")
    left.set_xlabel("iteration (trained on the data before it; last point: now)")
    left.set_ylabel(f"best {obj['target']} so far")
    right.bar([it["iteration"] for it in its], [it["answered"] for it in its], label="answered")
    right.bar(
        [it["iteration"] for it in its],
        [it["open"] for it in its],
        bottom=[it["answered"] for it in its],
        label="open",
        alpha=0.4,
    )
    threshold = status.diagnostics.get("hit_rule", {}).get("threshold")
    if threshold is not None:  # the objective's, or the seed data's best 5% (diagnostics)
        hit_counts = [it["diagnostics"].get("hits") or 0 for it in its]
        right.bar([it["iteration"] for it in its], hit_counts, label="hits", width=0.4)
        left.axhline(threshold, color="grey", linestyle="--", label="hit threshold")
        left.legend(loc="best")
    right.set_xlabel("iteration")
    right.set_ylabel("molecules proposed")
    right.legend(loc="best")
    _hit_rate(hits, status)
    _errors(axes[1][0], its)
    _coverage(axes[1][1], its, status.diagnostics.get("nominal_coverage", {}))
    _diversity(axes[1][2], its)
    for ax in axes.flat:
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"campaign {status.campaign}: {obj['target']} ({'max' if obj['maximize'] else 'min'}imise)")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _series(its: list[dict[str, Any]], key: str, part: str | None = None) -> tuple[list[int], list[float]]:
    """(iterations, values) of a diagnostics field where it has a value."""
    xs, ys = [], []
    for it in its:
        d = it["diagnostics"] if part is None else (it["diagnostics"].get(part) or {})
        if d.get(key) is not None:
            xs.append(it["iteration"])
            ys.append(float(d[key]))
    return xs, ys


def _hit_rate(ax: Any, status: CampaignStatus) -> None:
    its = [it for it in status.iterations if it["diagnostics"].get("hit_rate") is not None]
    rule = status.diagnostics.get("hit_rule", {})
    if its:
        x = [it["iteration"] for it in its]
        rate = [it["diagnostics"]["hit_rate"] for it in its]
        low = [it["diagnostics"]["hit_rate_interval"][0] for it in its]
        high = [it["diagnostics"]["hit_rate_interval"][1] for it in its]
        ax.plot(x, rate, marker="o", label="batch hit rate")
        ax.fill_between(x, low, high, alpha=0.2, label="95% interval")
    if rule.get("expectation") is not None:
        ax.axhline(rule["expectation"], color="grey", linestyle="--", label="random (seed data)")
    ax.set_ylim(0, 1)
    ax.set_xlabel("iteration")
    ax.set_ylabel("hit rate")
    ax.set_title(
        "hits vs random" if rule.get("threshold") is not None else "hits: no threshold, no seed data"
    )
    ax.legend(loc="best")


def _errors(ax: Any, its: list[dict[str, Any]]) -> None:
    for key in ("rmse", "mae"):
        ax.plot(*_series(its, key), marker="o", label=key.upper())
    ax.set_xlabel("iteration")
    ax.set_ylabel("error of the predictions before the labels")
    ax.legend(loc="best")


def _coverage(ax: Any, its: list[dict[str, Any]], nominal: dict[str, float]) -> None:
    for key, label in (("coverage_1sd", "±1σ"), ("coverage_2sd", "±2σ")):
        (line,) = ax.plot(*_series(its, key), marker="o", label=f"inside {label}")
        raw = _series(its, key, "raw")
        if raw[0]:
            ax.plot(*raw, marker="x", linestyle=":", color=line.get_color(), label=f"{label}, raw std")
        if key in nominal:
            ax.axhline(nominal[key], color=line.get_color(), linestyle="--", alpha=0.6)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("iteration")
    ax.set_ylabel("fraction of measured values (dashed: nominal)")
    ax.legend(loc="best")


def _diversity(ax: Any, its: list[dict[str, Any]]) -> None:
    ax.plot(*_series(its, "diversity"), marker="o", label="mean pairwise distance in the batch")
    ax.plot(*_series(its, "nearest_similarity"), marker="s", label="similarity to nearest training molecule")
    ax.set_ylim(0, 1)
    ax.set_xlabel("iteration")
    ax.set_ylabel("Tanimoto (Morgan)")
    ax.legend(loc="best")


def plot_simulation(result: SimulationResult, path: str | Path, title: str) -> Path:
    """A simulation's averaged top-k curve with its spread, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [p.evaluated for p in result.curve]
    mean = [p.top_k_found_mean for p in result.curve]
    sd = [p.top_k_found_sd for p in result.curve]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(x, mean, marker="o", label=result.recipe["model"] + " + " + result.recipe["acquisition"])
    ax.fill_between(
        x,
        [m - s for m, s in zip(mean, sd, strict=True)],
        [m + s for m, s in zip(mean, sd, strict=True)],
        alpha=0.2,
    )
    ax.set_xlabel("molecules evaluated")
    ax.set_ylabel(f"fraction of the top {result.protocol['top_k']} found")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
