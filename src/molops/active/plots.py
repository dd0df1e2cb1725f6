"""The PNGs of active learning: a simulation's top-k curve and a campaign's progress (matplotlib is
imported only when drawing)."""

from __future__ import annotations

from pathlib import Path

from molops.active.simulate import SimulationResult
from molops.active.status import CampaignStatus


def plot_status(status: CampaignStatus, path: str | Path) -> Path:
    """Progress as a PNG: best value at each iteration, and each batch's measured values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    obj = status.config["objective"]
    its = status.iterations
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
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
    if obj.get("threshold") is not None:
        right.bar([it["iteration"] for it in its], [it["hits"] or 0 for it in its], label="hits", width=0.4)
        left.axhline(obj["threshold"], color="grey", linestyle="--", label="threshold")
        left.legend(loc="best")
    right.set_xlabel("iteration")
    right.set_ylabel("molecules proposed")
    right.legend(loc="best")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(f"campaign {status.campaign}: {obj['target']} ({'max' if obj['maximize'] else 'min'}imise)")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


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
