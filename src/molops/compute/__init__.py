"""Executors: run a function over a stream of work units, locally or on Ray."""

from __future__ import annotations

from molops.compute.local import Executor, LocalExecutor, default_workers
from molops.errors import UsageError

EXECUTORS = ("local", "ray")


def get_executor(
    kind: str = "local", workers: int = 0, address: str | None = None, preload: tuple[str, ...] = ()
) -> Executor:
    """A local process pool (default) or a Ray executor."""
    if kind == "local":
        return LocalExecutor(workers, preload=preload)
    if kind == "ray":
        from molops.compute.ray import RayExecutor

        return RayExecutor(workers, address)
    raise UsageError(f"unknown executor {kind!r}; expected one of: {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "default_workers", "get_executor"]
