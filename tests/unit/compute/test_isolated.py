"""Isolated children: results in order, and an item over budget or one that kills its child costs
only itself: the child is replaced and every other item is answered."""

from __future__ import annotations

import os
import threading
import time

import pytest

from molops.compute.isolated import IsolatedPool, ItemFailed


def work(scale: int, item: str) -> str | int:
    """The test's item function: 'sleep' overruns any budget, 'die' kills its process, 'raise'
    raises; anything else is answered at once."""
    if item == "sleep":
        time.sleep(30)
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
    assert time.monotonic() - started < 10  # not the 30 s the item wanted
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


def test_concurrent_callers_each_get_their_own_results(pool):
    got: dict[int, list] = {}

    def call(k: int) -> None:
        got[k] = pool.map(work, (k,), ["a", "bc"] * 20)

    threads = [threading.Thread(target=call, args=(k,)) for k in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {k: ["a" * k, "bc" * k] * 20 for k in range(1, 5)}


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
