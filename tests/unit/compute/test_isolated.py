"""Isolated children: results in order, and an item over budget or one that kills its child costs
only itself: the child is replaced and every other item is answered."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from _wait import wait_until
from molops.compute.isolated import IsolatedPool, ItemFailed


def work(scale: int, item: str) -> str | int:
    """The test's item function: 'sleep' overruns any budget, 'die' kills its process, 'raise'
    raises, 'gate:PATH' waits until the file PATH exists; anything else is answered at once."""
    if item.startswith("gate:"):
        while not Path(item[5:]).exists():  # the item's budget is this poll's deadline
            time.sleep(0.005)
    if item == "sleep":
        time.sleep(3600)
    if item == "die":
        os._exit(3)
    if item == "raise":
        raise ValueError("no such thing")
    return item * scale


@pytest.fixture
def pool():
    pool = IsolatedPool(2, item_timeout_s=2.0)
    yield pool
    pool.close()


def test_results_come_back_in_order_split_across_children(pool):
    items = [f"m{i}" for i in range(101)]
    assert pool.map(work, (2,), items) == [s * 2 for s in items]
    assert pool.map(work, (1,), []) == []
    assert pool.replaced == 0


def test_an_item_over_budget_is_stopped_and_the_rest_answered(pool):
    started = time.monotonic()
    out = pool.map(work, (1,), ["a", "b", "sleep", "c", "d", "e"])
    # not the hour the item wanted (the rest is starting children and importing this module in
    # them, seconds on a busy machine)
    assert time.monotonic() - started < 120
    assert out[:2] == ["a", "b"] and out[3:] == ["c", "d", "e"]
    assert isinstance(out[2], ItemFailed) and out[2].reason == "timeout"
    assert "2000 ms" in out[2].detail
    assert pool.replaced == 1
    assert pool.map(work, (1,), ["x", "y"]) == ["x", "y"]  # the replacement works


def test_an_item_that_kills_its_child_fails_alone(pool):
    out = pool.map(work, (1,), ["a", "die", "b", "c", "die", "d"])
    assert [o for o in out if not isinstance(o, ItemFailed)] == ["a", "b", "c", "d"]
    assert [o.reason for o in out if isinstance(o, ItemFailed)] == ["crashed", "crashed"]
    assert pool.replaced == 2


def test_an_exception_is_the_item_error_and_the_child_lives(pool):
    out = pool.map(work, (1,), ["a", "raise", "b"])
    assert out[0] == "a" and out[2] == "b"
    assert out[1] == ItemFailed("error", "ValueError: no such thing")
    assert pool.replaced == 0


def test_concurrent_callers_each_get_their_own_results(tmp_path):
    """Four threads call map at once (one map runs at a time, the others queue). Each batch starts
    with an item that waits for a gate file, opened only once all four have called, so no call can
    end before the last one has begun: the four are provably in flight together."""
    gate = tmp_path / "gate"
    items = [f"gate:{gate}", *["a", "bc"] * 20]
    got: dict[int, list] = {}
    began: dict[int, float] = {}
    ended: dict[int, float] = {}
    pool = IsolatedPool(2, item_timeout_s=60.0)

    def call(k: int) -> None:
        began[k] = time.monotonic()
        got[k] = pool.map(work, (k,), items)
        ended[k] = time.monotonic()

    threads = [threading.Thread(target=call, args=(k,)) for k in range(1, 5)]
    try:
        for t in threads:
            t.start()
        wait_until(lambda: len(began) == 4, 30, "all four threads to call map")
        assert ended == {}  # the gate holds the first batch, and the others wait for it
        gate.touch()
        for t in threads:
            t.join(60)
    finally:
        gate.touch()
        pool.close()
    assert max(began.values()) < min(ended.values())  # the four calls overlapped
    assert got == {k: [f"gate:{gate}" * k, *["a" * k, "bc" * k] * 20] for k in range(1, 5)}


def test_close_stops_the_children():
    pool = IsolatedPool(2, item_timeout_s=1.0)
    pool.start()
    processes = [child.process for child in pool._children]
    assert all(p.is_alive() for p in processes)
    pool.close()
    assert not any(p.is_alive() for p in processes)


def test_a_pool_needs_a_process():
    with pytest.raises(ValueError, match="at least one process"):
        IsolatedPool(0, 1.0)
