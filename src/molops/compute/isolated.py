"""Child processes that map a function over items with a time budget per item.

A service must not let one input hold a worker: RDKit cannot be interrupted from Python, and some
structures take seconds to sanitise (kekulising a large fused aromatic system backtracks) or crash
the library outright. Here every item runs in a child process that reports its progress through
shared memory; an item that overruns its budget, or kills its child, costs only that child, which
is replaced while the other items go on. The children also give a service more cores than the GIL
allows: a batch is split across all of them.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing as mp
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar, cast

R = TypeVar("R")
log = logging.getLogger("molops.compute")

#: How long a new child may take to start (the fork server imports RDKit once, the first time).
START_TIMEOUT_S = 120.0
#: A child sends what it has finished at least this often (one message per item costs the parent
#: more than the work of a small item).
SEND_EVERY_S = 0.005


@dataclass(frozen=True)
class ItemFailed:
    """An item that gave no result: ``timeout`` (over its budget) or ``crashed`` (killed its child)."""

    reason: str
    detail: str


def _child_main(conn: Connection, started: Any) -> None:
    """Run ``fn(*args, item)`` for each item of each task. *started* counts the items begun (shared
    memory, read by the parent to find a stuck item); results go back every few milliseconds."""
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        fn, args, items = task
        conn.send([])  # unpickled (the function's module imported): the items' budgets start now
        ready: list[Any] = []
        sent = time.monotonic()
        for i, item in enumerate(items):
            started.value = i + 1
            try:
                ready.append(fn(*args, item))
            except Exception as exc:  # fn should report its own failures; this keeps the child alive
                ready.append(ItemFailed("error", f"{type(exc).__name__}: {exc}"))
            if i == len(items) - 1 or time.monotonic() - sent >= SEND_EVERY_S:
                conn.send(ready)
                ready, sent = [], time.monotonic()


def _import(name: str) -> str:
    importlib.import_module(name)
    return name


class _Child:
    """One child process and its pipe; started, it has imported *preload* (waits for that)."""

    def __init__(self, ctx: Any, preload: Sequence[str]) -> None:
        self.conn, theirs = ctx.Pipe()
        self.started = ctx.Value("q", 0, lock=False)
        self.process = ctx.Process(target=_child_main, args=(theirs, self.started), daemon=True)
        self.process.start()
        theirs.close()
        if preload:  # a fork server started earlier without them would leave the imports to the
            # first item, which would then overrun its budget
            self.conn.send((_import, (), list(preload)))
            imported: list[Any] = []
            while len(imported) < len(preload):
                if not self.conn.poll(START_TIMEOUT_S):
                    self.stop(kill=True)
                    raise RuntimeError(f"a child process did not start within {START_TIMEOUT_S:g} s")
                imported += self.conn.recv()
            failed = [r for r in imported if isinstance(r, ItemFailed)]
            if failed:
                self.stop(kill=True)
                raise RuntimeError(f"a child process could not import its modules: {failed[0].detail}")

    def stop(self, *, kill: bool = False) -> None:
        if not kill:
            with contextlib.suppress(OSError, ValueError):
                self.conn.send(None)
            self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self.conn.close()


@dataclass
class _Task:
    """The items (positions in the batch) one child works on; ``done`` of them have come back,
    the last at ``since``."""

    child: _Child
    positions: list[int]
    done: int
    since: float
    #: the child has unpickled the task (before that, importing the function's module may take
    #: seconds, which is not an item's fault)
    started: bool = False

    def deadline(self, item_timeout_s: float) -> float:
        return self.since + (item_timeout_s if self.started else START_TIMEOUT_S)


class IsolatedPool(Generic[R]):
    """*processes* children, each item with *item_timeout_s*; :meth:`map` splits a batch across them.

    Children start from a fork server that has imported *preload* modules (RDKit, molops), so a
    replacement child starts in milliseconds. One :meth:`map` runs at a time (callers queue).
    """

    def __init__(self, processes: int, item_timeout_s: float, preload: Sequence[str] = ()) -> None:
        if processes < 1:
            raise ValueError(f"an isolated pool needs at least one process, got {processes}")
        self.processes = processes
        self.item_timeout_s = item_timeout_s
        self.preload = list(preload)
        self._ctx = mp.get_context("forkserver")
        if preload:
            self._ctx.set_forkserver_preload(list(preload))
        self._children: list[_Child] = []
        self._lock = threading.Lock()
        self.replaced = 0  # children killed and replaced (timeouts and crashes)

    def start(self) -> None:
        """Start the children now (the first start also starts the fork server: seconds)."""
        with self._lock:
            while len(self._children) < self.processes:
                self._children.append(_Child(self._ctx, self.preload))

    def close(self) -> None:
        with self._lock:
            for child in self._children:
                child.stop()
            self._children.clear()

    def map(self, fn: Callable[..., R], args: tuple[Any, ...], items: Sequence[Any]) -> list[R | ItemFailed]:
        """``fn(*args, item)`` for each item, in order; an item over budget or whose child died
        gives an :class:`ItemFailed` instead, and the other items are unaffected."""
        if not items:
            return []
        self.start()
        with self._lock:
            return self._map(fn, args, list(items))

    def _map(self, fn: Callable[..., R], args: tuple[Any, ...], items: list[Any]) -> list[R | ItemFailed]:
        results: list[Any] = [None] * len(items)
        running: dict[Connection, _Task] = {}

        def launch(child: _Child, positions: list[int]) -> None:
            if positions:
                child.started.value = 0
                child.conn.send((fn, args, [items[i] for i in positions]))
                running[child.conn] = _Task(child, positions, 0, time.monotonic())

        per = -(-len(items) // len(self._children))
        for child, start in zip(self._children, range(0, len(items), per), strict=False):
            launch(child, list(range(start, min(start + per, len(items)))))
        while running:
            deadline = min(task.deadline(self.item_timeout_s) for task in running.values())
            for ready in wait(list(running), timeout=max(deadline - time.monotonic(), 0.001)):
                conn = cast(Connection, ready)  # wait() returns some of the objects it was given
                task = running.pop(conn)
                try:
                    for value in conn.recv():
                        results[task.positions[task.done]] = value
                        task.done += 1
                except (EOFError, OSError):  # the child died on the item it was working on
                    self._retry(
                        task, results, ItemFailed("crashed", "the process working on it died"), launch
                    )
                    continue
                task.since, task.started = time.monotonic(), True
                if task.done < len(task.positions):
                    running[conn] = task
            now = time.monotonic()
            for conn, task in list(running.items()):
                if now > task.deadline(self.item_timeout_s) and not conn.poll():
                    del running[conn]
                    budget = f"{self.item_timeout_s * 1000:g} ms"
                    failed = ItemFailed("timeout", f"it took longer than its budget of {budget}")
                    self._retry(task, results, failed, launch)
        return results

    def _retry(
        self, task: _Task, results: list[Any], failed: ItemFailed, launch: Callable[[_Child, list[int]], None]
    ) -> None:
        """Record *failed* for the item *task*'s child is stuck on, replace the child and give the
        new one the task's other unfinished items (finished ones not yet sent back included)."""
        stuck = max(int(task.child.started.value), task.done + 1) - 1
        results[task.positions[stuck]] = failed
        log.warning("isolated item failed", extra={"event": "item_" + failed.reason})
        child = self._replace(task.child, failed.reason)
        launch(child, task.positions[task.done : stuck] + task.positions[stuck + 1 :])

    def _replace(self, child: _Child, reason: str) -> _Child:
        """Kill *child* (stopped mid-item) and put a fresh one in its place."""
        child.stop(kill=True)
        fresh = _Child(self._ctx, self.preload)
        self._children[self._children.index(child)] = fresh
        self.replaced += 1
        log.warning("isolated child replaced", extra={"event": "child_replaced", "reason": reason})
        return fresh
