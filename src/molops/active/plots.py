"""The PNGs of active learning: a campaign's progress (matplotlib is imported only when drawing)."""

from __future__ import annotations

from pathlib import Path

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
