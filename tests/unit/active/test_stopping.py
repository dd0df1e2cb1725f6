"""Stopping rules judge what has been measured: hits found, or the best value no longer improving."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from molops.active.stopping import StoppingRules, stop_reason


def _its(before: float | None, *batches: float | None) -> list[dict]:
    """Status iterations: the best before the first, then each batch's best (None: not measured yet)."""
    return [
        {"best_measured_before": None if i else before, "answered": int(b is not None), "best_in_batch": b}
        for i, b in enumerate(batches)
    ]


def test_no_rules_never_stop():
    assert not StoppingRules().active
    assert stop_reason(StoppingRules(), False, _its(-5, -4, -4, -4), 10) is None


def test_enough_hits_stop():
    rules = StoppingRules(hits=3)
    assert stop_reason(rules, True, _its(1, 2), 2) is None
    assert "found 3 hits" in stop_reason(rules, True, _its(1, 2), 3)
    assert stop_reason(rules, True, _its(1, 2), None) is None  # no threshold: no hits counted


def test_patience_counts_measured_batches_without_improvement():
    rules = StoppingRules(patience=2)
    assert stop_reason(rules, False, _its(-5, -4), 0) is None  # one batch is not two
    reason = stop_reason(rules, False, _its(-5, -4, -4.5), 0)
    assert "last 2 measured batches did not improve the best value (-5)" in reason
    assert stop_reason(rules, False, _its(-5, -4, -6), 0) is None  # the last one improved
    assert stop_reason(rules, False, _its(-5, -6, -5.5), 0) is None  # one without since the best
    assert stop_reason(rules, False, _its(-5, -4, None, -4.5), 0) is not None  # open batches skipped
    assert stop_reason(rules, True, _its(5, 4, 4.5), 0) is not None  # maximise: lower is no gain
    assert stop_reason(rules, False, _its(-5, -5, -5), 0) is not None  # a tie is no improvement


def test_a_gain_below_min_improvement_is_none_but_gains_add_up():
    rules = StoppingRules(patience=2, min_improvement=0.5)
    assert "by at least 0.5" in stop_reason(rules, False, _its(-5, -5.2, -5.4), 0)
    assert stop_reason(rules, False, _its(-5, -5.3, -5.6), 0) is None  # -5.6 is 0.6 past -5


@given(
    before=st.floats(-10, 10),
    batches=st.lists(st.floats(-10, 10), min_size=1, max_size=8),
    patience=st.integers(1, 4),
    maximize=st.booleans(),
)
def test_a_new_best_never_stops_on_patience(before, batches, patience, maximize):
    best = max([before, *batches]) if maximize else min([before, *batches])
    record = best + 1 if maximize else best - 1
    rules = StoppingRules(patience=patience)
    assert stop_reason(rules, maximize, _its(before, *batches, record), None) is None
