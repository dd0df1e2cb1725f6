"""Waiting for something to happen in a test: a poll with a deadline, never a fixed sleep.

A fixed sleep either waits too long (slow tests) or not long enough (flaky ones, on a busy CI
machine); a poll returns as soon as the condition holds and fails with a message naming what
never happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.01) -> T:
    """Call *predicate* until it returns something truthy, and return that.

    Fails with ``AssertionError`` naming *what* if *timeout* seconds pass first; an exception
    raised by *predicate* propagates at once (it is a broken check, not a slow one).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(interval)
