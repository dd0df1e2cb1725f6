"""A local process pool with an ordered, bounded, streaming map.

Only a few work units are in flight at a time, so streaming a file larger than memory through it
keeps memory bounded; results come back in input order.
"""

from __future__ import annotations

import io
import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import context, forkserver, popen_forkserver, reduction, spawn, util
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


class _WithoutMainPopen(popen_forkserver.Popen):
    """Starts a fork-server worker that does not run the parent's ``__main__`` script.

    multiprocessing makes every worker it starts run the parent's main script again (as
    ``__mp_main__``), so that functions defined there can be unpickled. For ``molops`` that script
    is the CLI (its whole import tree), for a benchmark or notebook whatever it imports: seconds
    per worker before its first unit, when the work functions all live in molops' own modules.
    This is ``popen_forkserver.Popen._launch`` (CPython 3.11 and 3.12) without the main-module
    entries of the preparation data; everything else a worker needs (sys.path, cwd) still goes.
    """

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            context.set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)  # type: ignore[attr-defined]
        _parent_w = os.dup(w)  # as in CPython: the child's sentinel of its parent
        self.finalizer = util.Finalize(self, util.close_fds, (_parent_w, self.sentinel))  # type: ignore[attr-defined]
        with open(w, "wb", closefd=True) as f:  # noqa: PTH123 - a file descriptor, not a path
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _WithoutMainProcess(context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> _WithoutMainPopen:
        return _WithoutMainPopen(process_obj)


class _WithoutMainContext(context.ForkServerContext):
    """The fork-server context, with workers that skip the parent's main script."""

    Process = _WithoutMainProcess


class LocalExecutor:
    """Maps a function over work units with *workers* processes (1 = in this process).

    Workers start from a fork server that has already imported *preload* modules, which avoids
    both the cost of re-importing RDKit per worker and the hazards of forking a threaded parent.
    Unless *fn* is defined in the main script, workers do not run that script again
    (:class:`_WithoutMainPopen`), so units must not hold objects defined there either.
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
        # a function defined in the main script needs it run in each worker to be found there
        ctx = mp.get_context("forkserver") if _in_main(fn) else _WithoutMainContext()
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


def _in_main(fn: Callable[..., Any]) -> bool:
    return getattr(fn, "__module__", None) in ("__main__", "__mp_main__")
