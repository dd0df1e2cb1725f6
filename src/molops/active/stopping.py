"""When a campaign has done its job: stopping rules beyond the budget.

A budget says how much may be spent; a stopping rule says when spending more is no longer worth it:
enough hits found, or the best measured value has stopped improving for several measured batches.
Rules are judged on what has been measured, so a campaign whose proposals are still open never
stops on them.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, Field


class StoppingRules(BaseModel):
    """Stop proposing once the campaign's proposals found *hits* hits (needs a hit threshold), or
    once *patience* measured batches in a row improved the best value by less than *min_improvement*."""

    hits: int | None = Field(None, ge=1)
    patience: int | None = Field(None, ge=1)
    min_improvement: float = Field(0.0, ge=0)

    @property
    def active(self) -> bool:
        return self.hits is not None or self.patience is not None


class Stop(NamedTuple):
    """Which rule stopped a campaign (``budget`` included) and why, in a sentence."""

    rule: Literal["hits", "patience", "budget"]
    reason: str


def stop_reason(
    rules: StoppingRules, maximize: bool, iterations: list[dict[str, Any]], campaign_hits: int | None
) -> str | None:
    """Why the campaign should stop, or None (see :func:`judge`)."""
    stop = judge(rules, maximize, iterations, campaign_hits)
    return None if stop is None else stop.reason


def judge(
    rules: StoppingRules, maximize: bool, iterations: list[dict[str, Any]], campaign_hits: int | None
) -> Stop | None:
    """The rule the campaign met, or None. *iterations* are ``campaign status``'s (each with
    ``best_measured_before``, ``answered`` and ``best_in_batch``); *campaign_hits* its hit count."""
    if rules.hits is not None and campaign_hits is not None and campaign_hits >= rules.hits:
        return Stop(
            "hits", f"its proposals found {campaign_hits} hits, the {rules.hits} its stopping rule asks for"
        )
    if rules.patience is None:
        return None
    measured = [it for it in iterations if it["answered"] and it["best_in_batch"] is not None]
    if len(measured) < rules.patience:
        return None
    best = iterations[0]["best_measured_before"]
    since = 0  # measured batches in a row that did not improve the best by min_improvement
    for it in measured:
        value = it["best_in_batch"]
        gain = None if best is None else (value - best if maximize else best - value)
        # small gains do not move the best, so that several of them add up to an improvement
        if gain is None or (gain > 0 and gain >= rules.min_improvement):
            best, since = value, 0
        else:
            since += 1
    if since >= rules.patience:
        improvement = f" by at least {rules.min_improvement:g}" if rules.min_improvement else ""
        return Stop(
            "patience",
            f"its last {since} measured batches did not improve the best value ({best:g}){improvement}, "
            f"the patience of its stopping rule",
        )
    return None
