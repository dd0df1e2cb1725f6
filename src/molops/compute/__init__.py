"""Executors: run a function over a stream of work units, locally or (later) on Ray."""

from molops.compute.local import LocalExecutor, default_workers

__all__ = ["LocalExecutor", "default_workers"]
