"""A local process pool with an ordered, bounded, streaming map.

Only a few work units are in flight at a time, so streaming a file larger than memory through it
keeps memory bounded; results come back in input order.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Protocol, TypeVar

R = TypeVar("R")


class Executor(Protocol):
    """Runs ``fn(*unit)`` for a stream of work units and yields the results in input order."""

    kind: str
    workers: int

    def map(
        self, fn: Callable[..., R], units: Iterable[tuple[Any, ...]], in_flight: int | None = None
    ) -> Iterator[R]: ...


def default_workers(requested: int = 0) -> int:
    """*requested* if positive, else the cores this process may use."""
    if requested > 0:
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class LocalExecutor:
    """Maps a function over work units with *workers* processes (1 = in this process).

    Workers start from a fork server that has already imported *preload* modules, which avoids
    both the cost of re-importing RDKit per worker and the hazards of forking a threaded parent.
    """

    kind = "local"

    def __init__(self, workers: int = 0, preload: tuple[str, ...] = ()) -> None:
        self.workers = default_workers(workers)
        self.preload = preload

    def map(
        self, fn: Callable[..., R], units: Iterable[tuple[Any, ...]], in_flight: int | None = None
    ) -> Iterator[R]:
        """Yield ``fn(*unit)`` for each unit, in order."""
        if self.workers <= 1:
            for unit in units:
                yield fn(*unit)
            return
        ctx = mp.get_context("forkserver")
        if self.preload:
            ctx.set_forkserver_preload(list(self.preload))
        limit = in_flight or 2 * self.workers
        pending: deque[Future[R]] = deque()
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)
        try:
            for unit in units:
                pending.append(pool.submit(fn, *unit))
                if len(pending) >= limit:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
